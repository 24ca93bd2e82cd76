"""Dense layers at unit strides whose output is well smaller than their input (``VALID``
padding of a kernel large for its map) and ``col2im``. ``sweep``: 2-d layers where ``auto``
runs ``col2im``, with lax and ``col2im``, ``rows``, ``taps``, ``im2col``, ``banded`` (and
``winograd`` on 3x3) forced; ``SAME=1`` in the environment draws ``SAME`` layers instead.
``ab``: ``auto`` against an older tree on 2-d and 3-d layers where the two choose
differently, forward and forward plus both gradients. See README.md.

    python shrinking.py sweep OUT.jsonl SEED COUNT
    python shrinking.py ab OLD_SRC OUT.jsonl SEED COUNT

Run from the repository root with the project's environment.
"""

import functools
import math
import os
import sys

import jax
import numpy as np
from jax import lax

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from ab_timed import medians, old_new_lines, old_package, record_line, sweep_or_ab  # noqa: E402

import jaxconv  # noqa: E402

NAMES = ("col2im", "rows", "taps", "im2col", "banded", "winograd")
DN = {
    "NHWC": ("NHWC", "HWIO", "NHWC"),
    "NCHW": ("NCHW", "OIHW", "NCHW"),
    "NDHWC": ("NDHWC", "DHWIO", "NDHWC"),
    "NCDHW": ("NCDHW", "OIDHW", "NCDHW"),
}
FEATURES = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def draw(rng, rank=2):
    """``(C, O, kernel, dilation, N, spatial, padding, layout)`` of one layer."""
    c, o = (int(rng.choice(FEATURES)) for _ in "co")
    k = int(rng.choice([2, 3, 3, 3, 4, 5, 5, 7] if rank == 2 else [2, 3, 3, 5]))
    d = int(rng.choice([1, 1, 1, 2]))
    n = int(rng.choice([1, 1, 1, 2, 4, 8]))
    span = (k - 1) * d + 1
    spatial = tuple(span + int(rng.integers(1, 4 * span + 4)) for _ in range(rank))
    pad = str(rng.choice(["VALID", "VALID", "VALID", "QUARTER"]))
    if pad == "QUARTER":  # a quarter of SAME's padding on each side
        pad = [((span - 1) // 4,) * 2] * rank
    if os.environ.get("SAME"):
        pad = "SAME"
    layout = str(rng.choice(list(DN)[:2] if rank == 2 else list(DN)[2:]))
    return c, o, (k,) * rank, (d,) * rank, n, spatial, pad, layout


def arrays(rng, c, o, kernel, n, spatial, layout):
    cf = layout[1] == "C"
    xs = (n, c, *spatial) if cf else (n, *spatial, c)
    ws = (o, c, *kernel) if cf else (*kernel, c, o)
    x = rng.standard_normal(xs, np.float32)
    w = rng.standard_normal(ws, np.float32) / np.float32(np.sqrt(math.prod(kernel) * c))
    return jax.numpy.asarray(x), jax.numpy.asarray(w)


def conv(mod, pad, d, layout, strategy="auto"):
    def f(x, w):
        ones = (1,) * len(d)
        kw = dict(rhs_dilation=d, dimension_numbers=DN[layout])
        if mod is lax:
            return lax.conv_general_dilated(x, w, ones, pad, **kw)
        return mod.conv_general_dilated(x, w, ones, pad, **kw, strategy=strategy)

    return f


def choice(mod, x, w, pad, d, layout):
    return mod.chosen_strategy(x, w, (1,) * len(d), pad, None, d, DN[layout])


def layer(rng, rank, lo, hi):
    """A drawn layer of ``lo`` to ``hi`` multiply-adds and at least 1.15 input positions per
    output position (any, with ``SAME=1``), its arrays and its output's positions."""
    while True:
        c, o, kernel, d, n, spatial, pad, layout = draw(rng, rank)
        macs = n * math.prod(spatial) * c * o * math.prod(kernel)
        if not lo <= macs <= hi:
            continue
        x, w = arrays(rng, c, o, kernel, n, spatial, layout)
        out = jax.eval_shape(conv(lax, pad, d, layout), x, w).shape
        out = out[1:-1] if layout[-1] == "C" else out[2:]
        shrink = math.prod(spatial) / max(math.prod(out), 1)
        if shrink >= 1.15 or os.environ.get("SAME"):
            return (c, o, kernel, d, n, spatial, pad, layout, shrink), (x, w)


def sweep(out, seed, count):
    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            (c, o, kernel, d, n, spatial, pad, layout, shrink), (x, w) = layer(rng, 2, 1e7, 2e9)
            if choice(jaxconv, x, w, pad, d, layout) != "col2im":
                continue
            done += 1
            names = [m for m in NAMES if m != "winograd" or (kernel == (3, 3) and d == (1, 1))]
            fns = [jax.jit(conv(lax, pad, d, layout))]
            fns += [jax.jit(conv(jaxconv, pad, d, layout, m)) for m in names]
            t = medians(fns, (x, w), reps=7)
            rec = dict(C=c, O=o, K=kernel[0], D=d[0], N=n, H=spatial[0], W=spatial[1],
                       pad=pad, layout=layout, shrink=shrink, auto="col2im", lax=t[0])  # fmt: skip
            rec.update(zip(names, t[1:], strict=True))
            record_line(fh, rec)


def ab(old_src, out, seed, count):
    old = old_package(old_src)
    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            rank = int(rng.choice([2, 2, 2, 3]))
            (c, o, kernel, d, n, spatial, pad, layout, shrink), args = layer(rng, rank, 1e7, 3e9)
            before, after = (choice(m, *args, pad, d, layout) for m in (old, jaxconv))
            if before == after:
                continue
            done += 1
            fields = dict(C=c, O=o, K=kernel, D=d[0], N=n, spatial=spatial, pad=pad,
                          layout=layout, shrink=shrink)  # fmt: skip
            program = functools.partial(conv, pad=pad, d=d, layout=layout)
            old_new_lines(fh, old, program, args, 9, fields, before, after)


if __name__ == "__main__":
    sweep_or_ab(sweep, ab)
