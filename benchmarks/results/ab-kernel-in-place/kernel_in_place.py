"""Layers that mostly read their kernel, given OIHW on NCHW data: lax, ``auto`` with the
kernel read in place (``im2col`` where ``_strategies.reads_kernel_in_place``) and ``auto``
as before (``KERNEL_IN_PLACE`` out of reach: the canonical kernel is a copy), forward,
compiled once each and timed in the same rounds (9, medians). Prints a markdown table.

    PYTHONPATH=src python benchmarks/results/ab-kernel-in-place/kernel_in_place.py
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv
from jaxconv import _policy, _strategies
from jaxconv._plan import make_plan

DN = ("NCHW", "OIHW", "NCHW")
KW = dict(window_strides=(1, 1), padding="SAME", dimension_numbers=DN)
# (input features, output features, map side, batch, kernel side)
LAYERS = [
    (512, 512, 7, 1, 3), (512, 512, 7, 2, 3), (512, 512, 7, 4, 3), (512, 512, 7, 8, 3),
    (512, 1024, 7, 2, 3), (256, 256, 7, 2, 3), (256, 512, 5, 2, 3), (512, 512, 14, 1, 3),
    (256, 256, 14, 1, 3), (256, 256, 14, 4, 3), (64, 64, 28, 1, 3), (1024, 1024, 3, 1, 3),
    (1024, 1024, 7, 1, 3), (1024, 1024, 7, 2, 3), (512, 512, 4, 1, 3), (128, 256, 4, 1, 3),
    (512, 512, 5, 4, 3), (256, 256, 8, 2, 5), (2048, 2048, 1, 1, 1), (512, 512, 7, 1, 1),
    (2048, 512, 7, 1, 1), (512, 2048, 7, 4, 1),
]  # fmt: skip


def main():
    print("| layer | kernel / patches | lax ms | auto before | ms | auto now | ms | now / before "
          "| now / lax |")  # fmt: skip
    print("| --- | ---: | ---: | --- | ---: | --- | ---: | ---: | ---: |")
    rng = np.random.default_rng(0)
    for c, o, hw, b, k in LAYERS:
        x = jnp.asarray(rng.standard_normal((b, c, hw, hw)), jnp.float32)
        w = jnp.asarray(rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k), jnp.float32)
        dn = jaxconv.conv_dimension_numbers(4, DN)
        plan = make_plan(x.shape, w.shape, (1, 1), "SAME", dimension_numbers=dn)
        fns, names = {}, {}
        fns["lax"] = jax.jit(lambda x, w: lax.conv_general_dilated(x, w, **KW))
        for label, limit in (("before", float("inf")), ("now", _strategies.KERNEL_IN_PLACE)):
            saved, _strategies.KERNEL_IN_PLACE = _strategies.KERNEL_IN_PLACE, limit
            names[label] = _policy.decide(plan, "auto", jnp.float32)[0]
            conv = jax.jit(lambda x, w: jaxconv.conv_general_dilated(x, w, **KW))
            fns[label] = conv.lower(x, w).compile()
            _strategies.KERNEL_IN_PLACE = saved
        want = np.asarray(fns["lax"](x, w))
        for f in fns.values():
            np.testing.assert_allclose(np.asarray(f(x, w)), want, rtol=1e-4, atol=1e-4)
        times = {label: [] for label in fns}
        labels = list(fns)
        for r in range(9):
            for label in labels[r % 3 :] + labels[: r % 3]:  # no program always first
                t = time.perf_counter()
                jax.block_until_ready(fns[label](x, w))
                times[label].append(time.perf_counter() - t)
        ms = {label: 1e3 * float(np.median(t)) for label, t in times.items()}
        ratio = (o * c * k * k) / (b * hw * hw * k * k * c)
        now, before, ref = ms["now"], ms["before"], ms["lax"]
        print(f"| {c} -> {o} {k}x{k} on {b}x{hw}x{hw} | {ratio:.1f} | {ref:.2f} "
              f"| {names['before']} | {before:.2f} | {names['now']} | {now:.2f} "
              f"| {now / before:.2f} | {now / ref:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
