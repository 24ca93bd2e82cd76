"""Forced strategies on 1-d channels-last layers with long kernels: auto, col2im, im2col on
windows (``jaxconv._taps.windows_of``) and im2col on stacked taps, timed interleaved with
lax (medians), as ratios to lax.

    python benchmarks/results/cpu-2core-window-patches/forced_grid.py
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv
from jaxconv import _taps
from jaxconv._bench import runner

DN = ("NWC", "WIO", "NWC")
# (batch, positions, in features, out features, taps, stride)
LAYERS = [
    (1, 161, 64, 64, 127, 1),
    (1, 127, 64, 64, 127, 1),
    (1, 300, 32, 32, 63, 1),
    (2, 1000, 16, 16, 31, 1),
    (1, 2000, 64, 64, 31, 1),
    (4, 500, 128, 128, 15, 1),
    (8, 700, 32, 64, 9, 1),
    (2, 4000, 8, 16, 31, 1),
    (1, 744, 64, 16, 255, 2),
    (6, 724, 24, 48, 31, 2),
    (1, 512, 256, 256, 63, 1),
    (16, 256, 64, 64, 63, 1),
]


def medians_ms(fns, args, reps=15):
    for f in fns:
        jax.block_until_ready(f(*args))
    return [1e3 * float(np.median(t)) for t in runner.time_interleaved(fns, args, reps)]


def forced(strategy, stride):
    conv = jaxconv.conv_general_dilated
    return jax.jit(lambda x, w: conv(x, w, (stride,), "SAME", dimension_numbers=DN,
                                     strategy=strategy))  # fmt: skip


def main():
    rng = np.random.default_rng(0)
    for n, positions, c, o, k, s in LAYERS:
        x = jnp.asarray(rng.standard_normal((n, positions, c), np.float32))
        w = jnp.asarray(rng.standard_normal((k, c, o), np.float32))
        ref = jax.jit(lambda x, w, s=s: lax.conv_general_dilated(x, w, (s,), "SAME",
                                                                 dimension_numbers=DN))  # fmt: skip
        fns = [ref, forced("auto", s), forced("col2im", s), forced("im2col", s)]
        saved, _taps.WINDOW_TAPS = _taps.WINDOW_TAPS, 10**9
        stacked = forced("im2col", s)
        jax.block_until_ready(stacked(x, w))  # traced (and compiled) on stacked taps
        _taps.WINDOW_TAPS = saved
        t = medians_ms([*fns, stacked], (x, w))
        print(f"n{n} {positions} {c}->{o} K{k} s{s}: auto {t[1] / t[0]:.2f} "
              f"col2im {t[2] / t[0]:.2f} im2col-windows {t[3] / t[0]:.2f} "
              f"im2col-stacked {t[4] / t[0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
