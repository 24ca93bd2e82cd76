"""Taps: the slices of the input that each kernel position meets, shared by the strategies.

Tap ``(i, j, ...)`` of a convolution is the input every output position reads at kernel
offset ``(i, j, ...)``: a strided slice of the padded (and dilated) input with the output's
spatial shape. Most strategies are ways of contracting taps with the kernel; the gradients
contract them with the output cotangent. Here is how taps are cut (with the padding folded
into each slice, so the padded input is never built), when they are too large to hold all
at once, and how they are then visited one by one in a ``lax.scan``.

Everything works on either compute layout: the plan's ``spatial_axes`` say where the
spatial dims are.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._padding import pad_spatial
from ._plan import ConvPlan


def acc_dtype(dtype, preferred):
    """Accumulate low-precision floats in float32 so that summing taps adds no rounding."""
    if preferred is not None:
        return jnp.dtype(preferred)
    if jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32:
        return jnp.dtype(jnp.float32)
    return jnp.dtype(dtype)


def window_taps(
    xp: jnp.ndarray,
    spatial_axes: Sequence[int],
    kernel: Sequence[int],
    dilation: Sequence[int],
    strides: Sequence[int],
    out_spatial: Sequence[int],
) -> Iterator[jnp.ndarray]:
    """Yield one strided slice of the padded input ``xp`` per kernel tap, row-major.

    Along each spatial axis tap ``i`` starts at ``i * dilation`` and takes ``out`` elements
    ``stride`` apart. Every slice has ``xp``'s shape with the spatial sizes replaced by
    ``out_spatial``.
    """
    yield from shifted_taps(
        xp, spatial_axes, kernel, dilation, strides, out_spatial, ((0, 0),) * len(kernel)
    )


def _tap_bounds(size: int, low: int, offset: int, stride: int, out: int) -> tuple[int, int, int]:
    """For one axis and tap offset: (first valid output, valid count, first input index).

    Output ``o`` reads input ``o * stride + offset - low``; it is valid when that index
    lies in ``[0, size)``, and padding otherwise.
    """
    first = max(0, -(-(low - offset) // stride))
    last = min(out - 1, (size - 1 + low - offset) // stride)
    count = max(0, last - first + 1)
    return first, count, first * stride + offset - low


def shifted_taps(
    x: jnp.ndarray,
    spatial_axes: Sequence[int],
    kernel: Sequence[int],
    dilation: Sequence[int],
    strides: Sequence[int],
    out_spatial: Sequence[int],
    pads: Sequence[tuple[int, int]],
) -> Iterator[jnp.ndarray]:
    """Yield the taps of a zero-padded ``x`` without materialising the padded input.

    Each tap is a strided slice of ``x`` padded with the zeros that the padding places
    under it, so XLA can fuse it into whatever consumes it. The result equals
    :func:`window_taps` applied to ``x`` padded by ``pads``.
    """
    zero = jnp.zeros((), x.dtype)
    for offsets in itertools.product(*(range(k) for k in kernel)):
        start = [0] * x.ndim
        limit = list(x.shape)
        step = [1] * x.ndim
        config = [(0, 0, 0)] * x.ndim
        for ax, i, d, s, o, (lo, _) in zip(
            spatial_axes, offsets, dilation, strides, out_spatial, pads, strict=True
        ):
            first, count, begin = _tap_bounds(x.shape[ax], lo, i * d, s, o)
            if count == 0:  # the whole tap lies in the padding
                first, begin = o, 0
            start[ax], limit[ax], step[ax] = begin, begin + max(count - 1, 0) * s + min(count, 1), s
            config[ax] = (first, o - first - count, 0)
        tap = lax.slice(x, start, limit, step)
        yield tap if all(c == (0, 0, 0) for c in config) else lax.pad(tap, zero, config)


def padded_input(x: jnp.ndarray, plan: ConvPlan) -> jnp.ndarray:
    """``x`` zero-padded and dilated as ``plan`` says: what the window slides over."""
    return pad_spatial(x, plan.spatial_axes, plan.pads, plan.lhs_dilation)


WINDOW_TAPS = 16
"""Fewest taps for which a 1-d channels-last plan's patches are built as overlapping
windows (:func:`windows_of`)."""


def builds_windows(plan: ConvPlan) -> bool:
    """Whether ``im2col`` builds ``plan``'s patches with :func:`windows_of`: a 1-d
    channels-last plan of at least :data:`WINDOW_TAPS` taps with no dilation."""
    return (
        plan.num_spatial == 1
        and not plan.channels_first
        and plan.rhs_dilation == plan.lhs_dilation == (1,)
        and plan.taps >= WINDOW_TAPS
    )


def windows_of(x: jnp.ndarray, plan: ConvPlan) -> jnp.ndarray:
    """The patches ``(N, out, K, C)`` of a 1-d channels-last plan (:func:`builds_windows`)
    as overlapping windows of the padded input flattened to ``(N, L·C)``: the window of
    output ``i`` is the ``K·C`` elements from ``i·s·C`` on, one contiguous copy each
    (a gather), where stacking ``K`` taps writes ``K`` slices of ``C`` elements per row."""
    xp = padded_input(x, plan)
    n, length, c = xp.shape
    flat = xp.reshape(n, length * c)
    size = plan.taps * c
    starts = jnp.arange(plan.out_spatial[0]) * (plan.strides[0] * c)
    windows = jax.vmap(lambda i: lax.dynamic_slice_in_dim(flat, i, size, axis=1), out_axes=1)
    return windows(starts).reshape(n, plan.out_spatial[0], plan.taps, c)


CHANNELS_FIRST_PADDED_TAPS = 9
"""Most taps that a fused loop over channels-first data with one input feature per group
(``depthwise``, and ``direct`` on one feature) reads as padded taps of the unpadded input;
with more, and unit strides, it reads slices of the input padded once (:func:`taps_of`).

Each padded tap costs the loop its own bounds checks per element. Measured on CPU, both
forms of ``depthwise`` in the same rounds on 43 channels-first layers of 1-3 spatial dims
(``benchmarks/results/cpu-2core-channels-first-padded-taps``): with more than 9 taps (35
layers) padding once took 0.263x the time forward (geomean, 0.11-1.00x) and 0.531x
forward and backward (0.29-0.93x); with 9 or fewer (8) 1.10x forward (0.47-2.18x). A 7x7
256 -> 256 layer on 2x59x59: 30.5 ms -> 5.8 ms forward. Held out against the code before,
every program it changes in fresh random-suite draws (seeds 9810-9815): 163 forward
0.304x, 182 forward and backward 0.532x; five small 4x4 and 3x3x3 programs forward
1.13-1.78x (0.2-1.3 ms)."""


def taps_of(x: jnp.ndarray, plan: ConvPlan, fused: bool = False) -> Iterator[jnp.ndarray]:
    """The taps of the zero-padded (and dilated) input, each ``(N, *out_spatial, C)``
    (``(N, C, *out_spatial)`` for a channels-first plan).

    ``fused`` says the taps feed one fused elementwise loop (``direct``). With unit strides
    they are then slices of the input padded once (except for depthwise channels-first
    taps, below): measured on CPU, XLA's loop runs 2-3 times faster over ``K`` slices of
    one buffer than over ``K`` padded slices, each with its own bounds checks.
    """
    axes = plan.spatial_axes
    geometry = (plan.kernel, plan.rhs_dilation, plan.strides, plan.out_spatial)
    # On channels-first data a tap that feeds one product (depthwise) fuses, padding and
    # all, into the loop, with no buffer, up to a 3x3 kernel's taps (see
    # CHANNELS_FIRST_PADDED_TAPS); one that feeds several (a group's features) is
    # materialised tap by tap: ResNeXt's 56x56 g = 32 layer on NCHW held 8 padded taps
    # (12.9 MB) and ran 2.7 times slower than on slices of one padded input (1.7 MB).
    once = (
        fused
        and all(s == 1 for s in plan.strides)
        and (not plan.channels_first or plan.group_in > 1 or plan.taps > CHANNELS_FIRST_PADDED_TAPS)
    )
    if not once and all(d == 1 for d in plan.lhs_dilation):
        # Zero padding folded into each tap: the padded input is never materialised.
        return shifted_taps(x, axes, *geometry, plan.pads)
    return window_taps(padded_input(x, plan), axes, *geometry)


SCAN_TAPS_BYTES = 3 * 2**20
"""Above this many bytes of taps (``K`` times one tap), per-tap loops run as a scan.

Measured on CPU (ResNet's and DeepBench's 3x3 layers): at 3 MiB instead of 8 the temp
memory of forward plus backward is 2-4 times smaller, for about 5 % more time."""


def taps_bytes(plan: ConvPlan, dtype) -> int:
    """Bytes of all ``K`` taps of ``plan`` at once."""
    tap = plan.batch * int(np.prod(plan.out_spatial)) * plan.in_features
    return plan.taps * tap * jnp.dtype(dtype).itemsize


def scan_taps(plan: ConvPlan, dtype) -> bool:
    """Whether the ``K`` taps of ``plan`` are too large to materialise at once."""
    return plan.taps > 1 and taps_bytes(plan, dtype) > SCAN_TAPS_BYTES


def tap_offsets(plan: ConvPlan) -> jnp.ndarray:
    """``(K, num_spatial)`` int32: where each tap's window starts in the padded input."""
    offsets = np.array(list(itertools.product(*(range(k) for k in plan.kernel))), np.int32)
    return jnp.asarray(offsets * np.array(plan.rhs_dilation, np.int32))


def tap_at(xp: jnp.ndarray, plan: ConvPlan, offset) -> jnp.ndarray:
    """The tap starting at the traced ``offset`` of the padded (and dilated) input ``xp``:
    a dynamic slice of the window, then a static strided slice (for ``lax.scan``)."""
    start = [jnp.zeros((), jnp.int32)] * xp.ndim
    size = list(xp.shape)
    step = [1] * xp.ndim
    for j, (ax, o, s) in enumerate(
        zip(plan.spatial_axes, plan.out_spatial, plan.strides, strict=True)
    ):
        start[ax], size[ax], step[ax] = offset[j], (o - 1) * s + 1, s
    window = lax.dynamic_slice(xp, start, size)
    return lax.slice(window, [0] * window.ndim, window.shape, step)


def per_tap(
    x: jnp.ndarray, plan: ConvPlan, fn: Callable, scan: bool, fused: bool = False
) -> jnp.ndarray:
    """``fn`` on each tap of ``x``, stacked: ``(K, ...)``. With ``scan``, one tap at a time
    in a ``lax.scan``, so that only one tap of the input is alive."""
    if not scan:
        return jnp.stack([fn(t) for t in taps_of(x, plan, fused=fused)])
    xp = padded_input(x, plan)

    def one_tap(_, offset):
        return None, fn(tap_at(xp, plan, offset))

    # Checkpointed so that JAX's partial evaluation of the scan (when this gradient is
    # itself transposed or differentiated) recomputes each tap instead of stacking all K.
    _, out = lax.scan(jax.checkpoint(one_tap), None, tap_offsets(plan))
    return out
