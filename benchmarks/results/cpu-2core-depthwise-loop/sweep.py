"""Long depthwise kernels on fewer than 64 features: ``depthwise``, ``taps``, ``fft``,
``scan``, ``direct``, ``auto`` and lax forced on the same layer, forward (or forward and
backward with ``grad``), in the same 11 interleaved rounds.

``sweep.py SEED COUNT`` draws 1-d and 2-d layers (15-127 taps, 9x9-15x15;
``sweep-9820.jsonl``); with ``--1d``, 1-d layers of 31-255 taps and 4-63 features
(``sweep-9821.jsonl``):

    PYTHONPATH=../../../src python sweep.py SEED COUNT [--1d] [--grad] > sweep-SEED.jsonl
"""

import argparse
import functools
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv import _plan, _policy, _strategies

LAST = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC")}
FIRST = {1: ("NCW", "OIW", "NCW"), 2: ("NCHW", "OIHW", "NCHW")}
NAMES = ("depthwise", "taps", "fft", "scan", "direct")


def draw(rng, one_d: bool):
    if one_d:
        nd = 1
        k = int(rng.choice([31, 47, 63, 95, 127, 255]))
    else:
        nd = int(rng.choice([1, 1, 2]))
        k = int(rng.choice([15, 31, 63, 127])) if nd == 1 else int(rng.choice([9, 11, 13, 15]))
    s = int(rng.choice([1, 1, 2]))
    c = int(rng.choice([4, 8, 16, 24, 32, 48, 63] if one_d else [4, 8, 16, 24, 32, 48]))
    if one_d:
        m = int(rng.integers(2, 16)) * k + int(rng.integers(0, k))
    else:
        m = int(rng.integers(2, 12)) * k if nd == 1 else int(rng.integers(2, 8)) * k
    n = int(rng.choice([1, 2, 4, 8, 16]))
    first = bool(rng.integers(2))
    pad = str(rng.choice(["SAME", "VALID"]))
    return nd, k, s, c, m, n, first, pad


def main(seed: int, count: int, one_d: bool, grad: bool) -> None:
    rng = np.random.default_rng(seed)
    done = 0
    while done < count:
        nd, k, s, c, m, n, first, pad = draw(rng, one_d)
        dn = (FIRST if first else LAST)[nd]
        xs = (n, c, *(m,) * nd) if first else (n, *(m,) * nd, c)
        ws = (c, 1, *(k,) * nd) if first else (*(k,) * nd, 1, c)
        if not 2e4 <= np.prod(xs) <= 32e6:
            continue
        kw = dict(
            window_strides=(s,) * nd, padding=pad, dimension_numbers=dn, feature_group_count=c
        )
        plan = _plan.make_plan(xs, ws, (s,) * nd, pad, dimension_numbers=dn,
                               feature_group_count=c, dtype="float32")  # fmt: skip
        auto = _policy.choose(plan, "float32", decide_layout=True)
        x = jnp.asarray(rng.normal(size=xs), jnp.float32)
        w = jnp.asarray(rng.normal(size=ws), jnp.float32)
        ours = functools.partial(jaxconv.conv_general_dilated, **kw)
        fns = {"lax": functools.partial(jax.lax.conv_general_dilated, **kw), "auto": ours}
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
        times = {key: [] for key in compiled}
        for _ in range(11):
            for key in compiled:
                t0 = time.perf_counter()
                jax.block_until_ready(compiled[key](x, w))
                times[key].append(time.perf_counter() - t0)
        layer = dict(nd=nd, C=c, k=k, s=s, m=m, N=n, pad=pad, channels_first=first, auto=auto)
        ms = {f"{key}_ms": round(1e3 * float(np.median(t)), 4) for key, t in times.items()}
        print(json.dumps(layer | ms), flush=True)
        done += 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("seed", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--1d", dest="one_d", action="store_true")
    parser.add_argument("--grad", action="store_true")
    args = parser.parse_args()
    main(args.seed, args.count, args.one_d, args.grad)
