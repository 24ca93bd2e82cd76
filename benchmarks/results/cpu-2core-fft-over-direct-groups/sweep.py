"""Sweep: ``direct`` and ``fft`` forced, forward, in the same interleaved rounds, on grouped
layers of 2-4 input features per group where ``auto``'s choice before ``fft_pays`` is
``direct`` and the cost ratio (direct multiply-adds per unit of ``fft_cost``) is 0.45-3:

    PYTHONPATH=../../../src python sweep.py SEED COUNT [first|last] [long] > sweep-SEED.jsonl

(``long``: kernels of 5x5x5-7x7x7, 11x11-15x15 and 63-255 taps, cost ratios 1-12.)
"""

import functools
import json
import sys
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv import _plan, _policy, _strategies
from jaxconv._bench import runner

SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


def draw(rng, long=False):
    nd = int(rng.choice([1, 2, 2, 2, 3]))
    k = {1: [15, 31, 63], 2: [5, 7, 7, 9, 11], 3: [3, 5]}[nd]
    if long:
        nd = int(rng.choice([1, 2, 2, 3, 3]))
        k = {1: [63, 127, 255], 2: [11, 13, 15], 3: [5, 7]}[nd]
    kernel = (int(rng.choice(k)),) * nd
    gi = int(rng.integers(2, 5))
    go = int(rng.choice([gi, gi, 2 * gi, 4 * gi, max(1, gi // 2)]))
    g = int(rng.choice([2, 4, 8, 16, 32]))
    d = int(rng.choice([1, 1, 1, 2]))
    n = int(rng.choice([1, 1, 2, 4, 8]))
    m = {1: (256, 8192), 2: (24, 224), 3: (12, 48)}[nd]
    size = tuple(int(rng.integers(*m)) for _ in range(nd))
    return nd, kernel, gi, go, g, d, n, size


def ratio(plan):
    u = plan._replace(channels_first=False)
    return u.flops / 2 / _strategies.fft_cost(u, _strategies.fft_blocks(u))


def main(seed, count, first, long=False):
    rng = np.random.default_rng(seed)
    lo, hi = (1.0, 12.0) if long else (0.45, 3.0)
    done = 0
    while done < count:
        nd, kernel, gi, go, g, d, n, size = draw(rng, long)
        cf = bool(rng.integers(2)) if first is None else first
        pad = str(rng.choice(["SAME", "VALID"]))
        sp = SPATIAL[nd]
        dn = (f"NC{sp}", f"OI{sp}", f"NC{sp}") if cf else (f"N{sp}C", f"{sp}IO", f"N{sp}C")
        c, o = gi * g, go * g
        xs = (n, c, *size) if cf else (n, *size, c)
        ws = (o, gi, *kernel) if cf else (*kernel, gi, o)
        too_long = any((k - 1) * d + 1 > m for k, m in zip(kernel, size, strict=True))
        if not 2e4 <= np.prod(xs) <= 8e6 or too_long:
            continue
        kw = dict(window_strides=(1,) * nd, padding=pad, rhs_dilation=(d,) * nd,
                  dimension_numbers=dn, feature_group_count=g)  # fmt: skip
        plan = _plan.make_plan(xs, ws, **kw, dtype="float32")
        r = ratio(plan)
        if not lo <= r <= hi:
            continue
        with mock.patch.object(_policy, "fft_pays", lambda plan, instead: False):
            tree = _policy.choose(plan, "float32", decide_layout=True)
        if tree != "direct":
            continue
        auto = _policy.choose(plan, "float32", decide_layout=True)
        x = jnp.asarray(rng.normal(size=xs), jnp.float32)
        w = jnp.asarray(rng.normal(size=ws), jnp.float32)
        fns = [jax.jit(functools.partial(jaxconv.conv_general_dilated, **kw, strategy=s))
               for s in ("direct", "fft")]  # fmt: skip
        for f in fns:
            jax.block_until_ready(f(x, w))
        times = runner.time_interleaved(fns, (x, w), 15)
        ms = [round(1e3 * float(np.median(t)), 4) for t in times]
        print(json.dumps(dict(nd=nd, k=kernel[0], C=c, O=o, G=g, d=d, m=list(size), N=n,
                              pad=pad, channels_first=cf, ratio=round(r, 3), auto=auto,
                              direct_ms=ms[0], fft_ms=ms[1])), flush=True)  # fmt: skip
        done += 1


if __name__ == "__main__":
    args = sys.argv[3:]
    first = True if "first" in args else False if "last" in args else None
    main(int(sys.argv[1]), int(sys.argv[2]), first, "long" in args)
