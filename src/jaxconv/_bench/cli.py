"""``python -m jaxconv bench``: verify against lax and time both."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reps", type=int, default=10, help="timed repetitions per case")


def run(args: argparse.Namespace) -> int:
    import time

    import jax
    import jax.numpy as jnp
    import numpy as np

    import jaxconv

    shapes = [((8, 32, 32, 64), (3, 3, 64, 64), 1), ((8, 32, 32, 128), (3, 3, 4, 128), 32)]
    for dev in jax.devices():
        for xs, ws, g in shapes:
            x = jax.device_put(jnp.asarray(np.random.randn(*xs), jnp.float32), dev)
            w = jax.device_put(jnp.asarray(np.random.randn(*ws), jnp.float32), dev)
            dn = ("NHWC", "HWIO", "NHWC")
            ours = jax.jit(lambda a, b, g=g: jaxconv.conv2d(a, b, padding="SAME", groups=g))
            ref = jax.jit(
                lambda a, b, g=g: jax.lax.conv_general_dilated(
                    a, b, (1, 1), "SAME", dimension_numbers=dn, feature_group_count=g
                )
            )
            err = float(jnp.max(jnp.abs(ours(x, w) - ref(x, w))))
            times = {}
            for name, f in (("jaxconv", ours), ("lax", ref)):
                ts = []
                for _ in range(args.reps):
                    t0 = time.perf_counter()
                    f(x, w).block_until_ready()
                    ts.append(time.perf_counter() - t0)
                times[name] = float(np.median(ts)) * 1e3
            print(f"{dev} x{xs} w{ws} g={g}: max|err|={err:.2e} jaxconv {times['jaxconv']:.2f} ms "
                  f"lax {times['lax']:.2f} ms ratio {times['jaxconv'] / times['lax']:.2f}")
    return 0
