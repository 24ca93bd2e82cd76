"""Held out: ``auto`` before and after the narrow-kernel rule, with lax, forward or
forward and backward (``grad``), in the same interleaved rounds.

Draws strided dense layers whose kernel is no wider than its strides (ranks 1-3, strides
2-8, kernels 1 to the stride less one, 1-128 input features, both layouts, 'SAME' or
'VALID') and keeps those where the rule changes ``auto``'s choice. "Before" is ``auto``
compiled with ``_policy._narrow_kernel_patches`` returning its input:

    PYTHONPATH=../../../src python ab.py SEED COUNT [grad] > ab-SEED.jsonl
"""

import functools
import json
import sys
import time
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv import _plan, _policy

LAST = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}
FIRST = {1: ("NCW", "OIW", "NCW"), 2: ("NCHW", "OIHW", "NCHW"), 3: ("NCDHW", "OIDHW", "NCDHW")}


def before():
    return mock.patch.object(_policy, "_narrow_kernel_patches", lambda plan, name, *_: name)


def draw(rng):
    nd = int(rng.choice([1, 2, 2, 2, 3]))
    s = int(rng.integers(2, 9))
    k = int(rng.integers(1, s))
    c = int(rng.choice([1, 2, 3, 4, 8, 16, 24, 32, 64, 96, 128]))
    o = int(rng.choice([8, 16, 32, 64, 128, 256]))
    m = int(rng.integers(4, 24)) * s if nd < 3 else int(rng.integers(3, 9)) * s
    m = m * (8 if nd == 1 else 1) + int(rng.integers(0, s))
    n = int(rng.choice([1, 2, 4, 8]))
    pad = str(rng.choice(["SAME", "VALID"]))
    first = bool(rng.integers(2))
    return nd, s, k, c, o, m, n, pad, first


def main(seed: int, count: int, grad: bool) -> None:
    rng = np.random.default_rng(seed)
    done = 0
    while done < count:
        nd, s, k, c, o, m, n, pad, first = draw(rng)
        dn = (FIRST if first else LAST)[nd]
        xs = (n, c, *(m,) * nd) if first else (n, *(m,) * nd, c)
        ws = (o, c, *(k,) * nd) if first else (*(k,) * nd, c, o)
        # lax's 3-d gradients run 10-100x slower than its forward pass on CPU
        limit = (4e6 if nd == 3 else 16e6) if grad else 64e6
        if not 2e4 <= np.prod(xs) <= limit:
            continue
        plan = _plan.make_plan(xs, ws, (s,) * nd, pad, dimension_numbers=dn, dtype="float32")
        new = _policy.choose(plan, "float32", decide_layout=True)
        with before():
            old = _policy.choose(plan, "float32", decide_layout=True)
        if new == old:
            continue
        x = jnp.asarray(rng.normal(size=xs), jnp.float32)
        w = jnp.asarray(rng.normal(size=ws), jnp.float32)
        kw = dict(window_strides=(s,) * nd, padding=pad, dimension_numbers=dn)
        fns = {
            "lax": functools.partial(jax.lax.conv_general_dilated, **kw),
            "old": functools.partial(jaxconv.conv_general_dilated, **kw),
            "new": functools.partial(jaxconv.conv_general_dilated, **kw),
        }
        if grad:
            fns = {
                key: jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) ** 2), argnums=(0, 1))
                for key, f in fns.items()
            }
        compiled, row = {}, {}
        for key, fn in fns.items():
            t0 = time.perf_counter()
            if key == "old":
                with before():
                    compiled[key] = jax.jit(fn).lower(x, w).compile()
            else:
                compiled[key] = jax.jit(fn).lower(x, w).compile()
            row[f"{key}_compile_s"] = round(time.perf_counter() - t0, 3)
            jax.block_until_ready(compiled[key](x, w))
        times = {key: [] for key in fns}
        for _ in range(15):
            for key in fns:
                t0 = time.perf_counter()
                jax.block_until_ready(compiled[key](x, w))
                times[key].append(time.perf_counter() - t0)
        layer = dict(nd=nd, C=c, O=o, k=k, s=s, m=m, N=n, pad=pad, channels_first=first)
        ms = {f"{key}_ms": round(1e3 * float(np.median(t)), 4) for key, t in times.items()}
        print(json.dumps(layer | dict(old=old, new=new) | ms | row), flush=True)
        done += 1


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3 and sys.argv[3] == "grad")
