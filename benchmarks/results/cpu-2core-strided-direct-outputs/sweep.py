"""Strided channels-last dense layers on which ``auto`` runs ``direct``: ``direct``, every
GEMM strategy, ``auto`` and lax forced on the same layer, forward (or forward and backward
with ``grad``), in the same interleaved rounds.

Draws 1-d and 2-d layers drawn like a network's (kernels 2-11, stride 2, 1-32 input and
8-64 output features, batch 1-32, 'SAME' or 'VALID') and keeps those where ``auto`` runs
``direct`` (forward, or differentiated with ``grad``):

    PYTHONPATH=../../../src python sweep.py SEED COUNT [grad] > sweep-SEED.jsonl
"""

import functools
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv import _plan, _policy, _strategies
from jaxconv._bench import runner

LAST = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC")}
NAMES = ("direct", "im2col", "rows", "banded", "col2im")


def draw(rng):
    nd = int(rng.choice([1, 2, 2, 2]))
    k = int(rng.choice({1: [3, 5, 7, 9, 11], 2: [2, 3, 3, 3, 4, 5, 7]}[nd]))
    c = int(rng.choice([1, 2, 3, 4, 6, 8, 12, 16, 24, 32]))
    o = int(rng.choice([8, 16, 24, 32, 48, 64]))
    n = int(rng.choice([1, 2, 4, 8, 16, 32]))
    m = {1: (256, 16384), 2: (16, 225)}[nd]
    size = tuple(int(rng.integers(*m)) for _ in range(nd))
    return nd, (k,) * nd, c, o, n, size


def main(seed: int, count: int, grad: bool) -> None:
    rng = np.random.default_rng(seed)
    done = 0
    while done < count:
        nd, kernel, c, o, n, size = draw(rng)
        pad = str(rng.choice(["SAME", "VALID"]))
        dn = LAST[nd]
        xs, ws = (n, *size, c), (*kernel, c, o)
        if not 2e4 <= np.prod(xs) <= (16e6 if not grad else 4e6):
            continue
        if any(k > m for k, m in zip(kernel, size, strict=True)):
            continue
        strides = (2,) * nd
        plan = _plan.make_plan(xs, ws, strides, pad, dimension_numbers=dn, dtype="float32")
        auto = _policy.choose(plan, "float32", decide_layout=True, differentiated=grad)
        if auto != "direct":
            continue
        x = jnp.asarray(rng.normal(size=xs), jnp.float32)
        w = jnp.asarray(rng.normal(size=ws), jnp.float32)
        kw = dict(window_strides=strides, padding=pad, dimension_numbers=dn)
        ours = functools.partial(jaxconv.conv_general_dilated, **kw)
        fns = {"lax": functools.partial(jax.lax.conv_general_dilated, **kw)}
        for name in NAMES:
            if _strategies.STRATEGIES[name].accepts(plan):
                fns[name] = functools.partial(ours, strategy=name)
        if grad:
            fns = {
                key: jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) ** 2), argnums=(0, 1))
                for key, f in fns.items()
            }
        compiled = {}
        for key, fn in fns.items():
            compiled[key] = jax.jit(fn).lower(x, w).compile()
            jax.block_until_ready(compiled[key](x, w))
        times = runner.time_interleaved(list(compiled.values()), (x, w), 11)
        layer = dict(nd=nd, k=kernel[0], C=c, O=o, N=n, m=list(size), pad=pad)
        ms = {
            f"{key}_ms": round(1e3 * float(np.median(t)), 4)
            for key, t in zip(compiled, times, strict=True)
        }
        print(json.dumps(layer | ms), flush=True)
        done += 1


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3 and sys.argv[3] == "grad")
