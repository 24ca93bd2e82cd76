"""1-d dense layers and ``fft``. ``sweep``: strided long kernels (15-127 taps) of 12-64
input features and no more output features than input ones (where
``_policy.strided_col2im_pays`` runs ``col2im``), lax, ``auto`` and five strategies forced.
``ab``: ``auto`` against an older tree on 1-d dense layers of 12-24 input features (any
stride, 5-255 taps, dilation 1-2) where the two choose differently, forward and forward
plus both gradients. See README.md.

    python shallow_fft.py sweep OUT.jsonl SEED COUNT
    python shallow_fft.py ab OLD_SRC OUT.jsonl SEED COUNT

Run from the repository root with the project's environment.
"""

import functools
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from ab_timed import medians, old_new_lines, old_package, record_line, sweep_or_ab  # noqa: E402

import jaxconv  # noqa: E402

NAMES = ("col2im", "im2col", "taps", "banded", "fft")
DN = {"NWC": ("NWC", "WIO", "NWC"), "NCW": ("NCW", "OIW", "NCW")}


def draw(rng):
    """``(C, O, K, stride, N, L, layout, padding)`` of one layer."""
    c = int(rng.choice([12, 16, 24, 32, 48, 64]))
    o = int(rng.choice([o for o in (4, 8, 12, 16, 24, 32, 48, 64) if c // 4 <= o <= c]))
    k = int(rng.choice([15, 21, 31, 41, 63, 95, 127]))
    s = int(rng.choice([2, 2, 2, 3, 4]))
    n = int(rng.choice([1, 1, 2, 4, 8, 16]))
    total = int(rng.choice([512, 2048, 8192, 32768]))
    length = max(total // n, k) + int(rng.integers(0, 60))
    return c, o, k, s, n, length, str(rng.choice(list(DN))), str(rng.choice(["SAME", "VALID"]))


def draw_heldout(rng):
    """``(C, O, K, stride, N, L, layout, padding, dilation)`` of one layer of ``ab``."""
    c = int(rng.choice([12, 16, 20, 24]))
    o = int(rng.choice([4, 8, 12, 16, 24, 32, 48, 64, 96]))
    k = int(rng.choice([5, 9, 15, 21, 31, 41, 63, 95, 127, 255]))
    s = int(rng.choice([1, 1, 2, 2, 3, 4]))
    n = int(rng.choice([1, 1, 2, 4, 8, 16]))
    total = int(rng.choice([512, 2048, 8192, 32768]))
    length = max(total // n, k) + int(rng.integers(0, 60))
    layout, pad = str(rng.choice(list(DN))), str(rng.choice(["SAME", "VALID"]))
    return c, o, k, s, n, length, layout, pad, int(rng.choice([1, 1, 1, 2]))


def arrays(rng, c, o, k, n, length, layout):
    xs, ws = ((n, length, c), (k, c, o)) if layout == "NWC" else ((n, c, length), (o, c, k))
    x = rng.standard_normal(xs, np.float32)
    w = rng.standard_normal(ws, np.float32) / np.float32(np.sqrt(k * c))
    return jnp.asarray(x), jnp.asarray(w)


def conv(mod, s, pad, layout, strategy="auto", d=1):
    def f(x, w):
        kw = dict(rhs_dilation=(d,), dimension_numbers=DN[layout])
        if mod is lax:
            return lax.conv_general_dilated(x, w, (s,), pad, **kw)
        return mod.conv_general_dilated(x, w, (s,), pad, **kw, strategy=strategy)

    return f


def choice(mod, x, w, s, pad, layout, d=1):
    return mod.chosen_strategy(x, w, (s,), pad, None, (d,), DN[layout])


def sweep(out, seed, count):
    rng = np.random.default_rng(seed)
    with open(out, "a") as fh:
        for _ in range(count):
            c, o, k, s, n, length, layout, pad = draw(rng)
            x, w = arrays(rng, c, o, k, n, length, layout)
            names = [m for m in NAMES if not (m == "fft" and k * c * o < 4096)]
            fns = [jax.jit(conv(lax, s, pad, layout))]
            fns += [jax.jit(conv(jaxconv, s, pad, layout, m)) for m in ("auto", *names)]
            t = medians(fns, (x, w), reps=7)
            auto = choice(jaxconv, x, w, s, pad, layout)
            rec = dict(C=c, O=o, K=k, S=s, N=n, L=length, layout=layout, pad=pad,
                       auto=auto, lax=t[0], auto_ms=t[1])  # fmt: skip
            rec.update(zip(names, t[2:], strict=True))
            record_line(fh, rec)


def ab(old_src, out, seed, count):
    old = old_package(old_src)
    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            c, o, k, s, n, length, layout, pad, d = draw_heldout(rng)
            length = max(length, (k - 1) * d + 1)
            x, w = arrays(rng, c, o, k, n, length, layout)
            before, after = (choice(m, x, w, s, pad, layout, d) for m in (old, jaxconv))
            if before == after:
                continue
            done += 1
            layer = dict(C=c, O=o, K=k, S=s, D=d, N=n, L=length, layout=layout, pad=pad)
            program = functools.partial(conv, s=s, pad=pad, layout=layout, d=d)
            old_new_lines(fh, old, program, (x, w), 9, layer, before, after)


if __name__ == "__main__":
    sweep_or_ab(sweep, ab)
