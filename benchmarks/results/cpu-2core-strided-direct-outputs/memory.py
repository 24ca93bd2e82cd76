"""XLA's temp memory (compile-only ``memory_analysis``) of the programs of ``ab.py``'s
records (forward, or forward and backward for the files of ``grad`` runs), before and
after, against the bound (twice lax's temp plus the output and the padded input, which the
strategies keep give or take ``_strategies.TILE_SLACK_BYTES``):

    PYTHONPATH=../../../src python memory.py ab-SEED.jsonl ab-SEED-grad.jsonl
"""

import functools
import importlib.util
import json
import math
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv import _strategies

_spec = importlib.util.spec_from_file_location("ab", pathlib.Path(__file__).parent / "ab.py")
ab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ab)
SPATIAL = {1: "W", 2: "HW"}


def temp(conv, x, w, grad):
    if grad:
        conv = jax.grad(lambda x, w, f=conv: jnp.sum(f(x, w) ** 2), argnums=(0, 1))
    return jax.jit(conv).lower(x, w).compile().memory_analysis().temp_size_in_bytes


temps, over, past = [], [0, 0], [0, 0]
for path in sys.argv[1:]:
    grad = "grad" in path
    with open(path) as f:
        for row in f:
            r = json.loads(row)
            nd, sp, k, s = r["nd"], SPATIAL[r["nd"]], r["k"], r["s"]
            xs, ws = (r["N"], *r["m"], r["C"]), (*(k,) * nd, r["C"], r["O"])
            kw = dict(window_strides=(s,) * nd, padding=r["pad"],
                      dimension_numbers=(f"N{sp}C", f"{sp}IO", f"N{sp}C"))  # fmt: skip
            x, w = jax.ShapeDtypeStruct(xs, jnp.float32), jax.ShapeDtypeStruct(ws, jnp.float32)
            # a function each: jit would reuse the first one's trace for the second
            with ab.before():
                old = temp(functools.partial(jaxconv.conv_general_dilated, **kw), x, w, grad)
            new = temp(functools.partial(jaxconv.conv_general_dilated, **kw), x, w, grad)
            ref = temp(functools.partial(jax.lax.conv_general_dilated, **kw), x, w, grad)
            out = jax.eval_shape(functools.partial(jax.lax.conv_general_dilated, **kw), x, w)
            if r["pad"] == "SAME":
                padded = [max(0, (-(-m // s) - 1) * s + k) for m in r["m"]]
                padded = [max(p, m) for p, m in zip(padded, r["m"], strict=True)]
            else:
                padded = r["m"]
            bound = 2 * ref + 4 * (math.prod(out.shape) + r["N"] * r["C"] * math.prod(padded))
            over[0] += old > bound
            over[1] += new > bound
            past[0] += old > bound + _strategies.TILE_SLACK_BYTES
            past[1] += new > bound + _strategies.TILE_SLACK_BYTES
            temps.append((old, new))
            print(f"{'fwd+bwd' if grad else 'fwd'} {xs} {ws} s{s} {r['pad']}: "
                  f"{old / 2**20:.2f} -> {new / 2**20:.2f} MiB "
                  f"(lax {ref / 2**20:.2f}, bound {bound / 2**20:.2f})")  # fmt: skip
old, new = np.array(temps).T / 2**20
print(f"{len(temps)} programs: temp at most {old.max():.2f} MiB before, {new.max():.2f} after "
      f"(median {np.median(old):.2f}, {np.median(new):.2f}); over the bound before {over[0]}, "
      f"after {over[1]}; past it by over the slack before {past[0]}, after {past[1]}")  # fmt: skip
