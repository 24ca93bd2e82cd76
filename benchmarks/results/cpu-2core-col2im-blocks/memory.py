"""XLA's temp memory (compile-only ``memory_analysis``) of the forward programs of
``ab.py``'s records (transposed layers), before and after:

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


def temp(conv, x, w):
    return jax.jit(conv).lower(x, w).compile().memory_analysis().temp_size_in_bytes


temps = []
for path in sys.argv[1:]:
    for row in open(path):
        r = json.loads(row)
        if not r["transposed"]:
            continue
        nd, sp, k, s = r["nd"], ab.SPATIAL[r["nd"]], r["k"], r["s"]
        pad = r["pad"] if isinstance(r["pad"], str) else [tuple(r["pad"])] * nd
        kw = dict(
            strides=(s,) * nd, padding=pad, dimension_numbers=(f"N{sp}C", f"{sp}IO", f"N{sp}C")
        )
        x = jax.ShapeDtypeStruct((r["N"], *r["m"], r["C"]), jnp.float32)
        w = jax.ShapeDtypeStruct((*(k,) * nd, r["C"], r["O"]), jnp.float32)
        # a function each: jit would reuse the first one's trace for the second
        with ab.before():
            old = temp(functools.partial(jaxconv.conv_transpose, **kw), x, w)
        new = temp(functools.partial(jaxconv.conv_transpose, **kw), x, w)
        ref = temp(functools.partial(jax.lax.conv_transpose, **kw), x, w)
        temps.append((old, new))
        print(f"{x.shape} {w.shape} s{s} {r['pad']}: {old / 2**20:.2f} -> {new / 2**20:.2f} MiB "
              f"(lax {ref / 2**20:.2f})")  # fmt: skip
old, new = np.array(temps).T / 2**20
print(f"{len(temps)} programs: temp at most {old.max():.2f} MiB before, {new.max():.2f} after; "
      f"after at most before on {(new <= old).sum()}; "
      f"total {old.sum():.1f} -> {new.sum():.1f}")  # fmt: skip
