"""Held out: ``auto`` before and after ``depthwise_loop_pays``, with lax, forward or forward
and backward (``grad``), in the same interleaved rounds.

Draws 1-d depthwise layers (4-63 features, 33-64 taps, strides 1-2, both layouts, 'SAME'
or 'VALID') and keeps those where the rule changes ``auto``'s forward choice. "Before" is
``auto`` compiled with ``_policy.depthwise_loop_pays`` returning False:

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


def before():
    return mock.patch.object(_policy, "depthwise_loop_pays", lambda plan: False)


def main(seed: int, count: int, grad: bool, before=before) -> None:
    """``count`` layers of seed ``seed`` whose choice ``before()`` (a context in which
    ``auto`` is the code before) changes, timed and printed as JSON lines."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < count:
        k = int(rng.integers(33, 65))
        s = int(rng.choice([1, 1, 2]))
        c = int(rng.integers(4, 64))
        m = int(rng.integers(2, 16)) * k + int(rng.integers(0, k))
        n = int(rng.choice([1, 2, 4, 8, 16]))
        first = bool(rng.integers(2))
        pad = str(rng.choice(["SAME", "VALID"]))
        dn = ("NCW", "OIW", "NCW") if first else ("NWC", "WIO", "NWC")
        xs = (n, c, m) if first else (n, m, c)
        ws = (c, 1, k) if first else (k, 1, c)
        if not 2e4 <= np.prod(xs) <= 32e6:
            continue
        kw = dict(window_strides=(s,), padding=pad, dimension_numbers=dn, feature_group_count=c)
        plan = _plan.make_plan(xs, ws, (s,), pad, dimension_numbers=dn, feature_group_count=c,
                               dtype="float32")  # fmt: skip
        new = _policy.choose(plan, "float32", decide_layout=True)
        with before():
            old = _policy.choose(plan, "float32", decide_layout=True)
        if new == old:
            continue
        x = jnp.asarray(rng.normal(size=xs), jnp.float32)
        w = jnp.asarray(rng.normal(size=ws), jnp.float32)
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
        compiled = {}
        for key, fn in fns.items():
            if key == "old":
                with before():
                    compiled[key] = jax.jit(fn).lower(x, w).compile()
            else:
                compiled[key] = jax.jit(fn).lower(x, w).compile()
            jax.block_until_ready(compiled[key](x, w))
        times = {key: [] for key in fns}
        for _ in range(15):
            for key in fns:
                t0 = time.perf_counter()
                jax.block_until_ready(compiled[key](x, w))
                times[key].append(time.perf_counter() - t0)
        layer = dict(C=c, k=k, s=s, m=m, N=n, pad=pad, channels_first=first)
        ms = {f"{key}_ms": round(1e3 * float(np.median(t)), 4) for key, t in times.items()}
        print(json.dumps(layer | dict(old=old, new=new) | ms), flush=True)
        done += 1


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3 and sys.argv[3] == "grad")
