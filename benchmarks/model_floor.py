"""How far a faster convolution can take a `--suite models` network's training step: the
step with Flax's convolutions, with jaxconv's (``auto``), and with every convolution replaced
by a nearly free stand-in, timed in the same rounds (the order rotates every round).

The stand-in keeps each layer's parameters and output shape and does a 1x1 convolution's
work: the kernel summed over its taps, applied to each (strided) pixel; a transposed 2x2/2
layer does the same and then repeats each pixel 2x2; a depthwise layer scales each feature.
So the stand-in step is everything but the convolutions (batch norm, activations, pooling,
concatenation, loss, SGD update) plus about 1/k² of them: a floor on what any convolution
gives, since the rest of the step is the same code in both builds.

Also printed: the convolutions' floating-point operations (forward+backward, direct
algorithm) and the matmul throughput jaxconv's convolutions would need to bring the step to
``--target`` of Flax's, against the device's matmul peak measured in the same run.

Usage:

    python benchmarks/model_floor.py [--rounds 15] [--target 0.3] [NET ...]

NET: ``resnet20``, ``mobilenetv2``, ``unet`` (default: all three). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import functools

import jax
import jax.numpy as jnp
from flax import nnx

import jaxconv.nnx
from jaxconv._bench import models, runner, suites


def _stand_in_conv(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                   dimension_numbers=None, feature_group_count=1, **kw):  # fmt: skip
    """NHWC ``lhs``, HWIO ``rhs`` (as the networks call it): a 1x1 convolution's work."""
    strides = (slice(None), *(slice(None, None, s) for s in window_strides), slice(None))
    x, w = lhs[strides], rhs.sum((0, 1))
    if feature_group_count > 1:  # depthwise: one weight per feature
        return x * w.reshape(-1)
    return jnp.einsum("nhwc,co->nhwo", x, w)


def _stand_in_transpose(lhs, rhs, strides, padding, rhs_dilation=None, dimension_numbers=None,
                        **kw):  # fmt: skip
    y = jnp.einsum("nhwc,co->nhwo", lhs, rhs.sum((0, 1)))
    for axis, s in zip((1, 2), strides, strict=True):
        y = jnp.repeat(y, s, axis)
    return y


def stand_in_layers(strategy: str = "auto") -> models.Layers:
    del strategy
    return models.Layers(
        functools.partial(jaxconv.nnx.Conv, conv_general_dilated=_stand_in_conv),
        functools.partial(jaxconv.nnx.ConvTranspose, conv_transpose=_stand_in_transpose),
    )


def conv_gflop(case: suites.ModelCase) -> float:
    """The network's convolutions, forward+backward, in GFLOP (direct algorithm)."""
    total = sum(n * runner.flops(c, "NHWC", "fwd+bwd") for c, n, _ in models.layer_cases(case))
    return total / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("nets", nargs="*", default=[c.name for c in suites.MODELS])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--target", type=float, default=0.3)
    args = parser.parse_args()
    device = jax.devices()[0]
    peak = runner.measure_peak(device, jnp.float32)
    print(f"{device.device_kind}, jax {jax.__version__}, matmul peak {peak:.0f} GFLOP/s, "
          f"{args.rounds} rounds, medians\n")  # fmt: skip
    print("| network | Flax ms | jaxconv ms | ratio | stand-ins ms | floor | conv GFLOP "
          f"| GFLOP/s for {args.target} |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for case in suites.MODELS:
        if case.name not in args.nets:
            continue
        builds = [models.flax_layers(), models.jaxconv_layers(), stand_in_layers()]
        batch = models.make_batch(case, jnp.float32)
        steps = []
        for layers in builds:
            graphdef, params, rest = nnx.split(models.build(case, layers), nnx.Param, ...)
            call = jax.device_put((params, rest, *batch), device)
            compiled, _, _ = runner._compile(models.train_step(graphdef), *call)
            runner._timed(compiled, *call)
            steps.append(functools.partial(compiled, *call))
        fl, jc, floor = (
            runner._stats(s)[0] for s in runner.time_interleaved(steps, (), args.rounds)
        )
        gflop = conv_gflop(case)
        # The stand-ins' own 1x1 work is left in the floor: the figure is a lower bound.
        budget_ms = args.target * fl - floor
        needed = f"{gflop / budget_ms * 1e3:.0f}" if budget_ms > 0 else "none reaches it"
        print(f"| {case.name} | {fl:.1f} | {jc:.1f} | {jc / fl:.2f} | {floor:.1f} "
              f"| {floor / fl:.2f} | {gflop:.2f} | {needed} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
