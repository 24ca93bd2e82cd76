"""The locally connected (unshared) convolution: a separate kernel at every output position."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.lax import PrecisionLike
from jax.typing import ArrayLike, DTypeLike

from ._checks import check_array, check_same_dtype, int_tuple
from ._layout import DimensionNumbers, conv_dimension_numbers, from_canonical, to_canonical
from ._padding import pad_spatial
from ._plan import ConvPlan, Form, _shape_in, make_plan
from ._taps import padded_input, window_taps

LOCAL = Form("x", "w", "strides", "input_dilation", "dilation", "groups", True, mode_first=True)
"""``conv_local``'s names; a ``padding_mode`` pads the undilated input, as Flax does."""


def local_plan(
    x_shape: Sequence[int],
    kernel_size: Any,
    out_features: int,
    strides: Any = 1,
    padding: Any = "VALID",
    input_dilation: Any = 1,
    dilation: Any = 1,
    dimension_numbers: Any = None,
    padding_mode: str = "zeros",
    *,
    form: Form = LOCAL,
    **settings: Any,
) -> ConvPlan:
    """The plan of the shared-weight convolution with the same windows: its output
    positions are the unshared kernel's (``settings``: ``dtype``, ``precision``,
    ``preferred_element_type``)."""
    dn = conv_dimension_numbers(len(x_shape), dimension_numbers, default="channels_last")
    kernel = int_tuple("kernel_size", kernel_size, dn.num_spatial, broadcast=True)
    shared = _shape_in(dn.rhs_spec, (out_features, x_shape[dn.lhs_spec[1]], *kernel))
    return make_plan(
        x_shape, shared, strides, padding, input_dilation, dilation, dn,
        padding_mode=padding_mode, form=form, diagnose=False, **settings,
    )  # fmt: skip


def local_kernel_shape(plan: ConvPlan) -> tuple[int, ...]:
    """The unshared kernel of ``plan``: ``(*out_spatial, C * prod(kernel_size), O)``."""
    return (*plan.out_spatial, plan.in_features * plan.taps, plan.out_features)


def conv_local(
    x: ArrayLike,
    w: ArrayLike,
    kernel_size: int | Sequence[int],
    strides: int | Sequence[int] = 1,
    padding: str | int | Sequence[int] | Sequence[tuple[int, int]] = "VALID",
    *,
    input_dilation: int | Sequence[int] = 1,
    dilation: int | Sequence[int] = 1,
    dimension_numbers: tuple[str, str, str] | DimensionNumbers | None = None,
    padding_mode: str = "zeros",
    precision: PrecisionLike = None,
    preferred_element_type: DTypeLike | None = None,
) -> jax.Array:
    """A locally connected convolution: every output position has its own kernel.

    The windows are those of [`conv`][jaxconv.conv] with the same arguments; where a
    convolution would contract every window with one kernel, this one contracts the window
    of output position ``p`` with ``w[p]``. It is what ``flax.linen.ConvLocal`` and
    `jax.lax.conv_general_dilated_local` compute.

    Args:
        x: input; by default channels-last, ``(N, *spatial, C)``.
        w: the kernels, ``(*out_spatial, C * prod(kernel_size), O)``, each row block
            ordered ``(C, *window)`` (lax's ``conv_general_dilated_local`` order), output
            spatial dims in the order of the kernel layout's letters.
        kernel_size: the window, an int or one per spatial dim.
        strides: an int or one per spatial dim.
        padding: as for [`conv`][jaxconv.conv].
        input_dilation: an int or one per spatial dim: ``d - 1`` zeros between input
            elements (with a ``padding_mode``, the input is padded first, as in Flax).
        dilation: the window's dilation, an int or one per spatial dim.
        dimension_numbers: layouts as for [`conv`][jaxconv.conv]; only the input's and
            output's are used (the kernel layout orders the spatial dims).
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
        precision: as for `jax.numpy.einsum`.
        preferred_element_type: accumulation and output dtype.

    Returns:
        The output in the output layout, by default ``(N, *out_spatial, O)``.

    Raises:
        ValueError: when ``w`` is not the kernel of these windows.

    Examples:
        >>> import jax.numpy as jnp, jaxconv
        >>> x = jnp.ones((1, 4, 4, 2))
        >>> w = jnp.ones((2, 2, 2 * 9, 3))  # out 2x2, C = 2, window 3x3, O = 3
        >>> jaxconv.conv_local(x, w, 3)[0, :, :, 0].tolist()
        [[18.0, 18.0], [18.0, 18.0]]
    """
    x = check_array("x", x)
    w = check_array("w", w)
    check_same_dtype(x, w, "x", "w")
    if w.ndim != x.ndim:
        raise ValueError(
            f"`w` must have the rank of `x` ({x.ndim}: the output's spatial dims, the window "
            f"rows and the output features), got shape {w.shape}."
        )
    plan = local_plan(
        x.shape, kernel_size, w.shape[-1], strides, padding, input_dilation, dilation,
        dimension_numbers, padding_mode, dtype=x.dtype, precision=precision,
        preferred_element_type=preferred_element_type,
    )  # fmt: skip
    expected = local_kernel_shape(plan)
    if w.shape != expected:
        raise ValueError(
            f"the kernel `w` of shape {w.shape} does not fit `x` of shape {x.shape}: a locally "
            f"connected kernel for it is {expected}."
        )
    xc = to_canonical(jnp.asarray(x), plan.dn.lhs_spec)
    if plan.padding_mode != "zeros":
        xc = pad_spatial(xc, plan.spatial_axes, plan.pads, padding_mode=plan.padding_mode)
        plan = plan.mode_padded()
    geometry = (plan.kernel, plan.rhs_dilation, plan.strides, plan.out_spatial)
    taps = window_taps(padded_input(xc, plan), plan.spatial_axes, *geometry)
    patches = jnp.stack(list(taps), axis=-2)  # (N, *out, K, C)
    c, k, o = plan.in_features, plan.taps, plan.out_features
    y = jnp.einsum(
        "n...kc,...cko->n...o",
        patches,
        jnp.asarray(w).reshape(*plan.out_spatial, c, k, o),
        precision=plan.precision,
        preferred_element_type=plan.preferred,
    )
    return from_canonical(y, plan.dn.out_spec)
