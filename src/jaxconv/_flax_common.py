"""What ``jaxconv.nnx`` and ``jaxconv.linen`` share: Flax-style arguments parsed once.

Nothing here imports Flax. The helpers turn a Flax module's configuration (padding words
such as ``'CIRCULAR'`` or ``'CAUSAL'``, ints or pairs, ``dimension_numbers``, kernel sizes)
into the plain values jaxconv's functions take, handle leading batch dimensions the way
Flax does, and move kernels between layouts for the weight loaders.
"""

from __future__ import annotations

import inspect
import operator
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from . import _doctor
from ._layout import DimensionNumbers, channels_last, conv_dimension_numbers, convert_kernel
from ._padding import (
    Pads,
    check_mode_pads,
    check_padding_mode,
    pad_spatial,
    same_pads,
    transposed_pads,
)
from ._patches import from_channels_last, to_channels_last
from ._plan import general_plan

FLAX_PADDING_WORDS = ("SAME", "VALID", "SAME_LOWER", "CIRCULAR", "REFLECT", "CAUSAL")

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


def positive(name: str, value: Any) -> int:
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"`{name}` must be an int, got {value!r}.") from None
    if v < 1:
        raise ValueError(f"`{name}` must be a positive int, got {v}.")
    return v


def kernel_size_tuple(kernel_size: Any) -> tuple[int, ...]:
    """Flax's rule: an int is a 1-d kernel; otherwise a sequence of positive ints."""
    if isinstance(kernel_size, str) or not isinstance(kernel_size, Sequence | int):
        raise TypeError(f"`kernel_size` must be an int or a sequence of ints, got {kernel_size!r}.")
    sizes = (kernel_size,) if isinstance(kernel_size, int) else tuple(kernel_size)
    if not sizes:
        raise ValueError("`kernel_size` must give at least one spatial dimension, got ().")
    return tuple(positive("kernel_size", k) for k in sizes)


def broadcast_ints(name: str, value: Any, n: int) -> tuple[int, ...]:
    """Flax's ``maybe_broadcast``: ``None`` is 1, an int is repeated, a sequence has ``n``."""
    if value is None:
        value = 1
    if isinstance(value, int):
        value = (value,) * n
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"`{name}` must be an int or a sequence of {n} ints, got {value!r}.")
    if len(value) != n:
        raise ValueError(
            f"`{name}` must give one value per spatial dimension ({n}), got {tuple(value)!r}."
        )
    return tuple(positive(name, v) for v in value)


class Layouts(NamedTuple):
    """A module's three layout strings and their parsed dimension numbers."""

    lhs: str
    rhs: str
    out: str
    dn: DimensionNumbers

    @property
    def spatial(self) -> str:
        """Spatial letters in the kernel layout's order (the order of strides and sizes)."""
        return "".join(c for c in self.rhs if c not in "OI")

    @property
    def canonical_kernel(self) -> str:
        """Flax's kernel layout with this module's letters, e.g. ``"HWIO"``."""
        return self.spatial + "IO"

    def kernel_shape(self, kernel_size: Sequence[int], i: int, o: int) -> tuple[int, ...]:
        """The kernel's shape in ``rhs`` layout for ``I = i`` and ``O = o``."""
        sizes = dict(zip(self.spatial, kernel_size, strict=True))
        return tuple(o if c == "O" else i if c == "I" else sizes[c] for c in self.rhs)


def parse_layouts(dimension_numbers: Any, num_spatial: int) -> Layouts:
    """``dimension_numbers`` (None: channels-last as Flax) as layout strings for ``n`` dims."""
    if dimension_numbers is None:
        dimension_numbers = channels_last(num_spatial)
    dn = conv_dimension_numbers(num_spatial + 2, dimension_numbers)
    if isinstance(dimension_numbers, list | tuple) and all(
        isinstance(s, str) for s in dimension_numbers
    ):
        strings = tuple(dimension_numbers)
    else:
        strings = dn.to_strings()
    return Layouts(*strings, dn)


def flax_padding(
    padding: Any,
    padding_mode: str,
    kernel_size: Sequence[int],
    kernel_dilation: Sequence[int],
) -> tuple[str | Pads, str]:
    """Resolve Flax's ``padding`` and jaxconv's ``padding_mode`` into what jaxconv takes.

    ``'CIRCULAR'`` and ``'REFLECT'`` become the pairs ``((k - 1) // 2, k // 2)`` of the
    dilated kernel with that padding mode (Flax's ``jnp.pad`` with ``'wrap'``/``'reflect'``),
    ``'CAUSAL'`` the pair ``(k - 1, 0)`` (1-d only); ``'SAME'``, ``'SAME_LOWER'`` and
    ``'VALID'`` stay words; an int pads every side, a sequence gives one int or one pair
    per spatial dimension.

    Returns:
        ``(padding, padding_mode)`` with ``padding`` a word or ``(low, high)`` pairs.
    """
    n = len(kernel_size)
    mode = check_padding_mode(padding_mode)
    window = [(k - 1) * d + 1 for k, d in zip(kernel_size, kernel_dilation, strict=True)]
    if isinstance(padding, str):
        word = padding.upper()
        if word not in FLAX_PADDING_WORDS:
            raise ValueError(
                f"`padding` must be one of {', '.join(map(repr, FLAX_PADDING_WORDS))}, an int "
                f"or a sequence of ints or (low, high) pairs, got {padding!r}."
            )
        if word in ("CIRCULAR", "REFLECT"):
            word_mode = word.lower()
            if mode not in ("zeros", word_mode):
                raise ValueError(
                    f"`padding={padding!r}` already sets the padding mode; it conflicts with "
                    f"`padding_mode={padding_mode!r}`."
                )
            return tuple(((w - 1) // 2, w // 2) for w in window), word_mode
        if word == "CAUSAL":
            if n != 1:
                raise ValueError(
                    f"`padding='CAUSAL'` is only defined for 1-d convolutions, got "
                    f"kernel_size {tuple(kernel_size)}."
                )
            return ((window[0] - 1, 0),), mode
        return word, mode
    if isinstance(padding, int):
        return ((padding, padding),) * n, mode
    if isinstance(padding, Sequence) and len(padding) == n:
        pairs = []
        for p in padding:
            if isinstance(p, int):
                pairs.append((p, p))
            elif (
                isinstance(p, Sequence)
                and not isinstance(p, str)
                and len(p) == 2
                and all(isinstance(v, int) for v in p)
            ):
                pairs.append((int(p[0]), int(p[1])))
            else:
                break
        else:
            return tuple(pairs), mode
    raise ValueError(
        f"`padding` must be a string, an int or a sequence of {n} ints or (low, high) pairs "
        f"(one per spatial dimension), got {padding!r}."
    )


def prepad(
    x: jnp.ndarray,
    spatial_axes: Sequence[int],
    padding: str | Pads,
    padding_mode: str,
    window: Sequence[int],
    strides: Sequence[int],
    input_dilation: Sequence[int],
) -> tuple[jnp.ndarray, str | Pads]:
    """Pad ``x`` with ``padding_mode`` before the convolution; return it and zero padding.

    Used when the convolution function cannot pad with the mode itself: ``lax``'s, or any
    function with input dilation, where (as in Flax) the undilated input is padded first.
    """
    in_spatial = [x.shape[a] for a in spatial_axes]
    if isinstance(padding, str):
        if any(d != 1 for d in input_dilation):
            raise ValueError(
                f"string `padding` ({padding!r}) cannot be combined with `input_dilation` "
                f"{tuple(input_dilation)}; give (low, high) pairs."
            )
        padding = same_pads(in_spatial, window, strides, padding)
    check_mode_pads(padding_mode, padding, in_spatial)
    x = pad_spatial(x, spatial_axes, padding, padding_mode=padding_mode)
    return x, ((0, 0),) * len(in_spatial)


def dilate(x: jnp.ndarray, spatial_axes: Sequence[int], dilation: Sequence[int]) -> jnp.ndarray:
    """Insert ``d - 1`` zeros between neighbours along each spatial axis."""
    if all(d == 1 for d in dilation):
        return x
    config = [(0, 0, 0)] * x.ndim
    for ax, d in zip(spatial_axes, dilation, strict=True):
        config[ax] = (0, 0, d - 1)
    return lax.pad(x, jnp.zeros((), x.dtype), config)


class BatchShape(NamedTuple):
    """How the input's batch axes were folded into one, to be restored on the output."""

    shape: tuple[int, ...] | None  # None: the input had exactly one batch axis


def fold_batch(x: jnp.ndarray, lhs: str, num_spatial: int) -> tuple[jnp.ndarray, BatchShape]:
    """Fold the batch axes of ``x`` (at ``N``'s place in ``lhs``) into one, as Flax does.

    An input with one axis fewer than ``lhs`` is unbatched: a batch axis of 1 is inserted.
    One with more has several batch axes where ``N`` stands; they are flattened.
    """
    rank = num_spatial + 2
    if x.ndim < rank - 1:
        raise ValueError(
            f"`inputs` must have rank >= {rank - 1} (layout {lhs!r}, optionally without the "
            f"batch axis), got shape {x.shape}."
        )
    if x.ndim == rank:
        return x, BatchShape(None)
    pos = lhs.index("N")
    extra = x.ndim - rank + 1  # number of axes standing for N
    batch = x.shape[pos : pos + extra]
    return x.reshape(*x.shape[:pos], -1, *x.shape[pos + extra :]), BatchShape(tuple(batch))


def unfold_batch(y: jnp.ndarray, out: str, batch: BatchShape) -> jnp.ndarray:
    if batch.shape is None:
        return y
    pos = out.index("N")
    return y.reshape(*y.shape[:pos], *batch.shape, *y.shape[pos + 1 :])


def add_bias(y: jnp.ndarray, bias: jnp.ndarray | None, out: str) -> jnp.ndarray:
    """Add a per-feature bias along the ``C`` axis of the output layout ``out``."""
    if bias is None:
        return y
    shape = [1] * y.ndim
    shape[out.index("C")] = bias.shape[0]
    return y + bias.reshape(shape)


def init_kernel(
    init: Callable[..., Any], key: Any, layouts: Layouts, kernel_size, i: int, o: int, dtype
) -> jnp.ndarray:
    """Draw the kernel as Flax would (``(*kernel_size, I, O)``) and store it as ``rhs``.

    The default layout therefore gives exactly Flax's values for the same key, and any
    other layout gives the same values transposed, with the same fan-in and fan-out.
    """
    w = init(key, (*kernel_size, i, o), dtype)
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
    kernel: Any, layout: str, flip: bool | None, layouts: Layouts
) -> tuple[jnp.ndarray, dict[str, int]]:
    """``kernel`` from ``layout`` to ``layouts.rhs``, plus its sizes by letter."""
    kernel = jnp.asarray(kernel)
    src, flip = source_layout(layout, flip, layouts.spatial)
    if kernel.ndim != len(src):
        raise ValueError(
            f"`kernel` of shape {kernel.shape} does not match `layout` {src!r} ({len(src)} axes)."
        )
    sizes = dict(zip(src, kernel.shape, strict=True))
    return convert_kernel(kernel, src, layouts.rhs, flip=flip), sizes


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


def check_mask(mask: Any, kernel_shape: Sequence[int]) -> None:
    if mask is not None and tuple(mask.shape) != tuple(kernel_shape):
        raise ValueError(
            f"`mask` must have the kernel's shape {tuple(kernel_shape)}, got {tuple(mask.shape)}."
        )


def local_conv(
    x: jnp.ndarray,
    kernel: jnp.ndarray,
    layouts: Layouts,
    kernel_size: Sequence[int],
    strides: Sequence[int],
    padding: str | Pads,
    padding_mode: str,
    input_dilation: Sequence[int],
    kernel_dilation: Sequence[int],
    precision: Any,
    preferred_element_type: Any = None,
) -> jnp.ndarray:
    """An unshared convolution: one kernel per output position.

    ``x`` is in ``layouts.lhs`` with one batch axis; ``kernel`` is Flax's
    ``(*out_spatial, C * prod(kernel_size), O)`` whose rows are ordered ``(C, *window)``
    (``lax.conv_general_dilated_local``'s order). The output is channels-last,
    ``(N, *out_spatial, O)``, spatial dims in the kernel layout's order.
    """
    from ._patches import extract_patches

    n = len(kernel_size)
    xc = to_channels_last(x, layouts.dn.lhs_spec)
    axes = range(1, n + 1)
    window = [(k - 1) * d + 1 for k, d in zip(kernel_size, kernel_dilation, strict=True)]
    if padding_mode != "zeros" and any(d != 1 for d in input_dilation):
        xc, padding = prepad(xc, axes, padding, padding_mode, window, strides, input_dilation)
        padding_mode = "zeros"
    if any(d != 1 for d in input_dilation) and isinstance(padding, str):
        raise ValueError(
            f"string `padding` ({padding!r}) cannot be combined with `input_dilation` "
            f"{tuple(input_dilation)}; give (low, high) pairs."
        )
    xc = dilate(xc, axes, input_dilation)
    patches = extract_patches(
        xc, kernel_size, strides, padding, dilation=kernel_dilation, padding_mode=padding_mode
    )
    c = xc.shape[-1]
    taps = patches.shape[-1] // c
    out_spatial = patches.shape[1:-1]
    if kernel.shape[:-2] != out_spatial or kernel.shape[-2] != c * taps:
        raise ValueError(
            f"the kernel of shape {kernel.shape} does not fit an input of shape {x.shape}: "
            f"expected {(*out_spatial, c * taps, kernel.shape[-1])}."
        )
    patches = patches.reshape(*patches.shape[:-1], taps, c)
    w = kernel.reshape(*out_spatial, c, taps, kernel.shape[-1])
    y = jnp.einsum(
        "n...kc,...cko->n...o",
        patches,
        w,
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
    return y


def local_out_spatial(
    in_spatial: Sequence[int],
    kernel_size: Sequence[int],
    strides: Sequence[int],
    padding: str | Pads,
    input_dilation: Sequence[int],
    kernel_dilation: Sequence[int],
) -> tuple[int, ...]:
    """Output spatial sizes of a convolution, for sizing an unshared kernel."""
    from ._patches import out_size

    dilated = [(s - 1) * d + 1 if s else 0 for s, d in zip(in_spatial, input_dilation, strict=True)]
    window = [(k - 1) * d + 1 for k, d in zip(kernel_size, kernel_dilation, strict=True)]
    if isinstance(padding, str):
        if any(d != 1 for d in input_dilation):
            raise ValueError(
                f"string `padding` ({padding!r}) cannot be combined with `input_dilation` "
                f"{tuple(input_dilation)}; give (low, high) pairs."
            )
        padding = same_pads(in_spatial, window, strides, padding)
    return tuple(
        out_size(s + lo + hi, w, st)
        for s, (lo, hi), w, st in zip(dilated, padding, window, strides, strict=True)
    )


def circular_wrap(
    y: jnp.ndarray,
    out_spatial_axes: Sequence[int],
    periods: Sequence[int],
    transpose_kernel: bool,
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


class ConvConfig(NamedTuple):
    """A convolution module's static configuration, checked once."""

    layouts: Layouts
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    input_dilation: tuple[int, ...]
    kernel_dilation: tuple[int, ...]
    padding: str | Pads
    padding_mode: str
    feature_group_count: int

    @property
    def window(self) -> tuple[int, ...]:
        return tuple(
            (k - 1) * d + 1 for k, d in zip(self.kernel_size, self.kernel_dilation, strict=True)
        )


def conv_config(
    kernel_size: Any,
    strides: Any,
    padding: Any,
    input_dilation: Any,
    kernel_dilation: Any,
    feature_group_count: Any,
    dimension_numbers: Any,
    padding_mode: Any,
) -> ConvConfig:
    """Check a convolution module's arguments and resolve them (see :func:`flax_padding`)."""
    ks = kernel_size_tuple(kernel_size)
    n = len(ks)
    layouts = parse_layouts(dimension_numbers, n)
    strides = broadcast_ints("strides", strides, n)
    input_dilation = broadcast_ints("input_dilation", input_dilation, n)
    kernel_dilation = broadcast_ints("kernel_dilation", kernel_dilation, n)
    groups = positive("feature_group_count", feature_group_count)
    pads, mode = flax_padding(padding, padding_mode, ks, kernel_dilation)
    if mode != "zeros" and any(d != 1 for d in input_dilation) and isinstance(pads, str):
        raise ValueError(
            f"`padding={padding!r}` with `padding_mode={mode!r}` cannot be combined with "
            f"`input_dilation` {input_dilation}; give (low, high) pairs."
        )
    return ConvConfig(layouts, ks, strides, input_dilation, kernel_dilation, pads, mode, groups)


def check_features(
    x: jnp.ndarray,
    layouts: Layouts,
    expected: int,
    what: str,
    out_shape: Callable[[Layouts], tuple[int, ...] | None] | None = None,
) -> None:
    """``inputs`` has ``expected`` features on its ``C`` axis, else a ValueError with the
    layout doctor's advice: the input layouts under which it would have (``out_shape``
    gives the output's shape under another layout, None where that does not fit)."""
    got = x.shape[layouts.dn.lhs_spec[1]]
    if got != expected:
        message = (
            f"`inputs` of shape {x.shape} (layout {layouts.lhs!r}) has {got} features on its "
            f"'C' axis, but {what} expects {expected}."
        )
        raise ValueError(f"{message}\n{module_advice(x.shape, layouts, expected, out_shape)}")


def module_advice(
    x_shape: Sequence[int],
    layouts: Layouts,
    expected: int,
    out_shape: Callable[[Layouts], tuple[int, ...] | None] | None,
) -> str:
    """The layout doctor for a module, which owns its kernel: the input layouts that fit."""

    def fits(strings: tuple[str, str, str]) -> tuple[int, ...] | None:
        lay = parse_layouts(strings, len(x_shape) - 2)
        if x_shape[lay.dn.lhs_spec[1]] != expected or out_shape is None:
            return None
        return out_shape(lay)

    assumed = (layouts.lhs, layouts.rhs, layouts.out)
    guesses = _doctor.readings(x_shape, (), assumed, fits, kernels=False, module=True)
    return _doctor.advice(assumed, guesses, ("inputs", "kernel"), kernels=False)


def conv_out_shape(x_shape: Sequence[int], kernel_shape: Sequence[int], cfg: ConvConfig):
    """``lay -> `` the output shape of ``cfg``'s convolution with layouts ``lay`` (None where
    the shapes do not fit or the output would be empty)."""

    def out_shape(lay: Layouts) -> tuple[int, ...] | None:
        try:
            plan = general_plan(
                x_shape, kernel_shape, cfg.strides, cfg.padding, cfg.input_dilation,
                cfg.kernel_dilation, (lay.lhs, lay.rhs, lay.out), cfg.feature_group_count, 1,
                "zeros", diagnose=False,
            )  # fmt: skip
        except (TypeError, ValueError):
            return None
        return None if _doctor.empty_dims(plan.in_spatial, plan.out_spatial) else plan.out_shape

    return out_shape


def check_window(x: jnp.ndarray, kernel: jnp.ndarray, cfg: ConvConfig) -> None:
    """A ValueError, with the layout doctor's advice, when the module's window is larger than
    the padded input so that the output would be empty (an empty batch is fine)."""
    lay = cfg.layouts
    try:
        plan = general_plan(
            x.shape, kernel.shape, cfg.strides, cfg.padding, cfg.input_dilation,
            cfg.kernel_dilation, (lay.lhs, lay.rhs, lay.out), cfg.feature_group_count, 1,
            "zeros", diagnose=False,
        )  # fmt: skip
    except (TypeError, ValueError):
        return  # not for this check to say: the convolution function will (lax may accept it)
    dims = _doctor.empty_dims(plan.in_spatial, plan.out_spatial)
    if dims:
        j = dims[0]
        letter = lay.spatial[j]
        expected = kernel.shape[lay.rhs.index("I")] * cfg.feature_group_count
        raise ValueError(
            f"`inputs` of shape {x.shape} (layout {lay.lhs!r}) is {plan.in_spatial[j]} long on "
            f"its {letter!r} axis, less than the module's window of {cfg.window[j]} there "
            f"(padding {plan.pads[j]}): the output would be empty, shape {plan.out_shape}.\n"
            + module_advice(x.shape, lay, expected, conv_out_shape(x.shape, kernel.shape, cfg))
        )


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

    ``native_mode``: whether ``fn`` takes ``padding_mode=``; otherwise non-zero padding
    modes are applied with ``jnp.pad`` first.
    """
    lay = cfg.layouts
    x, batch = fold_batch(inputs, lay.lhs, len(cfg.kernel_size))
    i_size = kernel.shape[lay.rhs.index("I")]
    out_shape = conv_out_shape(x.shape, kernel.shape, cfg)
    check_features(x, lay, i_size * cfg.feature_group_count, "the kernel", out_shape)
    check_window(x, kernel, cfg)
    padding = cfg.padding
    kwargs: dict[str, Any] = {}
    if cfg.padding_mode != "zeros":
        if native_mode and all(d == 1 for d in cfg.input_dilation):
            kwargs["padding_mode"] = cfg.padding_mode
        else:
            x, padding = prepad(
                x,
                lay.dn.lhs_spec[2:],
                padding,
                cfg.padding_mode,
                cfg.window,
                cfg.strides,
                cfg.input_dilation,
            )
    if preferred_element_type is not None:
        kwargs["preferred_element_type"] = preferred_element_type
    if out_sharding is not None:
        kwargs["out_sharding"] = out_sharding
    y = fn(
        x,
        kernel,
        cfg.strides,
        padding,
        lhs_dilation=cfg.input_dilation,
        rhs_dilation=cfg.kernel_dilation,
        dimension_numbers=(lay.lhs, lay.rhs, lay.out),
        feature_group_count=cfg.feature_group_count,
        precision=precision,
        **kwargs,
    )
    return unfold_batch(add_bias(y, bias, lay.out), lay.out, batch)


class TransposeConfig(NamedTuple):
    """A transposed convolution module's static configuration, checked once."""

    layouts: Layouts
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    kernel_dilation: tuple[int, ...]
    padding: str | Pads  # 'SAME', 'VALID', 'CIRCULAR' or pairs of the dilated input (lax's)
    transpose_kernel: bool


def transpose_config(
    kernel_size: Any,
    strides: Any,
    padding: Any,
    kernel_dilation: Any,
    dimension_numbers: Any,
    transpose_kernel: Any,
    use_consistent_padding: bool = False,
    output_padding: Any = None,
) -> TransposeConfig:
    """Check a transposed convolution module's arguments. Explicit padding becomes pads of
    the dilated input, lax's convention; with ``use_consistent_padding`` it is read as
    PyTorch's ``padding`` (the forward convolution's), and ``output_padding`` is added to
    the high side as in PyTorch."""
    ks = kernel_size_tuple(kernel_size)
    n = len(ks)
    layouts = parse_layouts(dimension_numbers, n)
    strides = broadcast_ints("strides", strides, n)
    kernel_dilation = broadcast_ints("kernel_dilation", kernel_dilation, n)
    if isinstance(padding, str):
        word = padding.upper()
        if word not in ("SAME", "VALID", "CIRCULAR"):
            raise ValueError(
                "`padding` of a transposed convolution must be 'SAME', 'VALID', 'CIRCULAR', an "
                f"int or a sequence of ints or (low, high) pairs, got {padding!r}."
            )
        if output_padding is not None:
            raise ValueError(
                f"`output_padding` needs explicit padding (PyTorch's `padding`, an int or "
                f"pairs), got padding {padding!r}."
            )
        return TransposeConfig(layouts, ks, strides, kernel_dilation, word, bool(transpose_kernel))
    pads, _ = flax_padding(padding, "zeros", ks, kernel_dilation)
    if use_consistent_padding or output_padding is not None:
        extra = output_padding if output_padding is not None else 0
        extra = (extra,) * n if isinstance(extra, int) else tuple(extra)
        if len(extra) != n or not all(isinstance(v, int) for v in extra):
            raise ValueError(
                f"`output_padding` must be an int or one int per spatial dimension ({n}), got "
                f"{output_padding!r}."
            )
        window = [(k - 1) * d + 1 for k, d in zip(ks, kernel_dilation, strict=True)]
        if not use_consistent_padding:  # lax's pads: back to the forward convolution's
            pads = tuple((w - 1 - lo, w - 1 - hi) for w, (lo, hi) in zip(window, pads, strict=True))
        pads = transposed_pads(pads, window, extra, strides, kernel_dilation)
    return TransposeConfig(layouts, ks, strides, kernel_dilation, pads, bool(transpose_kernel))


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
    if x.shape[lay.dn.lhs_spec[1]] != expected:

        def out_shape(other: Layouts) -> tuple[int, ...] | None:
            def call(a, k):
                return fn(a, k, cfg.strides, padding, rhs_dilation=cfg.kernel_dilation,
                          dimension_numbers=(other.lhs, other.rhs, other.out),
                          transpose_kernel=cfg.transpose_kernel, precision=precision)  # fmt: skip

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
        check_features(x, lay, expected, what, out_shape)
    y = fn(
        x,
        kernel,
        cfg.strides,
        padding,
        rhs_dilation=cfg.kernel_dilation,
        dimension_numbers=(lay.lhs, lay.rhs, lay.out),
        transpose_kernel=cfg.transpose_kernel,
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
    if cfg.padding == "CIRCULAR":
        periods = [x.shape[a] * s for a, s in zip(lay.dn.lhs_spec[2:], cfg.strides, strict=True)]
        y = circular_wrap(y, lay.dn.out_spec[2:], periods, cfg.transpose_kernel)
    return unfold_batch(add_bias(y, bias, lay.out), lay.out, batch)


def local_kernel_shape(
    cfg: ConvConfig, in_spatial: Sequence[int], in_features: int, out_features: int
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Flax's ``ConvLocal`` parameter shapes: kernel ``(*out, C * prod(k), O)``, bias
    ``(*out, O)``."""
    out = local_out_spatial(
        in_spatial,
        cfg.kernel_size,
        cfg.strides,
        cfg.padding,
        cfg.input_dilation,
        cfg.kernel_dilation,
    )
    taps = 1
    for k in cfg.kernel_size:
        taps *= k
    return (*out, taps * in_features, out_features), (*out, out_features)


def apply_local(
    cfg: ConvConfig,
    inputs: jnp.ndarray,
    kernel: jnp.ndarray,
    bias: jnp.ndarray | None,
    precision: Any,
    preferred_element_type: Any = None,
) -> jnp.ndarray:
    """Run an unshared convolution as Flax's ``ConvLocal`` does."""
    lay = cfg.layouts
    x, batch = fold_batch(inputs, lay.lhs, len(cfg.kernel_size))
    y = local_conv(
        x,
        kernel,
        lay,
        cfg.kernel_size,
        cfg.strides,
        cfg.padding,
        cfg.padding_mode,
        cfg.input_dilation,
        cfg.kernel_dilation,
        precision,
        preferred_element_type,
    )
    if bias is not None:
        y = y + bias[None]
    return unfold_batch(from_channels_last(y, lay.dn.out_spec), lay.out, batch)
