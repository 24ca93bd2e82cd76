"""XLA's temp memory (compile-only ``memory_analysis``) of the forward programs of
``ab.py``'s records, before and after:

    PYTHONPATH=../../../src python memory.py ab-SEED.jsonl
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


def temp(conv, x, w):
    return jax.jit(conv).lower(x, w).compile().memory_analysis().temp_size_in_bytes


ratios = []
for path in sys.argv[1:]:
    with open(path) as f:
        for row in f:
            r = json.loads(row)
            nd, sp, k = r["nd"], SPATIAL[r["nd"]], r["k"]
            assert not r["channels_first"]  # the rule holds on channels-last data only
            xs, ws = (r["N"], *r["m"], r["C"]), (*(k,) * nd, r["C"], r["O"])
            kw = dict(window_strides=(r["s"],) * nd, padding=r["pad"],
                      dimension_numbers=(f"N{sp}C", f"{sp}IO", f"N{sp}C"))  # fmt: skip
            x, w = jax.ShapeDtypeStruct(xs, jnp.float32), jax.ShapeDtypeStruct(ws, jnp.float32)
            # a function each: jit would reuse the first one's trace for the second
            with ab.before():
                old = temp(functools.partial(jaxconv.conv_general_dilated, **kw), x, w)
            new = temp(functools.partial(jaxconv.conv_general_dilated, **kw), x, w)
            ref = temp(functools.partial(jax.lax.conv_general_dilated, **kw), x, w)
            ratios.append(new / max(old, 1))
            print(f"{xs} {ws} s{r['s']} {r['pad']}: {old / 2**20:.2f} -> {new / 2**20:.2f} MiB "
                  f"(lax {ref / 2**20:.2f})")  # fmt: skip
ratios = np.array(ratios)
print(f"{len(ratios)} programs: new / old temp, geomean {np.exp(np.log(ratios).mean()):.2f}x, "
      f"max {ratios.max():.2f}x")  # fmt: skip
