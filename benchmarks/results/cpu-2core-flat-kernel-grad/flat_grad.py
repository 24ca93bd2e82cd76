"""Kernel gradients of ungrouped layers below 4096 output positions and plain GEMMs per tap
(``_grad.flat_kernel_grad``). ``sweep``: 2-d layers (``FOCUS=1``: only those of 256-4095
output positions whose cotangent is wide enough), the kernel gradient alone (``vjp`` in the
kernel), lax and jaxconv's ``auto`` as the tree has it and with plain GEMMs forced. ``ab``:
``auto`` against an older tree on 1-3-d layers whose compiled programs differ, forward and
forward plus both gradients. See README.md.

    python flat_grad.py sweep OUT.jsonl SEED COUNT
    python flat_grad.py ab OLD_SRC OUT.jsonl SEED COUNT

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
from ab_timed import grad_program, medians, old_new_lines, old_package, record_line, sweep_or_ab  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv import _grad  # noqa: E402

DN = {
    1: {"NHWC": ("NWC", "WIO", "NWC"), "NCHW": ("NCW", "OIW", "NCW")},
    2: {"NHWC": ("NHWC", "HWIO", "NHWC"), "NCHW": ("NCHW", "OIHW", "NCHW")},
    3: {"NHWC": ("NDHWC", "DHWIO", "NDHWC"), "NCHW": ("NCDHW", "OIDHW", "NCDHW")},
}


def draw(rng, rank=2):
    """``(I, O, K, stride, N, spatial, padding, layout)`` of one layer."""
    i = int(rng.choice([16, 24, 32, 48, 64, 96, 128, 192, 256]))
    o = int(rng.choice([8, 16, 24, 32, 48, 64, 96, 128, 192, 256]))
    k = int(rng.choice({1: [5, 7, 9, 15, 31], 2: [3, 3, 3, 5, 5, 7], 3: [3, 3, 5]}[rank]))
    s = int(rng.choice([1, 1, 1, 2]))
    n = int(rng.choice([1, 1, 2, 4, 8, 16, 32]))
    rows = float(np.exp(rng.uniform(np.log(128), np.log(20000))))
    side = max(int((rows / n) ** (1 / rank)) * s, k)
    spatial = tuple(side + int(rng.integers(0, 4)) for _ in range(rank))
    pad, layout = str(rng.choice(["SAME", "VALID"])), str(rng.choice(["NHWC", "NCHW"]))
    return i, o, k, s, n, spatial, pad, layout


def arrays(rng, i, o, k, n, spatial, layout):
    rank = len(spatial)
    cl = layout == "NHWC"
    xs = (n, *spatial, i) if cl else (n, i, *spatial)
    ws = (*(k,) * rank, i, o) if cl else (o, i, *(k,) * rank)
    x = jax.numpy.asarray(rng.standard_normal(xs, np.float32))
    w = jax.numpy.asarray(rng.standard_normal(ws, np.float32) * 0.1)
    return x, w


def conv(mod, s, pad, dn):
    def f(x, w):
        st = (s,) * (len(dn[0]) - 2)
        if mod is lax:
            return lax.conv_general_dilated(x, w, st, pad, dimension_numbers=dn)
        return mod.conv_general_dilated(x, w, st, pad, dimension_numbers=dn)

    return f


def dw(f):
    """The kernel gradient of ``f(x, w)`` for a cotangent ``ct``, jitted: ``(x, w, ct) -> dw``."""
    return jax.jit(lambda x, w, ct: jax.vjp(lambda w: f(x, w), w)[1](ct)[0])


def rows_of(y, layout):
    return y.shape[0] * math.prod(y.shape[1:-1] if layout == "NHWC" else y.shape[2:])


def sweep(out, seed, count):
    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            i, o, k, s, n, spatial, pad, layout = draw(rng)
            dn = DN[2][layout]
            x, w = arrays(rng, i, o, k, n, spatial, layout)
            y = jax.eval_shape(conv(lax, s, pad, dn), x, w)
            wide = o >= i or (2 * o >= i and i <= 32)
            if os.environ.get("FOCUS") and not (wide and 256 <= rows_of(y, layout) < 4096):
                continue
            done += 1
            ct = jax.numpy.asarray(rng.standard_normal(y.shape, np.float32))
            fns = [dw(conv(lax, s, pad, dn))]
            for forced in (False, True):  # traced now, with plain GEMMs forced or not
                fns.append(dw(conv(jaxconv, s, pad, dn)))
                saved, _grad.FLAT_GRAD_ROWS = _grad.FLAT_GRAD_ROWS, 1 if forced else 4096
                try:
                    jax.block_until_ready(fns[-1](x, w, ct))
                finally:
                    _grad.FLAT_GRAD_ROWS = saved
            t = medians(fns, (x, w, ct), 7)
            auto = jaxconv.chosen_strategy(x, w, (s, s), pad, dimension_numbers=dn)
            rec = dict(I=i, O=o, K=k, S=s, N=n, H=spatial[0], W=spatial[1], pad=pad,
                       layout=layout, rows=rows_of(y, layout), auto=auto, lax=t[0],
                       cur=t[1], flat=t[2])  # fmt: skip
            record_line(fh, rec)


def ab(old_src, out, seed, count):
    old = old_package(old_src)
    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            rank = int(rng.choice([1, 2, 2, 2, 3]))
            i, o, k, s, n, spatial, pad, layout = draw(rng, rank)
            dn = DN[rank][layout]
            x, w = arrays(rng, i, o, k, n, spatial, layout)
            if math.prod(x.shape) * 4 > 2**28:
                continue
            texts = [
                grad_program(conv(m, s, pad, dn), True).lower(x, w).as_text()
                for m in (old, jaxconv)
            ]
            if texts[0] == texts[1]:
                continue
            done += 1
            y = jax.eval_shape(conv(lax, s, pad, dn), x, w)
            layer = dict(I=i, O=o, K=k, S=s, N=n, spatial=spatial, pad=pad, layout=layout,
                         rows=rows_of(y, layout))  # fmt: skip
            auto = jaxconv.chosen_strategy(x, w, (s,) * rank, pad, dimension_numbers=dn)
            program = functools.partial(conv, s=s, pad=pad, dn=dn)
            old_new_lines(fh, old, program, (x, w), 9, layer, auto, auto)


if __name__ == "__main__":
    sweep_or_ab(sweep, ab)
