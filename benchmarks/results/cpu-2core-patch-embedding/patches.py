"""Patch embeddings: dense layers whose kernel equals their stride along every spatial dim
(ViT's 16x16/16, ConvNeXt's 4x4/4, Swin's 4x4/4, 1-d and 3-d ones), each window read once.
``sweep``: layers of ranks 1-3 with lax, ``auto`` and ``space_to_depth``, ``im2col`` and
``banded`` forced, forward. ``ab``: ``auto`` against an older tree where the two choose
differently, forward and forward plus both gradients. See README.md.

    python patches.py sweep OUT.jsonl SEED COUNT
    python patches.py ab OLD_SRC OUT.jsonl SEED COUNT

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

DN = {
    (1, False): ("NWC", "WIO", "NWC"),
    (1, True): ("NCW", "OIW", "NCW"),
    (2, False): ("NHWC", "HWIO", "NHWC"),
    (2, True): ("NCHW", "OIHW", "NCHW"),
    (3, False): ("NDHWC", "DHWIO", "NDHWC"),
    (3, True): ("NCDHW", "OIDHW", "NCDHW"),
}
IN_FEATURES = (1, 3, 3, 3, 4, 8, 16, 32, 64, 96, 128, 192, 256, 384, 512, 768)
OUT_FEATURES = (8, 16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
PATCH = {1: (2, 4, 8, 16, 32, 160), 2: (2, 2, 3, 4, 4, 7, 8, 14, 16, 16, 32), 3: (2, 2, 4, 8, 16)}
FORCED = ("space_to_depth", "im2col", "banded")
SLOW_COMPILE_PHASES = 64


def draw(rng):
    """``(C, O, kernel, N, spatial, padding, channels_first)`` of one layer."""
    rank = int(rng.choice([1, 2, 2, 2, 2, 3]))
    k = int(rng.choice(PATCH[rank]))
    kernel = (k,) * rank
    if rank == 2 and rng.random() < 0.15:  # an oblong patch
        kernel = (k, int(rng.choice([1, 2, 4])))
    c, o = int(rng.choice(IN_FEATURES)), int(rng.choice(OUT_FEATURES))
    n = int(rng.choice([1, 2, 4, 8, 16, 32]))
    top = {1: 16384, 2: 256, 3: 40}[rank]
    # Mostly whole patches; now and then a remainder that VALID drops or SAME pads.
    spatial = tuple(
        kk * int(rng.integers(1, max(2, top // kk) + 1)) + int(rng.random() < 0.2) * (kk // 2)
        for kk in kernel
    )
    pad = str(rng.choice(["VALID", "VALID", "VALID", "SAME"]))
    return c, o, kernel, n, spatial, pad, bool(rng.random() < 0.5)


def arrays(rng, c, o, kernel, n, spatial, cf):
    xs = (n, c, *spatial) if cf else (n, *spatial, c)
    ws = (o, c, *kernel) if cf else (*kernel, c, o)
    x = rng.standard_normal(xs, np.float32)
    w = rng.standard_normal(ws, np.float32) / np.float32(np.sqrt(math.prod(kernel) * c))
    return jax.numpy.asarray(x), jax.numpy.asarray(w)


def conv(mod, kernel, pad, cf, strategy="auto"):
    def f(x, w):
        kw = dict(dimension_numbers=DN[len(kernel), cf])
        if mod is lax:
            return lax.conv_general_dilated(x, w, kernel, pad, **kw)
        return mod.conv_general_dilated(x, w, kernel, pad, **kw, strategy=strategy)

    return f


def layer(rng, lo, hi):
    while True:
        c, o, kernel, n, spatial, pad, cf = draw(rng)
        patches = math.prod(-(-s // k) for s, k in zip(spatial, kernel, strict=True))
        macs = n * patches * math.prod(kernel) * c * o
        if lo <= macs <= hi:
            return (c, o, kernel, n, spatial, pad, cf), arrays(rng, c, o, kernel, n, spatial, cf)


def choice(mod, x, w, kernel, pad, cf):
    return mod.chosen_strategy(x, w, kernel, pad, dimension_numbers=DN[len(kernel), cf])


def sweep(out, seed, count):
    rng = np.random.default_rng(seed)
    with open(out, "a") as fh:
        for _ in range(count):
            (c, o, kernel, n, spatial, pad, cf), (x, w) = layer(rng, 2e6, 2e9)
            fns = [jax.jit(conv(m, kernel, pad, cf)) for m in (lax, jaxconv)]
            fns += [jax.jit(conv(jaxconv, kernel, pad, cf, m)) for m in FORCED]
            t = medians(fns, (x, w), reps=7)
            auto = choice(jaxconv, x, w, kernel, pad, cf)
            rec = dict(C=c, O=o, K=kernel, N=n, spatial=spatial, pad=pad, cf=cf, auto=auto,
                       lax=t[0], auto_ms=t[1])  # fmt: skip
            rec.update(zip(FORCED, t[2:], strict=True))
            record_line(fh, rec)


def ab(old_src, out, seed, count):
    old = old_package(old_src)
    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            (c, o, kernel, n, spatial, pad, cf), args = layer(rng, 2e6, 2e9)
            before, after = (choice(m, *args, kernel, pad, cf) for m in (old, jaxconv))
            if before == after:
                continue
            if before == "col2im" and math.prod(kernel) > SLOW_COMPILE_PHASES:
                # Phases of one tap each: minutes to compile; counted, not timed.
                record_line(fh, dict(C=c, O=o, K=kernel, N=n, spatial=spatial, pad=pad, cf=cf,
                                     before=before, after=after, skipped=True))  # fmt: skip
                continue
            done += 1
            fields = dict(C=c, O=o, K=kernel, N=n, spatial=spatial, pad=pad, cf=cf)
            program = functools.partial(conv, kernel=kernel, pad=pad, cf=cf)
            old_new_lines(fh, old, program, args, 9, fields, before, after)


if __name__ == "__main__":
    sweep_or_ab(sweep, ab)
