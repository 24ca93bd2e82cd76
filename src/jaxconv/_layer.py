"""A convolution layer's configuration: Flax-style arguments checked once, and its plan.

A layer (``jaxconv.nnx.Conv``, ``jaxconv.linen.Conv``, their ``ConvTranspose`` and
``ConvLocal``, or Flax's own) describes its convolution by Flax's arguments: a kernel size,
strides and dilations that may be one int, padding words such as ``'CIRCULAR'`` or
``'CAUSAL'``, and, in jaxconv's layers, layouts and a padding mode. They are read here once
into a :class:`ConvConfig` or :class:`TransposeConfig`; :func:`module_plan` plans a layer's
convolution on given shapes, and the checks of a layer's input (with the layout doctor's
advice) use it. ``jaxconv.explain`` takes layers apart with the same reading. Nothing here
imports Flax.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax.numpy as jnp

from . import _doctor
from ._checks import int_tuple, positive_int
from ._conv import transpose_padding
from ._layout import DimensionNumbers, channels_last, conv_dimension_numbers
from ._padding import Pads, check_padding_mode, parse_padding
from ._plan import ConvPlan, Form, dilated_size, make_plan

FLAX_PADDING_WORDS = ("SAME", "VALID", "SAME_LOWER", "CIRCULAR", "REFLECT", "CAUSAL")


def kernel_size_tuple(kernel_size: Any) -> tuple[int, ...]:
    """Flax's rule: an int is a 1-d kernel; otherwise a sequence of positive ints."""
    if isinstance(kernel_size, str) or not isinstance(kernel_size, Sequence | int):
        raise TypeError(f"`kernel_size` must be an int or a sequence of ints, got {kernel_size!r}.")
    sizes = (kernel_size,) if isinstance(kernel_size, int) else tuple(kernel_size)
    if not sizes:
        raise ValueError("`kernel_size` must give at least one spatial dimension, got ().")
    return int_tuple("kernel_size", sizes, len(sizes))


class Layouts(NamedTuple):
    """A module's three layout strings and their parsed dimension numbers."""

    lhs: str
    rhs: str
    out: str
    dn: DimensionNumbers

    @property
    def strings(self) -> tuple[str, str, str]:
        return (self.lhs, self.rhs, self.out)

    @property
    def spatial(self) -> str:
        """Spatial letters in the kernel layout's order (the order of strides and sizes)."""
        return "".join(c for c in self.rhs if c not in "OI")

    @property
    def canonical_kernel(self) -> str:
        """Flax's kernel layout with this module's letters, e.g. ``"HWIO"``."""
        return self.spatial + "IO"

    def input_shape(self, spatial: Sequence[int], c: int, n: int = 1) -> tuple[int, ...]:
        """An input's shape in ``lhs`` layout: spatial sizes (kernel order), ``C``, ``N``."""
        sizes = {**dict(zip(self.spatial, spatial, strict=True)), "N": n, "C": c}
        return tuple(sizes[letter] for letter in self.lhs)

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
    padding: Any, padding_mode: str, kernel_size: Sequence[int], kernel_dilation: Sequence[int]
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
    window = list(map(dilated_size, kernel_size, kernel_dilation))
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
    try:  # Flax's canonicalize_padding: an int, or one int or pair per spatial dim
        return parse_padding(padding, n), mode
    except (TypeError, ValueError):
        pass
    raise ValueError(
        f"`padding` must be a string, an int or a sequence of {n} ints or (low, high) pairs "
        f"(one per spatial dimension), got {padding!r}."
    )


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
        return tuple(map(dilated_size, self.kernel_size, self.kernel_dilation))


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
    strides, input_dilation, kernel_dilation = (
        int_tuple(name, value, n, broadcast=True)
        for name, value in (
            ("strides", strides),
            ("input_dilation", input_dilation),
            ("kernel_dilation", kernel_dilation),
        )
    )
    groups = positive_int("feature_group_count", feature_group_count)
    pads, mode = flax_padding(padding, padding_mode, ks, kernel_dilation)
    if mode != "zeros" and any(d != 1 for d in input_dilation) and isinstance(pads, str):
        raise ValueError(
            f"`padding={padding!r}` with `padding_mode={mode!r}` cannot be combined with "
            f"`input_dilation` {input_dilation}; give (low, high) pairs."
        )
    return ConvConfig(layouts, ks, strides, input_dilation, kernel_dilation, pads, mode, groups)


MODULE = Form(
    "inputs", "kernel", "strides", "input_dilation", "kernel_dilation", "feature_group_count",
    mode_first=True,
)  # fmt: skip
"""The modules' names; a ``padding_mode`` pads the undilated input (Flax's order)."""


def module_plan(
    cfg: ConvConfig,
    x_shape: Sequence[int],
    kernel_shape: Sequence[int],
    layouts: Layouts | None = None,
    form: Form = MODULE,
    diagnose: bool = False,
) -> ConvPlan:
    """The plan of ``cfg``'s convolution on these shapes (in ``layouts``, default the
    module's), as the module computes it."""
    return make_plan(
        x_shape, kernel_shape, cfg.strides, cfg.padding, cfg.input_dilation, cfg.kernel_dilation,
        (layouts or cfg.layouts).strings, cfg.feature_group_count, 1, cfg.padding_mode, form=form,
        diagnose=diagnose,
    )  # fmt: skip


def fold_batch(x: jnp.ndarray, lhs: str, num_spatial: int) -> tuple[jnp.ndarray, Any]:
    """Fold the batch axes of ``x`` (at ``N``'s place in ``lhs``) into one, as Flax does.

    An input with one axis fewer than ``lhs`` is unbatched: a batch axis of 1 is inserted.
    One with more has several batch axes where ``N`` stands; they are flattened. Returns
    the folded input and the batch shape to restore (``None``: one batch axis).
    """
    rank = num_spatial + 2
    if x.ndim < rank - 1:
        raise ValueError(
            f"`inputs` must have rank >= {rank - 1} (layout {lhs!r}, optionally without the "
            f"batch axis), got shape {x.shape}."
        )
    if x.ndim == rank:
        return x, None
    pos = lhs.index("N")
    extra = x.ndim - rank + 1  # number of axes standing for N
    batch = x.shape[pos : pos + extra]
    return x.reshape(*x.shape[:pos], -1, *x.shape[pos + extra :]), tuple(batch)


def unfold_batch(y: jnp.ndarray, out: str, batch: Any) -> jnp.ndarray:
    if batch is None:
        return y
    pos = out.index("N")
    return y.reshape(*y.shape[:pos], *batch, *y.shape[pos + 1 :])


def check_inputs(
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

    guesses = _doctor.readings(x_shape, (), layouts.strings, fits, kernels=False, module=True)
    return _doctor.advice(layouts.strings, guesses, ("inputs", "kernel"), kernels=False)


def conv_out_shape(x_shape: Sequence[int], kernel_shape: Sequence[int], cfg: ConvConfig):
    """``lay -> `` the output shape of ``cfg``'s convolution with layouts ``lay`` (None where
    the shapes do not fit or the output would be empty)."""

    def out_shape(lay: Layouts) -> tuple[int, ...] | None:
        try:
            plan = module_plan(cfg, x_shape, kernel_shape, lay)
        except (TypeError, ValueError):
            return None
        return None if _doctor.empty_dims(plan.in_spatial, plan.out_spatial) else plan.out_shape

    return out_shape


def check_window(x: jnp.ndarray, kernel: jnp.ndarray, cfg: ConvConfig) -> None:
    """A ValueError, with the layout doctor's advice, when the module's window is larger than
    the padded input so that the output would be empty (an empty batch is fine)."""
    lay = cfg.layouts
    try:
        plan = module_plan(cfg, x.shape, kernel.shape)
    except (TypeError, ValueError):
        return  # not for this check to say: the convolution function will (lax may accept it)
    dims = _doctor.empty_dims(plan.in_spatial, plan.out_spatial)
    if dims:
        j = dims[0]
        expected = kernel.shape[lay.rhs.index("I")] * cfg.feature_group_count
        raise ValueError(
            f"`inputs` of shape {x.shape} (layout {lay.lhs!r}) is {plan.in_spatial[j]} long on "
            f"its {lay.spatial[j]!r} axis, less than the module's window of {cfg.window[j]} "
            f"there (padding {plan.pads[j]}): the output would be empty, shape "
            f"{plan.out_shape}.\n"
            + module_advice(x.shape, lay, expected, conv_out_shape(x.shape, kernel.shape, cfg))
        )


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
    the dilated input, lax's convention (see :func:`jaxconv.conv_transpose`: with
    ``use_consistent_padding`` it is PyTorch's ``padding``, and ``output_padding`` is added
    to the high side)."""
    ks = kernel_size_tuple(kernel_size)
    n = len(ks)
    layouts = parse_layouts(dimension_numbers, n)
    strides = int_tuple("strides", strides, n, broadcast=True)
    kernel_dilation = int_tuple("kernel_dilation", kernel_dilation, n, broadcast=True)
    transpose_kernel = bool(transpose_kernel)
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
        return TransposeConfig(layouts, ks, strides, kernel_dilation, word, transpose_kernel)
    pads, _ = flax_padding(padding, "zeros", ks, kernel_dilation)
    pads = transpose_padding(
        pads, ks, strides, kernel_dilation, use_consistent_padding, output_padding
    )
    return TransposeConfig(layouts, ks, strides, kernel_dilation, pads, transpose_kernel)
