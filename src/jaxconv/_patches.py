"""Patch extraction (im2col) from pads and strided slices."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from ._checks import check_array, int_tuple
from ._layout import DimensionNumbers, conv_dimension_numbers, layout_from_string
from ._padding import check_mode_pads, check_padding_mode, pad_spatial, parse_padding, same_pads


def out_size(padded: int, window: int, stride: int) -> int:
    """Number of window positions along one padded dim (0 when the window does not fit)."""
    return max(0, (padded - window) // stride + 1) if padded >= window else 0


def window_taps(
    xp: jnp.ndarray,
    spatial_axes: Sequence[int],
    kernel: Sequence[int],
    dilation: Sequence[int],
    strides: Sequence[int],
    out_spatial: Sequence[int],
) -> Iterator[jnp.ndarray]:
    """Yield one strided slice of the padded input ``xp`` per kernel tap, row-major.

    Tap ``(i, j, ...)`` is the input each output position meets at kernel offset
    ``(i, j, ...)``: along each spatial axis it starts at ``i * dilation`` and takes
    ``out`` elements ``stride`` apart. Every slice has ``xp``'s shape with the spatial
    sizes replaced by ``out_spatial``.
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
    `window_taps` applied to ``x`` padded by ``pads``.
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


def to_channels_last(x: jnp.ndarray, spec: Sequence[int]) -> jnp.ndarray:
    """``x`` with axes ``spec = (batch, feature, *spatial)`` moved to channels-last."""
    return jnp.transpose(x, (spec[0], *spec[2:], spec[1]))


def from_channels_last(y: jnp.ndarray, spec: Sequence[int]) -> jnp.ndarray:
    """Inverse of `to_channels_last`: ``(batch, *spatial, feature)`` to layout ``spec``."""
    perm = [0] * y.ndim
    perm[spec[0]] = 0
    perm[spec[1]] = y.ndim - 1
    for i, ax in enumerate(spec[2:]):
        perm[ax] = 1 + i
    return jnp.transpose(y, perm)


def _patch_dimension_numbers(ndim: int, dimension_numbers: Any) -> DimensionNumbers:
    if isinstance(dimension_numbers, str):
        return layout_from_string(ndim, dimension_numbers)
    return conv_dimension_numbers(ndim, dimension_numbers, default="channels_last")


def channels_major(dn: DimensionNumbers) -> bool:
    """Whether patch features are ordered ``(C, *window)`` (input feature axis before spatial)."""
    return all(dn.lhs_spec[1] < ax for ax in dn.lhs_spec[2:])


def extract_patches(
    x: ArrayLike,
    kernel_size: int | Sequence[int],
    strides: int | Sequence[int] = 1,
    padding: str | int | Sequence[int] | Sequence[tuple[int, int]] = "VALID",
    *,
    dilation: int | Sequence[int] = 1,
    dimension_numbers: str | tuple[str, str, str] | DimensionNumbers | None = None,
    padding_mode: str = "zeros",
) -> jax.Array:
    """Extract the sliding windows of a convolution (im2col), in the input's own layout.

    Args:
        x: input of rank ``num_spatial + 2``, laid out as ``dimension_numbers`` says
            (default channels-last: ``(N, W, C)``, ``(N, H, W, C)`` or ``(N, D, H, W, C)``).
        kernel_size: window size, an int or one per spatial dim.
        strides: window strides, an int or one per spatial dim.
        padding: ``'VALID'``, ``'SAME'``, ``'SAME_LOWER'``, an int, one int per spatial dim
            or one ``(low, high)`` pair per spatial dim.
        dilation: kernel (window) dilation, an int or one per spatial dim.
        dimension_numbers: the input layout, as one string (``"NCHW"``) or as a
            convolution's three layout strings or [`DimensionNumbers`][jaxconv.DimensionNumbers]
            (only the input layout is used; spatial dims are ordered as in the kernel layout).
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.

    Returns:
        An array in the input's layout whose feature axis holds ``C * prod(kernel_size)``
        patch values and whose spatial axes are the output positions. The feature order
        is ``(C, *window)`` when ``C`` comes before every spatial axis in the layout
        (``NCHW``: reshaped to ``(N, C*kh*kw, L)`` it equals PyTorch's ``unfold`` and contracts
        with an ``OIHW`` kernel reshaped to ``(O, C*kh*kw)``), and ``(*window, C)`` otherwise
        (``NHWC``: contracts with an ``HWIO`` kernel reshaped to ``(kh*kw*C, O)``, as
        TensorFlow's ``extract_patches`` orders it). The window is row-major in the spatial
        order.

    Examples:
        >>> import jax.numpy as jnp, jaxconv
        >>> x = jnp.arange(16.0).reshape(1, 4, 4, 1)
        >>> p = jaxconv.extract_patches(x, 2, strides=2)
        >>> p.shape
        (1, 2, 2, 4)
        >>> p[0, 0, 0].tolist()
        [0.0, 1.0, 4.0, 5.0]
    """
    x = check_array("x", x)
    dn = _patch_dimension_numbers(x.ndim, dimension_numbers)
    n = dn.num_spatial
    kernel = int_tuple("kernel_size", kernel_size, n, broadcast=True)
    strides = int_tuple("strides", strides, n, broadcast=True)
    dilation = int_tuple("dilation", dilation, n, broadcast=True)
    padding_mode = check_padding_mode(padding_mode)
    xc = to_channels_last(jnp.asarray(x), dn.lhs_spec)
    in_spatial = xc.shape[1:-1]
    window = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True))
    pads = parse_padding(padding, n)
    if isinstance(pads, str):
        pads = same_pads(in_spatial, window, strides, pads)
    check_mode_pads(padding_mode, pads, in_spatial)
    padded = [s + lo + hi for s, (lo, hi) in zip(in_spatial, pads, strict=True)]
    if any(p < 0 for p in padded):
        raise ValueError(f"negative `padding` {pads} is larger than the input {in_spatial}.")
    outs = tuple(out_size(p, w, s) for p, w, s in zip(padded, window, strides, strict=True))
    batch, channels = xc.shape[0], xc.shape[-1]
    size = channels * len(list(itertools.product(*(range(k) for k in kernel))))
    if 0 in outs:
        return from_channels_last(jnp.zeros((batch, *outs, size), xc.dtype), dn.lhs_spec)
    xp = pad_spatial(xc, range(1, n + 1), pads, padding_mode=padding_mode)
    taps = list(window_taps(xp, range(1, n + 1), kernel, dilation, strides, outs))
    major = channels_major(dn)
    p = jnp.stack(taps, axis=-1 if major else -2).reshape(batch, *outs, size)
    return from_channels_last(p, dn.lhs_spec)
