"""Strided grouped layers (2-3 spatial dims, 2-32 groups) differentiated: ``grouped``,
``im2col`` and ``taps`` forced on the forward convolution (the gradients run ``auto``'s),
forward and backward together, on layers where ``auto`` runs ``grouped``. See README.md.

    python grouped_strided.py OUT.jsonl SEED COUNT

Run from the repository root with the project's environment.
"""

import os
import sys

import jax.numpy as jnp
import numpy as np
from jax import lax

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from ab_timed import grad_program, medians, record_line  # noqa: E402

import jaxconv  # noqa: E402

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
            fns = [grad_program(conv(jaxconv, layer, s), True) for s in ("auto", *NAMES)]
            t = medians(fns, (x, w), reps=7)
            rec = record(layer, auto_ms=t[0], **dict(zip(NAMES, t[1:], strict=True)))
            record_line(fh, rec)


if __name__ == "__main__":
    sweep(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
