"""Strided dense 2-d layers and ``col2im``. ``sweep``: layers of 3-256 input features
drawn like a network's, with lax, ``auto`` and ``col2im``, ``im2col``, ``rows`` and
``space_to_depth`` (with ``rows`` inside, as it ships, and with ``col2im``) forced, forward.
``ab``: ``auto`` against an older tree on layers of 96-1024 input features where the two
choose differently, forward and forward plus both gradients. See README.md.

    python strided_deep.py sweep OUT.jsonl SEED COUNT
    python strided_deep.py ab OLD_SRC OUT.jsonl SEED COUNT

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
from jaxconv import _strategies  # noqa: E402

DN = {"NHWC": ("NHWC", "HWIO", "NHWC"), "NCHW": ("NCHW", "OIHW", "NCHW")}
SWEEP_FEATURES = (3, 4, 8, 12, 16, 16, 24, 32, 32, 48, 64, 64, 96, 128, 256)
DEEP_FEATURES = (96, 128, 192, 256, 384, 512, 768, 1024)
OUT_FEATURES = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
FORCED = (("col2im", None), ("im2col", None), ("rows", None), ("space_to_depth", "rows"),
          ("space_to_depth", "col2im"))  # fmt: skip

# The strategy space_to_depth runs inside, forced for the sweep (None: as it ships).
_INNER = {"name": None}
_shipped_inner = _strategies._space_to_depth_inner
_strategies._space_to_depth_inner = lambda p: _INNER["name"] or _shipped_inner(p)


def draw(rng, deep):
    """``(C, O, k, stride, N, (H, W), padding, layout)`` of one layer."""
    if deep:
        c, o = int(rng.choice(DEEP_FEATURES)), int(rng.choice(OUT_FEATURES))
    else:
        c = int(rng.choice(SWEEP_FEATURES))
        o = int(rng.choice([f for f in SWEEP_FEATURES if f >= 8]))
    k = int(rng.choice([2, 3, 3, 3, 4, 5, 5, 7]))
    s = int(rng.choice([2, 2, 2, 3])) if deep else 2
    n = int(rng.choice([1, 1, 1, 2, 4, 8, 16]))
    h = int(rng.integers(max(k, 4 if deep else 12), 225))
    w = int(np.clip(h + rng.integers(-h // 3, h // 3 + 1), k, 224))
    pad = str(rng.choice(["SAME", "SAME", "VALID", "HALF"]))
    if pad == "HALF":
        pad = [((k - 1) // 2,) * 2] * 2
    return c, o, k, s, n, (h, w), pad, str(rng.choice(list(DN)))


def arrays(rng, c, o, k, n, spatial, layout):
    cf = layout == "NCHW"
    xs = (n, c, *spatial) if cf else (n, *spatial, c)
    ws = (o, c, k, k) if cf else (k, k, c, o)
    x = rng.standard_normal(xs, np.float32)
    w = rng.standard_normal(ws, np.float32) / np.float32(np.sqrt(k * k * c))
    return jax.numpy.asarray(x), jax.numpy.asarray(w)


def conv(mod, s, pad, layout, strategy="auto"):
    def f(x, w):
        kw = dict(dimension_numbers=DN[layout])
        if mod is lax:
            return lax.conv_general_dilated(x, w, (s, s), pad, **kw)
        return mod.conv_general_dilated(x, w, (s, s), pad, **kw, strategy=strategy)

    return f


def layer(rng, deep, lo, hi):
    """A drawn layer of ``lo`` to ``hi`` multiply-adds and its arrays."""
    while True:
        c, o, k, s, n, spatial, pad, layout = draw(rng, deep)
        macs = n * math.prod(-(-d // s) for d in spatial) * c * o * k * k
        if lo <= macs <= hi:
            return (c, o, k, s, n, spatial, pad, layout), arrays(rng, c, o, k, n, spatial, layout)


def choice(mod, x, w, s, pad, layout):
    return mod.chosen_strategy(x, w, (s, s), pad, dimension_numbers=DN[layout])


def sweep(out, seed, count):
    rng = np.random.default_rng(seed)
    with open(out, "a") as fh:
        for _ in range(count):
            (c, o, k, s, n, (h, wd), pad, layout), (x, w) = layer(rng, False, 5e6, 1e9)
            fns = [jax.jit(conv(m, s, pad, layout)) for m in (lax, jaxconv)]
            for name, inner in FORCED:
                _INNER["name"] = inner  # read when the program is traced, here
                f = jax.jit(conv(jaxconv, s, pad, layout, name))
                jax.block_until_ready(f(x, w))
                fns.append(f)
            _INNER["name"] = None
            t = medians(fns, (x, w), reps=7)
            auto = choice(jaxconv, x, w, s, pad, layout)
            rec = dict(C=c, O=o, K=k, N=n, H=h, W=wd, pad=pad, layout=layout, grad=False,
                       auto=auto, lax=t[0], auto_ms=t[1])  # fmt: skip
            names = [f"{m}-{i}" if i else m for m, i in FORCED]
            rec.update(zip(names, t[2:], strict=True))
            record_line(fh, rec)


def ab(old_src, out, seed, count):
    old = old_package(old_src)
    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            (c, o, k, s, n, (h, wd), pad, layout), args = layer(rng, True, 5e6, 2e9)
            before, after = (choice(m, *args, s, pad, layout) for m in (old, jaxconv))
            if before == after:
                continue
            done += 1
            fields = dict(C=c, O=o, K=k, S=s, N=n, H=h, W=wd, pad=pad, layout=layout)
            program = functools.partial(conv, s=s, pad=pad, layout=layout)
            old_new_lines(fh, old, program, args, 9, fields, before, after)


if __name__ == "__main__":
    sweep_or_ab(sweep, ab)
