"""XLA's temp memory (compile-only ``memory_analysis``) of the differentiated programs of
``ab.py``'s records, before and after, against the bound ``2·lax + output + padded input``:

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


def temp(conv, x, w, old=False):
    fn = jax.grad(lambda x, w: jnp.sum(conv(x, w) ** 2), argnums=(0, 1))
    if old:
        with ab.before():
            return jax.jit(fn).lower(x, w).compile().memory_analysis().temp_size_in_bytes
    return jax.jit(fn).lower(x, w).compile().memory_analysis().temp_size_in_bytes


ratios, over = [], 0
for path in sys.argv[1:]:
    with open(path) as f:
        for row in f:
            r = json.loads(row)
            first = r["channels_first"]
            dn = ("NCDHW", "OIDHW", "NCDHW") if first else ("NDHWC", "DHWIO", "NDHWC")
            xs = (r["N"], r["C"], *r["m"]) if first else (r["N"], *r["m"], r["C"])
            ws = (r["O"], r["C"], *(r["k"],) * 3) if first else (*(r["k"],) * 3, r["C"], r["O"])
            kw = dict(window_strides=(r["s"],) * 3, padding=r["pad"], dimension_numbers=dn)
            x, w = jax.ShapeDtypeStruct(xs, jnp.float32), jax.ShapeDtypeStruct(ws, jnp.float32)
            ours = functools.partial(jaxconv.conv_general_dilated, **kw)
            old, new = temp(ours, x, w, old=True), temp(ours, x, w)
            ref = temp(functools.partial(jax.lax.conv_general_dilated, **kw), x, w)
            out = np.prod(jax.eval_shape(ours, x, w).shape) * 4
            pad = [(0, 0)] * 5  # the padded input: 'VALID' pads nothing
            if r["pad"] == "SAME":
                k = r["k"]
                pad = [(0, 0)] * (1 + first) + [(0, k - 1)] * 3 + [(0, 0)] * (1 - first)
            padded = np.prod([s + lo + hi for s, (lo, hi) in zip(xs, pad, strict=True)]) * 4
            bound = 2 * ref + out + padded
            over += new > bound
            ratios.append(new / old)
            print(
                f"{xs} {ws}: {old / 2**20:.1f} -> {new / 2**20:.1f} MiB "
                f"(bound {bound / 2**20:.1f}{', over' if new > bound else ''})"
            )
ratios = np.array(ratios)
print(
    f"{len(ratios)} programs: new / old temp, geomean {np.exp(np.log(ratios).mean()):.2f}x, "
    f"max {ratios.max():.2f}x; {over} over the bound"
)
