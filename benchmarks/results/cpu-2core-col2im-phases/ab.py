"""Held out: ``auto`` before and after the cap on ``col2im``'s GEMMs, forward, with lax.

Draws strided dense layers (ranks 1-3, strides 3-8, kernels from half the stride to 3 past
it, not patch embeddings; 12-64 input features) and keeps those where ``auto`` without the
cap (``COL2IM_GEMMS`` lifted, as before the change) runs ``col2im`` on more than 16 phases.
Both choices and lax are compiled (timed) and run in the same 15 interleaved rounds:

    cd benchmarks/results/cpu-2core-col2im-phases
    PYTHONPATH=../../../src python ab.py SEED COUNT > ab-SEED.jsonl
"""

import functools
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv import _plan, _policy, _strategies

LAST = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}
FIRST = {1: ("NCW", "OIW", "NCW"), 2: ("NCHW", "OIHW", "NCHW"), 3: ("NCDHW", "OIDHW", "NCDHW")}


def uncapped(fn):
    cap, _strategies.COL2IM_GEMMS = _strategies.COL2IM_GEMMS, 10**9
    try:
        return fn()
    finally:
        _strategies.COL2IM_GEMMS = cap


def main(seed: int, count: int) -> None:
    rng = np.random.default_rng(seed)
    done = 0
    while done < count:
        nd = int(rng.choice([1, 2, 2, 2, 3]))
        s = int(rng.integers(3, 9))
        k = int(rng.integers(s // 2 + 1, s + 4))
        c = int(rng.choice([12, 16, 24, 32, 48, 64]))
        o = int(rng.choice([8, 16, 32, 64, 128]))
        m = int(rng.integers(4, 20)) * s if nd < 3 else int(rng.integers(3, 8)) * s
        m *= 8 if nd == 1 else 1
        n = int(rng.choice([1, 2, 4, 8]))
        first = bool(rng.integers(2))
        dn = (FIRST if first else LAST)[nd]
        if k == s:
            continue  # a patch embedding: space_to_depth
        xs = (n, c, *(m,) * nd) if first else (n, *(m,) * nd, c)
        ws = (o, c, *(k,) * nd) if first else (*(k,) * nd, c, o)
        plan = _plan.make_plan(xs, ws, (s,) * nd, "SAME", dimension_numbers=dn, dtype="float32")
        new = _policy.choose(plan, "float32", decide_layout=True)
        old = uncapped(lambda plan=plan: _policy.choose(plan, "float32", decide_layout=True))
        gemms = _strategies.col2im_gemms(plan)
        if old != "col2im" or new == old or gemms <= 16:
            continue
        x = jnp.asarray(rng.normal(size=xs), jnp.float32)
        w = jnp.asarray(rng.normal(size=ws), jnp.float32)
        kw = dict(window_strides=(s,) * nd, padding="SAME", dimension_numbers=dn)
        ours = functools.partial(jaxconv.conv_general_dilated, **kw)
        fns = {
            "lax": functools.partial(jax.lax.conv_general_dilated, **kw),
            "old": functools.partial(ours, strategy=old),  # asked for by name: runs uncapped
            "new": functools.partial(ours, strategy=new),
        }
        compiled, row = {}, {}
        for key, fn in fns.items():
            t0 = time.perf_counter()
            compiled[key] = jax.jit(fn).lower(x, w).compile()
            row[f"{key}_compile_s"] = time.perf_counter() - t0
            jax.block_until_ready(compiled[key](x, w))
        times = {key: [] for key in fns}
        for _ in range(15):
            for key in fns:
                t0 = time.perf_counter()
                jax.block_until_ready(compiled[key](x, w))
                times[key].append(time.perf_counter() - t0)
        layer = dict(nd=nd, C=c, O=o, k=k, s=s, m=m, N=n, channels_first=first, gemms=gemms)
        choice = dict(old=old, new=new)
        ms = {f"{key}_ms": 1e3 * float(np.median(t)) for key, t in times.items()}
        print(json.dumps(layer | choice | ms | row), flush=True)
        done += 1


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
