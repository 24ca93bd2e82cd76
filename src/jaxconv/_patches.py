"""Patch extraction (im2col) from pads and strided slices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._checks import check_array, int_tuple
from ._layout import (
    DimensionNumbers,
    conv_dimension_numbers,
    from_canonical,
    layout_from_string,
    to_canonical,
)
from ._padding import pad_spatial
from ._plan import Form, _shape_in, make_plan
from ._taps import window_taps

PATCHES = Form("x", "kernel_size", "strides", "lhs_dilation", "dilation", "groups", True)
"""``extract_patches``' names: its window is the kernel of a convolution."""


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
    kernel = int_tuple("kernel_size", kernel_size, dn.num_spatial, broadcast=True)
    channels = x.shape[dn.lhs_spec[1]]
    # The plan of the convolution whose window the patches are (a kernel of one feature).
    w_shape = _shape_in(dn.rhs_spec, (1, channels, *kernel))
    plan = make_plan(
        x.shape, w_shape, strides, padding, None, dilation, dn, padding_mode=padding_mode,
        form=PATCHES, diagnose=False,
    )  # fmt: skip
    size = channels * plan.taps
    if 0 in plan.out_spatial:
        return from_canonical(
            jnp.zeros((plan.batch, *plan.out_spatial, size), x.dtype), dn.lhs_spec
        )
    axes = plan.spatial_axes
    xp = pad_spatial(
        to_canonical(jnp.asarray(x), dn.lhs_spec), axes, plan.pads, padding_mode=padding_mode
    )
    taps = window_taps(xp, axes, plan.kernel, plan.rhs_dilation, plan.strides, plan.out_spatial)
    p = jnp.stack(list(taps), axis=-1 if channels_major(dn) else -2)
    return from_canonical(p.reshape(plan.batch, *plan.out_spatial, size), dn.lhs_spec)
