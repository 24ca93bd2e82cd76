"""Both gradients of a few layers with fewer output positions than taps: the kernel gradient
as one GEMM of the stacked windows (``_grad.kernel_grad_by_output``, "new") against per tap
("old", ``BY_OUTPUT_POSITIONS = 0``), and lax, timed in the same run (medians).

Run: ``PYTHONPATH=src python benchmarks/results/cpu-2core-long-kernels/kernel_grad_ab.py``
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv
from jaxconv import _grad

NHWC, NCHW = ("NHWC", "HWIO", "NHWC"), ("NCHW", "OIHW", "NCHW")
CASES = [
    ((8, 2, 2, 512), (3, 3, 512, 512), NHWC, dict(window_strides=(1, 1), padding="SAME")),
    ((32, 4, 4, 256), (3, 3, 256, 256), NHWC, dict(window_strides=(2, 2), padding="SAME")),
    ((8, 512, 2, 2), (512, 512, 3, 3), NCHW, dict(window_strides=(1, 1), padding="SAME")),
    ((32, 7, 7, 64), (7, 7, 64, 128), NHWC, dict(window_strides=(1, 1), padding="VALID")),
    ((8, 64, 31), (64, 64, 31), ("NCW", "OIW", "NCW"), dict(window_strides=(1,), padding="VALID")),
    ((8, 9, 64), (9, 64, 64), ("NWC", "WIO", "NWC"), dict(window_strides=(2,), padding="VALID")),
    ((16, 3, 3, 128), (3, 3, 128, 128), NHWC, dict(window_strides=(1, 1), padding="SAME")),
]


def median_seconds(f, *args, reps=15):
    jax.block_until_ready(f(*args))
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    rng = np.random.default_rng(0)
    for x_shape, w_shape, dn, kw in CASES:
        x = jnp.asarray(rng.standard_normal(x_shape), jnp.float32)
        w = jnp.asarray(rng.standard_normal(w_shape), jnp.float32)
        times = {}
        for mode, conv in [
            ("lax", lax.conv_general_dilated),
            ("new", jaxconv.conv_general_dilated),
            ("old", jaxconv.conv_general_dilated),
        ]:
            _grad.BY_OUTPUT_POSITIONS = 0 if mode == "old" else 64

            def loss(x, w, conv=conv, dn=dn, kw=kw):
                return (conv(x, w, dimension_numbers=dn, **kw) ** 2).sum()

            times[mode] = median_seconds(jax.jit(jax.grad(loss, argnums=(0, 1))), x, w)
        ms = " ".join(f"{k} {v * 1e3:.2f}ms" for k, v in times.items())
        print(x_shape, w_shape, dn[0], kw, ms, f"new/old {times['new'] / times['old']:.2f}")


if __name__ == "__main__":
    main()
