"""2-d and 3-d depthwise layers of short-to-mid kernels: depthwise, taps, fft, direct,
scan and auto forced, with lax on the 2-d ones, forward (or fwd+bwd with a third
argument); records fft_pays' ratio (direct multiply-adds / fft_cost).

    PYTHONPATH=../../../src python sweep.py SEED COUNT > sweep-SEED.jsonl
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

LAST = {2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}
FIRST = {2: ("NCHW", "OIHW", "NCHW"), 3: ("NCDHW", "OIDHW", "NCDHW")}
NAMES = ("depthwise", "taps", "fft", "direct", "scan")


def ratio(plan):
    p = plan._replace(channels_first=False)
    return (
        p.flops
        / 2
        / int(np.prod(p.lhs_dilation))
        / _strategies.fft_cost(p, _strategies.fft_blocks(p))
    )


def draw(rng):
    """Rank, kernel size, stride, features and map size of one layer."""
    nd = int(rng.choice([2, 3, 3]))
    k = int(rng.choice([3, 5, 7])) if nd == 3 else int(rng.choice([5, 7, 9, 11]))
    s = int(rng.choice([1, 1, 2]))
    c = int(rng.choice([8, 16, 32, 64, 128, 256]))
    m = int(rng.integers(8, 40)) if nd == 3 else int(rng.integers(16, 120))
    return nd, k, s, c, m


def main(seed, count, grad, draw=draw, names=NAMES):
    rng = np.random.default_rng(seed)
    done = 0
    while done < count:
        nd, k, s, c, m = draw(rng)
        n = int(rng.choice([1, 2, 4, 8]))
        first = bool(rng.integers(2))
        pad = str(rng.choice(["SAME", "VALID"]))
        dn = (FIRST if first else LAST)[nd]
        xs = (n, c, *(m,) * nd) if first else (n, *(m,) * nd, c)
        ws = (c, 1, *(k,) * nd) if first else (*(k,) * nd, 1, c)
        if not 1e5 <= np.prod(xs) <= (4e6 if grad else 16e6):
            continue
        if m < k:
            continue
        kw = dict(
            window_strides=(s,) * nd, padding=pad, dimension_numbers=dn, feature_group_count=c
        )
        plan = _plan.make_plan(
            xs, ws, (s,) * nd, pad, dimension_numbers=dn, feature_group_count=c, dtype="float32"
        )
        auto = _policy.choose(plan, "float32", decide_layout=True)
        x = jnp.asarray(rng.normal(size=xs), jnp.float32)
        w = jnp.asarray(rng.normal(size=ws), jnp.float32)
        ours = functools.partial(jaxconv.conv_general_dilated, **kw)
        fns = (
            {"auto": ours}
            if nd == 3
            else {"lax": functools.partial(jax.lax.conv_general_dilated, **kw), "auto": ours}
        )
        for name in names:
            if _strategies.STRATEGIES[name].accepts(plan):
                fns[name] = functools.partial(ours, strategy=name)
        if grad:
            fns = {
                key: jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) ** 2), argnums=(0, 1))
                for key, f in fns.items()
            }
        compiled = {key: jax.jit(fn).lower(x, w).compile() for key, fn in fns.items()}
        for f in compiled.values():
            jax.block_until_ready(f(x, w))
        times = runner.time_interleaved(list(compiled.values()), (x, w), 9)
        layer = dict(
            nd=nd,
            C=c,
            k=k,
            s=s,
            m=m,
            N=n,
            pad=pad,
            channels_first=first,
            auto=auto,
            ratio=round(ratio(plan), 3),
        )
        print(
            json.dumps(
                layer
                | {
                    f"{key}_ms": round(1e3 * float(np.median(t)), 4)
                    for key, t in zip(compiled, times, strict=True)
                }
            ),
            flush=True,
        )
        done += 1


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3)
