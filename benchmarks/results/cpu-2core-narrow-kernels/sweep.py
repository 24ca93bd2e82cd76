"""Kernels no wider than their strides: every GEMM strategy, ``direct``, ``auto`` and lax
forced on the same layer, forward (or forward and backward with ``grad``), in the same
interleaved rounds.

Draws strided dense layers (ranks 1-3, strides 2-8, kernels 1 to the stride less one,
1-128 input features, both layouts, 'SAME' or 'VALID'); ``col2im`` is left out past 64
input phases (it compiles one GEMM per phase):

    PYTHONPATH=../../../src python sweep.py SEED COUNT [grad] > sweep-SEED.jsonl
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
NAMES = ("im2col", "rows", "col2im", "space_to_depth", "direct")


def main(seed: int, count: int, grad: bool) -> None:
    rng = np.random.default_rng(seed)
    done = 0
    while done < count:
        nd = int(rng.choice([1, 2, 2, 2, 3]))
        s = int(rng.integers(2, 9))
        k = int(rng.integers(1, s + 1))
        if k == s:
            continue  # a patch embedding
        c = int(rng.choice([1, 3, 4, 8, 16, 32, 64, 128]))
        o = int(rng.choice([8, 16, 32, 64, 128, 256]))
        m = int(rng.integers(4, 24)) * s if nd < 3 else int(rng.integers(3, 9)) * s
        m = m * (8 if nd == 1 else 1) + int(rng.integers(0, s))
        n = int(rng.choice([1, 2, 4, 8]))
        pad = str(rng.choice(["SAME", "VALID"]))
        first = bool(rng.integers(2))
        dn = (FIRST if first else LAST)[nd]
        xs = (n, c, *(m,) * nd) if first else (n, *(m,) * nd, c)
        ws = (o, c, *(k,) * nd) if first else (*(k,) * nd, c, o)
        if np.prod(xs) * 4 > 256e6 or np.prod(xs) < 2e4:
            continue
        plan = _plan.make_plan(xs, ws, (s,) * nd, pad, dimension_numbers=dn, dtype="float32")
        auto = _policy.choose(plan, "float32", decide_layout=True)
        x = jnp.asarray(rng.normal(size=xs), jnp.float32)
        w = jnp.asarray(rng.normal(size=ws), jnp.float32)
        kw = dict(window_strides=(s,) * nd, padding=pad, dimension_numbers=dn)
        ours = functools.partial(jaxconv.conv_general_dilated, **kw)
        fns = {"lax": functools.partial(jax.lax.conv_general_dilated, **kw), "auto": ours}
        for name in NAMES:
            if not _strategies.STRATEGIES[name].accepts(plan):
                continue
            if name == "col2im" and _strategies.col2im_gemms(plan) > 64:
                continue
            fns[name] = functools.partial(ours, strategy=name)
        if grad:
            fns = {
                key: jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) ** 2), argnums=(0, 1))
                for key, f in fns.items()
            }
        compiled, row = {}, {}
        for key, fn in fns.items():
            t0 = time.perf_counter()
            compiled[key] = jax.jit(fn).lower(x, w).compile()
            jax.block_until_ready(compiled[key](x, w))
            row[f"{key}_compile_s"] = round(time.perf_counter() - t0, 3)
        times = {key: [] for key in compiled}
        for _ in range(11):
            for key in compiled:
                t0 = time.perf_counter()
                jax.block_until_ready(compiled[key](x, w))
                times[key].append(time.perf_counter() - t0)
        layer = dict(nd=nd, C=c, O=o, k=k, s=s, m=m, N=n, pad=pad, channels_first=first)
        ms = {f"{key}_ms": round(1e3 * float(np.median(t)), 4) for key, t in times.items()}
        print(json.dumps(layer | dict(auto=auto) | ms | row), flush=True)
        done += 1


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3 and sys.argv[3] == "grad")
