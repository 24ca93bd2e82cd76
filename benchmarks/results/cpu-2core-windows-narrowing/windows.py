"""Long 1-d kernels on channels-last data (``NWC``), where ``auto`` runs ``im2col`` on
windows (``_policy._windows_over_col2im``, ``_policy._windows_over_fft``). ``sweep``:
layers where it does so over ``col2im``, with lax and ``col2im``, ``im2col``, ``banded``,
``fft`` forced. ``wide``: wide layers on few rows where ``fft_pays`` and ``im2col`` builds
windows, lax, ``im2col`` and ``fft``. ``ab``: ``auto`` against an older tree on layers where
the two choose differently, forward and forward plus both gradients. See README.md.

    python windows.py sweep OUT.jsonl SEED COUNT
    python windows.py wide OUT.jsonl SEED COUNT
    python windows.py ab OLD_SRC OUT.jsonl SEED COUNT

Run from the repository root with the project's environment.
"""

import functools
import math
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
from jaxconv import _policy, _strategies, _taps  # noqa: E402
from jaxconv._plan import make_plan  # noqa: E402

NWC = ("NWC", "WIO", "NWC")
NAMES = ("col2im", "im2col", "banded", "fft")


def plan_of(c, o, k, s, n, length, pad):
    return make_plan((n, length, c), (k, c, o), (s,), pad, dimension_numbers=NWC)


def draw(rng):
    """``(C, O, K, stride, N, L, padding)`` of one layer of ``sweep``."""
    c = int(rng.choice([16, 24, 32, 48, 64, 96, 128]))
    o = int(rng.choice([o for o in (8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256) if 2 * c >= o]))
    k = int(rng.choice([16, 21, 31, 41, 63, 127]))
    s = int(rng.choice([1, 1, 1, 2]))
    n = int(rng.choice([1, 2, 4, 8, 16, 32, 64]))
    total = int(rng.choice([512, 2048, 8192, 32768]))
    length = max(total // n, 8) + int(rng.integers(0, 60))
    pad = str(rng.choice(["SAME", "VALID"]))
    return c, o, k, s, n, max(length, k) if pad == "VALID" else length, pad


def draw_wide(rng):
    """``(C, O, K, stride, N, L, padding)`` of one layer of ``wide``."""
    c, o = (int(rng.choice([64, 96, 128, 192, 256])) for _ in range(2))
    k, n = int(rng.choice([31, 63, 127])), int(rng.choice([1, 1, 2, 4]))
    length = int(rng.choice([256, 384, 512, 768, 1024, 2048])) + int(rng.integers(0, 40))
    return c, o, k, 1, n, length, "SAME"


def draw_heldout(rng):
    """``(C, O, K, stride, N, L, padding)`` of one layer of ``ab``."""
    c = int(rng.choice([16, 20, 24, 32, 40, 48, 64, 96, 128, 160, 256]))
    o = int(rng.choice([4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]))
    k = int(rng.choice([16, 21, 31, 41, 63, 95, 127]))
    s = int(rng.choice([1, 1, 1, 2]))
    n = int(rng.choice([1, 2, 4, 8, 16, 32, 64]))
    total = int(rng.choice([512, 2048, 8192, 32768]))
    length = max(total // n, 8) + int(rng.integers(0, 60))
    pad = str(rng.choice(["SAME", "VALID"]))
    return c, o, k, s, n, max(length, k) if pad == "VALID" else length, pad


def timed(fh, rng, layer, names, reps, **fields):
    c, o, k, s, n, length, pad = layer
    x, w = arrays(rng, c, o, k, n, length, "NWC")
    fns = [jax.jit(conv(lax, s, pad, "NWC"))]
    fns += [jax.jit(conv(jaxconv, s, pad, "NWC", m)) for m in names]
    t = medians(fns, (x, w), reps)
    rec = dict(C=c, O=o, K=k, S=s, N=n, L=length, layout="NWC", pad=pad, **fields, lax=t[0])
    rec.update(zip(names, t[1:], strict=True))
    record_line(fh, rec)


def sweep(out, seed, count):
    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            layer = draw(rng)
            plan = plan_of(*layer)

            def allowed(m, plan=plan):
                return _strategies.feasible(m, plan, np.float32)

            if _policy._windows_over_col2im(plan, "col2im", allowed) != "im2col":
                continue
            x, w = arrays(rng, *layer[:3], *layer[4:6], "NWC")
            if choice(jaxconv, x, w, layer[3], layer[6], "NWC") != "im2col":
                continue
            done += 1
            timed(fh, rng, layer, NAMES, 7, auto="im2col")


def wide(out, seed, count):
    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            layer = draw_wide(rng)
            plan = plan_of(*layer)
            if not (_policy.fft_pays(plan, "im2col") and _taps.builds_windows(plan)):
                continue
            blocks = _strategies.fft_blocks(plan)
            rows = plan.batch * math.prod(blocks.count)
            if rows > 40:
                continue
            done += 1
            ratio = plan.flops / 2 / _strategies.fft_cost(plan, blocks)
            timed(fh, rng, layer, ("im2col", "fft"), 5, rows=rows, ratio=ratio)


def ab(old_src, out, seed, count):
    old = old_package(old_src)
    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            c, o, k, s, n, length, pad = draw_heldout(rng)
            x, w = arrays(rng, c, o, k, n, length, "NWC")
            before, after = (choice(m, x, w, s, pad, "NWC") for m in (old, jaxconv))
            if before == after:
                continue
            done += 1
            layer = dict(C=c, O=o, K=k, S=s, N=n, L=length, pad=pad)
            program = functools.partial(conv, s=s, pad=pad, layout="NWC")
            old_new_lines(fh, old, program, (x, w), 7, layer, before, after)


if __name__ == "__main__":
    sweep_or_ab(sweep, ab, wide=wide)
