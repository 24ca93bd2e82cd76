"""XLA's temp memory (compile-only ``memory_analysis``) of the differentiated programs of
the records here, before and after, as ``ab.py`` compiles them:

    PYTHONPATH=../../../src python memory.py ab-*.jsonl
"""

import functools
import importlib.util
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv

_spec = importlib.util.spec_from_file_location("ab", pathlib.Path(__file__).parent / "ab.py")
ab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ab)
SPATIAL = {1: "W", 2: "HW", 3: "DHW"}

ratios = []
for path in sys.argv[1:]:
    with open(path) as f:
        for row in f:
            r = json.loads(row)
            nd, k, g = r["nd"], r["k"], r["G"]
            sp = SPATIAL[nd]
            first = r["channels_first"]
            dn = (f"NC{sp}", f"OI{sp}", f"NC{sp}") if first else (f"N{sp}C", f"{sp}IO", f"N{sp}C")
            xs = (r["N"], r["C"], *r["m"]) if first else (r["N"], *r["m"], r["C"])
            ws = (r["O"], r["C"] // g, *(k,) * nd) if first else (*(k,) * nd, r["C"] // g, r["O"])
            conv = functools.partial(
                jaxconv.conv_general_dilated, window_strides=(1,) * nd, padding=r["pad"],
                rhs_dilation=(r["d"],) * nd, dimension_numbers=dn, feature_group_count=g,
            )  # fmt: skip
            x, w = jax.ShapeDtypeStruct(xs, jnp.float32), jax.ShapeDtypeStruct(ws, jnp.float32)
            temp = []
            for old in (True, False):
                fn = jax.grad(lambda x, w, f=conv: jnp.sum(f(x, w) ** 2), argnums=(0, 1))
                if old:
                    with ab.before():
                        c = jax.jit(fn).lower(x, w).compile()
                else:
                    c = jax.jit(fn).lower(x, w).compile()
                temp.append(c.memory_analysis().temp_size_in_bytes)
            ratios.append(temp[1] / temp[0])
            print(f"{xs} {ws} g{g}: {temp[0] / 2**20:.1f} -> {temp[1] / 2**20:.1f} MiB")
ratios = np.array(ratios)
print(f"{len(ratios)} programs: new / old temp, geomean {np.exp(np.log(ratios).mean()):.2f}x, "
      f"max {ratios.max():.2f}x")  # fmt: skip
