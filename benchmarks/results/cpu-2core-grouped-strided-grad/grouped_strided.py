"""Strided grouped layers (2-3 spatial dims, 2-32 groups) differentiated: ``grouped``,
``im2col`` and ``taps`` forced on the forward convolution (the gradients run ``auto``'s),
forward and backward together, on layers where ``auto`` runs ``grouped`` (``sweep``); and
``auto`` against an older tree and lax where the two differ (``ab``). See README.md.

    python grouped_strided.py sweep OUT.jsonl SEED COUNT
    python grouped_strided.py ab OLD_SRC OUT.jsonl SEED COUNT

Run from the repository root with the project's environment.
"""

import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from ab_timed import old_package  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv._bench import runner  # noqa: E402

NAMES = ("grouped", "im2col", "taps")
DN = {
    (2, "NHWC"): ("NHWC", "HWIO", "NHWC"),
    (2, "NCHW"): ("NCHW", "OIHW", "NCHW"),
    (3, "NHWC"): ("NDHWC", "DHWIO", "NDHWC"),
    (3, "NCHW"): ("NCDHW", "OIDHW", "NCDHW"),
}


def draw(rng):
    """``(rank, layout, N, spatial, C, O, G, kernel, padding)`` of one stride-2 layer."""
    rank = int(rng.choice([2, 2, 2, 3]))
    g = int(rng.choice([2, 4, 8, 16, 32]))
    cg, og = (int(rng.choice([2, 4, 8, 16, 32, 64, 128])) for _ in range(2))
    k = int(rng.choice([3, 3, 5, 7] if rank == 2 else [3, 3, 5]))
    size = int(rng.choice([16, 32, 64, 128] if rank == 2 else [8, 16, 32]))
    n = int(rng.choice([1, 2, 4, 8, 16, 32]))
    jitter = size // 4
    spatial = tuple(max(k, size + int(rng.integers(-jitter, jitter + 1))) for _ in range(rank))
    layout, pad = str(rng.choice(["NHWC", "NCHW"])), str(rng.choice(["SAME", "VALID"]))
    return rank, layout, n, spatial, g * cg, g * og, g, (k,) * rank, pad


def arrays(rng, rank, layout, n, spatial, c, o, g, kernel):
    if layout == "NHWC":
        xs, ws = (n, *spatial, c), (*kernel, c // g, o)
    else:
        xs, ws = (n, c, *spatial), (o, c // g, *kernel)
    fan_in = int(np.prod(kernel)) * (c // g)
    x = rng.standard_normal(xs, np.float32)
    w = rng.standard_normal(ws, np.float32) / np.float32(np.sqrt(fan_in))
    return jnp.asarray(x), jnp.asarray(w)


def conv(mod, layer, strategy="auto"):
    rank, layout, _, _, _, _, g, _, pad = layer
    kw = dict(dimension_numbers=DN[rank, layout], feature_group_count=g)

    def f(x, w):
        if mod is lax:
            return lax.conv_general_dilated(x, w, (2,) * rank, pad, **kw)
        return mod.conv_general_dilated(x, w, (2,) * rank, pad, **kw, strategy=strategy)

    return f


def program(f, grad):
    if not grad:
        return jax.jit(f)
    return jax.jit(jax.grad(lambda x, w: jnp.sum(f(x, w) ** 2), argnums=(0, 1)))


def medians(fns, args, reps):
    for f in fns:
        jax.block_until_ready(f(*args))
    return [1e3 * float(np.median(t)) for t in runner.time_interleaved(fns, args, reps)]


def too_big(layer):
    rank, layout, n, spatial, c, o, g, kernel, pad = layer
    macs = n * np.prod([s // 2 for s in spatial]) * o * (c // g) * np.prod(kernel)
    return macs > 4e8 or n * np.prod(spatial) * max(c, o) > 2e7


def choice(mod, layer, x, w):
    rank, layout, _, _, _, _, g, _, pad = layer
    return mod.chosen_strategy(x, w, (2,) * rank, pad, None, None, DN[rank, layout], g)


def record(layer, **fields):
    rank, layout, n, spatial, c, o, g, kernel, pad = layer
    return dict(rank=rank, layout=layout, N=n, spatial=list(spatial), C=c, O=o, G=g,
                K=kernel[0], pad=pad, **fields)  # fmt: skip


def sweep(out, seed, count):
    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            layer = draw(rng)
            if too_big(layer):
                continue
            x, w = arrays(rng, *layer[:-1])
            if choice(jaxconv, layer, x, w) != "grouped":
                continue
            done += 1
            # No lax: XLA:CPU's grouped convolution takes up to seconds here.
            fns = [program(conv(jaxconv, layer, s), True) for s in ("auto", *NAMES)]
            t = medians(fns, (x, w), reps=7)
            rec = record(layer, auto_ms=t[0], **dict(zip(NAMES, t[1:], strict=True)))
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            print(rec, flush=True)


def ab(old_src, out, seed, count):
    old = old_package(old_src)
    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            layer = draw(rng)
            if too_big(layer):
                continue
            x, w = arrays(rng, *layer[:-1])
            fns = [program(conv(m, layer), True) for m in (lax, old, jaxconv)]
            texts = [f.lower(x, w).as_text() for f in fns[1:]]
            if texts[0] == texts[1]:
                continue
            done += 1
            for grad in (False, True):
                fns = [program(conv(m, layer), grad) for m in (lax, old, jaxconv)]
                t = medians(fns, (x, w), reps=9)
                rec = record(layer, grad=grad, before=choice(old, layer, x, w),
                             after=choice(jaxconv, layer, x, w), lax=t[0], old_ms=t[1],
                             new_ms=t[2])  # fmt: skip
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                print(rec, flush=True)


if __name__ == "__main__":
    cmd, *a = sys.argv[1:]
    if cmd == "sweep":
        sweep(a[0], int(a[1]), int(a[2]))
    else:
        ab(a[0], a[1], int(a[2]), int(a[3]))
