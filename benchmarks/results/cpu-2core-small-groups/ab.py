"""Held out: ``auto`` before and after ``direct_over_grouped``, with lax, forward or forward
and backward (``grad``), in the same interleaved rounds.

Draws grouped layers of 5-8 input features per group (1-3 spatial dims, kernels 1-9 taps,
strides 1-2, some dilated, both layouts, 'SAME' or 'VALID') and keeps those where the rule
changes ``auto``'s choice (forward, or differentiated with ``grad``). "Before" is ``auto``
compiled with ``_policy.direct_over_grouped`` returning False:

    PYTHONPATH=../../../src python ab.py SEED COUNT [grad] > ab-SEED.jsonl
"""

import functools
import json
import sys
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv import _plan, _policy
from jaxconv._bench import runner

SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


def before():
    return mock.patch.object(_policy, "direct_over_grouped", lambda plan: False)


def draw(rng):
    nd = int(rng.choice([1, 2, 2, 2, 3]))
    k = {1: [3, 5, 7, 9], 2: [2, 3, 3, 3], 3: [2, 2, 3]}[nd]
    kernel = (int(rng.choice(k)),) * nd
    gi = int(rng.integers(5, 9))
    go = int(rng.choice([gi, gi, gi // 2, max(1, gi // 4)]))
    g = int(rng.choice([2, 4, 8, 16, 32, 64]))
    s = int(rng.choice([1, 1, 2]))
    d = int(rng.choice([1, 1, 1, 1, 2, 3]))
    n = int(rng.choice([1, 2, 4, 8, 16, 32]))
    m = {1: (64, 4096), 2: (8, 160), 3: (6, 32)}[nd]
    size = tuple(int(rng.integers(*m)) for _ in range(nd))
    return nd, kernel, gi, go, g, s, d, n, size


def main(seed: int, count: int, grad: bool, draw=draw, before=before, **options) -> None:
    """Time ``count`` layers of ``draw(rng)`` whose choice ``before()`` changes. ``options``:
    ``lax`` (time it too, default True), ``differentiated`` (compare the differentiated
    choices with ``grad``, default True; else the forward ones), ``first`` (a function of
    ``rng`` that draws the layout, default a coin), ``limit`` (most input elements,
    forward and with ``grad``, default 16e6 and 4e6) and ``choice`` (a function of the
    plan, in the user's layout, whose result ``before()`` must change; default ``auto``'s
    choice as ``differentiated`` says)."""
    lax = options.get("lax", True)
    differentiated = grad and options.get("differentiated", True)
    layout = options.get("first", lambda rng: bool(rng.integers(2)))
    limit = options.get("limit", (16e6, 4e6))[grad]
    choice = options.get(
        "choice",
        lambda plan: _policy.choose(
            plan, "float32", decide_layout=True, differentiated=differentiated
        ),
    )
    rng = np.random.default_rng(seed)
    done = 0
    while done < count:
        nd, kernel, gi, go, g, s, d, n, size = draw(rng)
        first = layout(rng)
        pad = str(rng.choice(["SAME", "VALID"]))
        sp = SPATIAL[nd]
        dn = (f"NC{sp}", f"OI{sp}", f"NC{sp}") if first else (f"N{sp}C", f"{sp}IO", f"N{sp}C")
        c, o = gi * g, go * g
        xs = (n, c, *size) if first else (n, *size, c)
        ws = (o, gi, *kernel) if first else (*kernel, gi, o)
        if not 2e4 <= np.prod(xs) <= limit:
            continue
        if any((k - 1) * d + 1 > m for k, m in zip(kernel, size, strict=True)):
            continue
        kw = dict(
            window_strides=(s,) * nd,
            padding=pad,
            rhs_dilation=(d,) * nd,
            dimension_numbers=dn,
            feature_group_count=g,
        )
        plan = _plan.make_plan(
            xs,
            ws,
            (s,) * nd,
            pad,
            rhs_dilation=(d,) * nd,
            dimension_numbers=dn,
            feature_group_count=g,
            dtype="float32",
        )
        new = choice(plan)
        with before():
            old = choice(plan)
        if new == old:
            continue
        x = jnp.asarray(rng.normal(size=xs), jnp.float32)
        w = jnp.asarray(rng.normal(size=ws), jnp.float32)
        fns = {"lax": functools.partial(jax.lax.conv_general_dilated, **kw)} if lax else {}
        # two functions, not one: jit would reuse the first one's trace for the second
        fns["old"] = functools.partial(jaxconv.conv_general_dilated, **kw)
        fns["new"] = functools.partial(jaxconv.conv_general_dilated, **kw)
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
        times = runner.time_interleaved(list(compiled.values()), (x, w), 15)
        layer = dict(
            nd=nd,
            k=kernel[0] if len(set(kernel)) == 1 else list(kernel),
            C=c,
            O=o,
            G=g,
            s=s,
            d=d,
            m=list(size),
            N=n,
            pad=pad,
            channels_first=first,
        )
        ms = {
            f"{key}_ms": round(1e3 * float(np.median(t)), 4)
            for key, t in zip(compiled, times, strict=True)
        }
        print(json.dumps(layer | dict(old=old, new=new) | ms), flush=True)
        done += 1


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3 and sys.argv[3] == "grad")
