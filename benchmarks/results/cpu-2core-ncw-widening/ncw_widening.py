"""1-d dense layers of channels-first data (``NCW``) and ``col2im``. ``sweep``: unit-stride
layers where ``auto`` runs ``col2im``, with lax and ``col2im``, ``im2col`` and ``banded``
forced. ``ab``: ``auto`` against an older tree on such layers (kernel dilation 1-2) where
the two choose differently, forward and forward plus both gradients. See README.md.

    python ncw_widening.py sweep OUT.jsonl SEED COUNT
    python ncw_widening.py ab OLD_SRC OUT.jsonl SEED COUNT

Run from the repository root with the project's environment.
"""

import functools
import os
import sys

import jax
import numpy as np
from jax import lax

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [
    os.path.join(HERE, "..", ".."),
    os.path.join(HERE, "..", "cpu-2core-fft-shallow-1d"),
]
from ab_timed import medians, old_new_lines, old_package, record_line, sweep_or_ab  # noqa: E402
from shallow_fft import arrays, choice, conv  # noqa: E402

import jaxconv  # noqa: E402

NAMES = ("col2im", "im2col", "banded")


def draw(rng):
    """``(C, O, K, N, L, padding)`` of one layer of ``sweep``."""
    c = int(rng.choice([5, 6, 8, 8, 12, 16, 16, 24, 32, 48]))
    o = int(rng.choice([4, 8, 12, 16, 24, 32, 48, 64, 96, 128]))
    k = int(rng.choice([3, 3, 5, 5, 7, 9, 11, 15, 21, 31]))
    n = int(rng.choice([1, 2, 4, 8, 16, 32]))
    total = int(rng.choice([1024, 4096, 16384, 32768]))
    length = max(total // n, k) + int(rng.integers(0, 60))
    return c, o, k, n, length, str(rng.choice(["SAME", "VALID"]))


def draw_heldout(rng):
    """``(C, O, K, N, L, padding, dilation)`` of one layer of ``ab``."""
    c = int(rng.choice([5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64]))
    o = int(rng.choice([4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]))
    k = int(rng.choice([2, 3, 3, 4, 5, 5, 7, 9, 11, 15, 21, 31, 63]))
    n = int(rng.choice([1, 2, 4, 8, 16, 32, 64]))
    total = int(rng.choice([256, 1024, 4096, 16384, 65536]))
    length = max(total // n, k) + int(rng.integers(0, 60))
    return c, o, k, n, length, str(rng.choice(["SAME", "VALID"])), int(rng.choice([1, 1, 1, 2]))


def sweep(out, seed, count):
    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            c, o, k, n, length, pad = draw(rng)
            x, w = arrays(rng, c, o, k, n, length, "NCW")
            if choice(jaxconv, x, w, 1, pad, "NCW") != "col2im":
                continue
            done += 1
            fns = [jax.jit(conv(lax, 1, pad, "NCW"))]
            fns += [jax.jit(conv(jaxconv, 1, pad, "NCW", m)) for m in NAMES]
            t = medians(fns, (x, w), reps=9)
            rec = dict(C=c, O=o, K=k, S=1, N=n, L=length, layout="NCW", pad=pad,
                       auto="col2im", lax=t[0])  # fmt: skip
            rec.update(zip(NAMES, t[1:], strict=True))
            record_line(fh, rec)


def ab(old_src, out, seed, count):
    old = old_package(old_src)
    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            c, o, k, n, length, pad, d = draw_heldout(rng)
            length = max(length, (k - 1) * d + 1)
            x, w = arrays(rng, c, o, k, n, length, "NCW")
            before, after = (choice(m, x, w, 1, pad, "NCW", d) for m in (old, jaxconv))
            if before == after:
                continue
            done += 1
            layer = dict(C=c, O=o, K=k, D=d, N=n, L=length, pad=pad)
            program = functools.partial(conv, s=1, pad=pad, layout="NCW", d=d)
            old_new_lines(fh, old, program, (x, w), 9, layer, before, after)


if __name__ == "__main__":
    sweep_or_ab(sweep, ab)
