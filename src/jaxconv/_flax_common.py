"""What ``jaxconv.nnx`` and ``jaxconv.linen`` add to Flax's modules; nothing here imports Flax.

Flax's ``Conv``, ``ConvTranspose`` and ``ConvLocal`` make the parameters; jaxconv's modules
subclass them and add what Flax lacks: any layout (the kernel stored in the kernel layout,
the batch folded where ``N`` stands, the bias added on ``C``), ``padding_mode``, PyTorch's
transposed padding, and loading kernels from other frameworks' layouts. A layer's
configuration is read once by :mod:`jaxconv._layer`; the helpers here run its convolution.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ._checks import positive_int
from ._layer import (
    ConvConfig,
    Layouts,
    TransposeConfig,
    check_inputs,
    check_window,
    conv_out_shape,
    fold_batch,
    module_plan,
    parse_layouts,
    unfold_batch,
)
from ._layout import convert_kernel, from_canonical
from ._local import conv_local
from ._padding import pad_spatial

FRAMEWORK_LAYOUTS = {
    "pytorch": ("OI", False),
    "torch": ("OI", False),
    "tensorflow": ("IO", False),
    "keras": ("IO", False),
    "theano": ("OI", True),
}
"""Kernel layouts of other frameworks: ``(letters, flip)``. ``"OI"`` puts the feature axes
first (``OIHW``), ``"IO"`` last (``HWIO``); Theano (Keras 1 on Theano) stores true
convolution kernels, which are flipped to become the cross-correlation kernels jaxconv uses."""


def missing_flax(module: str) -> ImportError:
    return ImportError(
        f"`{module}` needs Flax, which is not installed. Install the extra with: "
        "pip install 'jaxconv[flax]'"
    )


def accepts_keyword(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` takes the keyword argument ``name`` (or ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def check_callable(name: str, fn: Any) -> Callable[..., Any]:
    if not callable(fn):
        raise TypeError(f"`{name}` must be a function such as jaxconv.{name}, got {fn!r}.")
    return fn


def check_feature_counts(
    in_features: Any, out_features: Any, groups: int, names: Sequence[str]
) -> None:
    """Both feature counts positive ints that ``groups`` divides."""
    for name, value in zip(names, (in_features, out_features), strict=True):
        if positive_int(name, value) % groups:
            raise ValueError(
                f"`{name}` (={value}) must be divisible by `feature_group_count` (={groups})."
            )


def add_bias(y: jnp.ndarray, bias: jnp.ndarray | None, out: str) -> jnp.ndarray:
    """Add a per-feature bias along the ``C`` axis of the output layout ``out``."""
    if bias is None:
        return y
    shape = [1] * y.ndim
    shape[out.index("C")] = bias.shape[0]
    return y + bias.reshape(shape)


def in_kernel_layout(w: jnp.ndarray, layouts: Layouts) -> jnp.ndarray:
    """A kernel drawn as Flax draws it, ``(*kernel_size, I, O)``, in the ``rhs`` layout: the
    default layout keeps exactly Flax's values for the same key, any other holds them
    transposed (the same fan-in and fan-out)."""
    return convert_kernel(w, layouts.canonical_kernel, layouts.rhs)


def source_layout(layout: str, flip: bool | None, spatial: str) -> tuple[str, bool]:
    """A foreign kernel's layout string and whether to flip it.

    ``layout`` is a layout string using this module's spatial letters (``"OIHW"``,
    ``"HWIO"``) or a framework name from :data:`FRAMEWORK_LAYOUTS`.
    """
    if not isinstance(layout, str):
        raise TypeError(
            f"`layout` must be a kernel layout string such as 'OIHW' or a framework name "
            f"({', '.join(map(repr, FRAMEWORK_LAYOUTS))}), got {layout!r}."
        )
    preset = FRAMEWORK_LAYOUTS.get(layout.lower())
    if preset is not None:
        letters, preset_flip = preset
        layout = "OI" + spatial if letters == "OI" else spatial + "IO"
        flip = preset_flip if flip is None else flip
    if sorted(layout) != sorted(spatial + "OI"):
        raise TypeError(
            f"`layout` {layout!r} must hold the letters 'O', 'I' and this module's spatial "
            f"letters {spatial!r} once each (for example {'OI' + spatial!r} or "
            f"{spatial + 'IO'!r}), or be a framework name "
            f"({', '.join(map(repr, FRAMEWORK_LAYOUTS))})."
        )
    return layout, bool(flip)


def foreign_kernel(
    kernel: Any, layout: str, flip: bool | None, dimension_numbers: Any
) -> tuple[jnp.ndarray, dict[str, int], Layouts]:
    """``kernel`` from ``layout`` to the kernel layout of ``dimension_numbers``, its sizes by
    letter, and the layouts."""
    ndim = jnp.ndim(kernel)
    if ndim < 3:
        raise ValueError(
            f"`kernel` must have rank >= 3 (two feature axes and the spatial axes), got shape "
            f"{jnp.shape(kernel)}."
        )
    layouts = parse_layouts(dimension_numbers, ndim - 2)
    kernel = jnp.asarray(kernel)
    src, flip = source_layout(layout, flip, layouts.spatial)
    sizes = dict(zip(src, kernel.shape, strict=True))
    return convert_kernel(kernel, src, layouts.rhs, flip=flip), sizes, layouts


def check_bias(
    bias: Any, out_features: int, other_features: int | None = None, hint: str = ""
) -> jnp.ndarray | None:
    """``bias`` as an array of shape ``(out_features,)``. When it has ``other_features``
    instead (the kernel's other feature axis), the error adds ``hint``: the flag that reads
    the kernel the other way round."""
    if bias is None:
        return None
    bias = jnp.asarray(bias)
    if bias.shape != (out_features,):
        message = (
            f"`bias` must have shape ({out_features},) to match the kernel's output features, "
            f"got {bias.shape}."
        )
        if hint and bias.shape == (other_features,):
            message += " " + hint
        raise ValueError(message)
    return bias


TORCH_TRANSPOSED_HINT = (
    "It fits the kernel's other feature axis: PyTorch's ConvTranspose weight is "
    "(in, out, *kernel_size), the kernel of the forward convolution it transposes. Pass "
    "`transpose_kernel=True` (`ConvTranspose.from_kernel(..., layout='pytorch')` sets it, and "
    "reads `padding` and `output_padding` as PyTorch does)."
)


def loader_kwargs(bias: Any, conv_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``from_kernel``'s constructor arguments: ``use_bias`` as the bias says."""
    if bias is not None and conv_kwargs.get("use_bias") is False:
        raise ValueError("`bias` was given but `use_bias=False`; drop one of them.")
    conv_kwargs.setdefault("use_bias", bias is not None)
    return conv_kwargs


def check_mask(mask: Any, kernel_shape: Sequence[int]) -> None:
    if mask is not None and tuple(mask.shape) != tuple(kernel_shape):
        raise ValueError(
            f"`mask` must have the kernel's shape {tuple(kernel_shape)}, got {tuple(mask.shape)}."
        )


def masked(kernel: jnp.ndarray, mask: Any, kernel_shape: Sequence[int]) -> jnp.ndarray:
    """The kernel times its (checked) mask, as Flax applies it."""
    check_mask(mask, kernel_shape)
    return kernel if mask is None else kernel * mask


# ---------------------------------------------------------------------------------------
# The layout doctor for modules, which own their kernel


# ---------------------------------------------------------------------------------------
# Running a module's convolution


def apply_conv(
    fn: Callable[..., Any],
    native_mode: bool,
    cfg: ConvConfig,
    inputs: jnp.ndarray,
    kernel: jnp.ndarray,
    bias: jnp.ndarray | None,
    precision: Any,
    preferred_element_type: Any = None,
    out_sharding: Any = None,
) -> jnp.ndarray:
    """Run ``fn`` (a ``conv_general_dilated``) as a Flax ``Conv`` does, in ``cfg``'s layouts.

    ``native_mode``: whether ``fn`` takes ``padding_mode=``; otherwise (and with input
    dilation, where the undilated input is padded first, as in Flax) non-zero padding
    modes are applied with ``jnp.pad`` first.
    """
    lay = cfg.layouts
    x, batch = fold_batch(inputs, lay.lhs, len(cfg.kernel_size))
    out_shape = conv_out_shape(x.shape, kernel.shape, cfg)
    i_size = kernel.shape[lay.rhs.index("I")]
    check_inputs(x, lay, i_size * cfg.feature_group_count, "the kernel", out_shape)
    check_window(x, kernel, cfg)
    padding = cfg.padding
    kwargs: dict[str, Any] = {}
    if cfg.padding_mode != "zeros":
        if native_mode and all(d == 1 for d in cfg.input_dilation):
            kwargs["padding_mode"] = cfg.padding_mode
        else:  # pad with the mode, then the plan's zero padding is none
            plan = module_plan(cfg, x.shape, kernel.shape)
            x = pad_spatial(x, lay.dn.lhs_spec[2:], plan.pads, padding_mode=plan.padding_mode)
            padding = plan.mode_padded().pads
    if preferred_element_type is not None:
        kwargs["preferred_element_type"] = preferred_element_type
    if out_sharding is not None:
        kwargs["out_sharding"] = out_sharding
    y = fn(
        x, kernel, cfg.strides, padding, lhs_dilation=cfg.input_dilation,
        rhs_dilation=cfg.kernel_dilation, dimension_numbers=lay.strings,
        feature_group_count=cfg.feature_group_count, precision=precision, **kwargs,
    )  # fmt: skip
    return unfold_batch(add_bias(y, bias, lay.out), lay.out, batch)


def circular_wrap(
    y: jnp.ndarray, out_spatial_axes: Sequence[int], periods: Sequence[int], transpose_kernel: bool
) -> jnp.ndarray:
    """Fold a transposed convolution's output periodically onto ``periods`` (Flax's
    ``'CIRCULAR'`` for ``ConvTranspose``).

    Each spatial axis is padded to a whole number (at least two) of periods, placed so the
    input's start lands on a period boundary, and the periods are summed.
    """
    for ax, period in zip(out_spatial_axes, periods, strict=True):
        diff = -(y.shape[ax] - period) % (2 * period)
        lo, hi = (
            (diff // 2, diff - diff // 2) if transpose_kernel else (diff - diff // 2, diff // 2)
        )
        width = [(0, 0)] * y.ndim
        width[ax] = (lo, hi)
        y = jnp.pad(y, width)
        y = y.reshape(*y.shape[:ax], -1, period, *y.shape[ax + 1 :]).sum(axis=ax)
    return y


def apply_conv_transpose(
    fn: Callable[..., Any],
    cfg: TransposeConfig,
    inputs: jnp.ndarray,
    kernel: jnp.ndarray,
    bias: jnp.ndarray | None,
    precision: Any,
    preferred_element_type: Any = None,
) -> jnp.ndarray:
    """Run ``fn`` (a ``conv_transpose``) as a Flax ``ConvTranspose`` does."""
    lay = cfg.layouts
    x, batch = fold_batch(inputs, lay.lhs, len(cfg.kernel_size))
    in_letter, out_letter = ("O", "I") if cfg.transpose_kernel else ("I", "O")
    expected = kernel.shape[lay.rhs.index(in_letter)]
    padding = "VALID" if cfg.padding == "CIRCULAR" else cfg.padding
    kwargs = dict(rhs_dilation=cfg.kernel_dilation, transpose_kernel=cfg.transpose_kernel,
                  precision=precision)  # fmt: skip
    if x.shape[lay.dn.lhs_spec[1]] != expected:

        def out_shape(other: Layouts) -> tuple[int, ...] | None:
            def call(a, k):
                return fn(a, k, cfg.strides, padding, dimension_numbers=other.strings, **kwargs)

            try:
                return tuple(jax.eval_shape(call, x, kernel).shape)
            except (TypeError, ValueError):
                return None

        what = "the kernel"
        if x.shape[lay.dn.lhs_spec[1]] == kernel.shape[lay.rhs.index(out_letter)]:
            what += (
                f" (its {in_letter!r} axis; the input's features match its {out_letter!r} axis: "
                f"{'drop' if cfg.transpose_kernel else 'pass'} `transpose_kernel=True`? "
                "PyTorch's ConvTranspose weights need it)"
            )
        check_inputs(x, lay, expected, what, out_shape)
    y = fn(
        x, kernel, cfg.strides, padding, dimension_numbers=lay.strings,
        preferred_element_type=preferred_element_type, **kwargs,
    )  # fmt: skip
    if cfg.padding == "CIRCULAR":
        periods = [x.shape[a] * s for a, s in zip(lay.dn.lhs_spec[2:], cfg.strides, strict=True)]
        y = circular_wrap(y, lay.dn.out_spec[2:], periods, cfg.transpose_kernel)
    return unfold_batch(add_bias(y, bias, lay.out), lay.out, batch)


def apply_local(
    cfg: ConvConfig,
    inputs: jnp.ndarray,
    kernel: jnp.ndarray,
    bias: jnp.ndarray | None,
    precision: Any,
    preferred_element_type: Any = None,
) -> jnp.ndarray:
    """Run [`jaxconv.conv_local`][jaxconv.conv_local] as Flax's ``ConvLocal`` does: bias
    ``(*out_spatial, O)``, batch dims folded."""
    lay = cfg.layouts
    x, batch = fold_batch(inputs, lay.lhs, len(cfg.kernel_size))
    y = conv_local(
        x, kernel, cfg.kernel_size, cfg.strides, cfg.padding, input_dilation=cfg.input_dilation,
        dilation=cfg.kernel_dilation, dimension_numbers=lay.strings, padding_mode=cfg.padding_mode,
        precision=precision, preferred_element_type=preferred_element_type,
    )  # fmt: skip
    if bias is not None:
        y = y + from_canonical(bias[None], lay.dn.out_spec)
    return unfold_batch(y, lay.out, batch)
