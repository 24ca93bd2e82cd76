"""A convolution's static description, checked once at the boundary.

Every public entry point turns its arguments into one :class:`ConvPlan` -- plain Python
ints and a few settings, hashable -- with :func:`make_plan`, and everything after it
trusts the plan. All checks happen here, at trace time, so bad input never reaches XLA,
and the window, dilated-input and output-size arithmetic lives here only: as properties of
the plan, and in :func:`out_size` and lax's own ``padtype_to_pads``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._checks import int_tuple, positive_int
from ._layout import DimensionNumbers, conv_dimension_numbers
from ._padding import Pads, check_mode_pads, check_padding_mode, parse_padding


def dilated_size(size: int, dilation: int) -> int:
    """``size`` elements with ``dilation - 1`` zeros between neighbours (0 stays 0): the
    input seen through input dilation, or the window of a dilated kernel."""
    return 0 if size == 0 else (size - 1) * dilation + 1


def out_size(padded: int, window: int, stride: int) -> int:
    """Number of window positions along one padded dim (0 when the window does not fit)."""
    return (padded - window) // stride + 1 if padded >= window else 0


def same_pads(
    in_spatial: Sequence[int], window: Sequence[int], strides: Sequence[int], word: str
) -> Pads:
    """(low, high) pairs for ``'VALID'``, ``'SAME'`` or ``'SAME_LOWER'`` (lax's rule)."""
    return tuple(tuple(p) for p in lax.padtype_to_pads(in_spatial, window, strides, word))


class ConvPlan(NamedTuple):
    """Shapes, hyper-parameters and settings of one convolution, spatial dims in kernel-spec
    order.

    Strategies see the canonical arrays of the plan's compute layout: channels-last input
    ``(N, *in_spatial, C)``, kernel ``(*kernel, C // feature_groups, O)`` and output
    ``(N // batch_groups, *out_spatial, O)``, or with ``channels_first`` input
    ``(N, C, *in_spatial)`` and output ``(N // batch_groups, O, *out_spatial)`` (the kernel
    keeps its layout). ``dn`` is the user's layout, which the executor moves from and back to.
    """

    dn: DimensionNumbers
    batch: int
    in_features: int
    out_features: int
    in_spatial: tuple[int, ...]
    kernel: tuple[int, ...]
    out_spatial: tuple[int, ...]
    strides: tuple[int, ...]
    pads: Pads
    lhs_dilation: tuple[int, ...]
    rhs_dilation: tuple[int, ...]
    feature_groups: int = 1
    batch_groups: int = 1
    padding_mode: str = "zeros"
    # The compute layout, set once by the policy (jaxconv._policy.in_layout): where a
    # strategy runs well on channels-first data, no layout transposes are needed.
    channels_first: bool = False
    precision: Any = None  # as given (a tuple where a list was), for every dot_general
    preferred: np.dtype | None = None  # the checked preferred_element_type
    # Where the user's kernel is output-major (OIHW, OHWI), the order of the rest, "ik" or
    # "ki", so that a strategy may read it where it lies (jaxconv._strategies.
    # reads_kernel_in_place); None otherwise, and for kernels derived from it (gradients).
    kernel_order: str | None = None

    # -- sizes ------------------------------------------------------------------------------

    @property
    def num_spatial(self) -> int:
        return len(self.kernel)

    @property
    def taps(self) -> int:
        """Number of kernel positions, ``prod(kernel)``."""
        return math.prod(self.kernel)

    @property
    def group_in(self) -> int:
        """Input features per group, the kernel's ``I`` size."""
        return self.in_features // self.feature_groups

    @property
    def window(self) -> tuple[int, ...]:
        """The dilated kernel's extent per spatial dim, ``(k - 1) * rhs_dilation + 1``."""
        return tuple(map(dilated_size, self.kernel, self.rhs_dilation))

    @property
    def dilated_in(self) -> tuple[int, ...]:
        """The input's extent after input dilation, ``(s - 1) * lhs_dilation + 1``."""
        return tuple(map(dilated_size, self.in_spatial, self.lhs_dilation))

    @property
    def padded_in(self) -> tuple[int, ...]:
        """What the window slides over per spatial dim: the input dilated, then zero-padded,
        or with a ``padding_mode`` padded first and then dilated (Flax's order; the public
        functions refuse a mode with input dilation, where the two orders differ)."""
        if self.padding_mode != "zeros":
            sizes = (s + lo + hi for s, (lo, hi) in zip(self.in_spatial, self.pads, strict=True))
            return tuple(map(dilated_size, sizes, self.lhs_dilation))
        return tuple(d + lo + hi for d, (lo, hi) in zip(self.dilated_in, self.pads, strict=True))

    @property
    def out_batch(self) -> int:
        return self.batch // self.batch_groups

    @property
    def is_depthwise(self) -> bool:
        return self.batch_groups == 1 and self.group_in == 1 and self.feature_groups > 1

    @property
    def is_pointwise(self) -> bool:
        """Whether the convolution is one matrix product on the input as it is: an
        ungrouped ``1 x ... x 1`` kernel with no stride, padding or input dilation."""
        return (
            self.taps == 1
            and self.feature_groups == self.batch_groups == 1
            and all(s == 1 for s in self.strides + self.lhs_dilation)
            and all(p == (0, 0) for p in self.pads)
        )

    @property
    def is_empty(self) -> bool:
        """Whether the output is empty or every window is (nothing to contract)."""
        return (
            self.taps == 0
            or self.group_in == 0
            or self.batch == 0
            or 0 in self.out_spatial
            or 0 in self.in_spatial
        )

    @property
    def flops(self) -> int:
        """Multiply-adds times two of the direct algorithm (no zero-skipping)."""
        outs = math.prod(self.out_spatial) * self.out_batch
        return 2 * outs * self.out_features * self.group_in * self.taps

    @property
    def features_first(self) -> bool:
        """Whether the user's input and output keep their features before their spatial axes
        (``NCHW``-like): where a strategy may run channels-first without moving them."""
        dn = self.dn
        return all(
            spec[1] < min(spec[2:], default=spec[1] + 1) for spec in (dn.lhs_spec, dn.out_spec)
        )

    # -- the compute layout -----------------------------------------------------------------

    @property
    def spatial_axes(self) -> tuple[int, ...]:
        """The spatial axes of the canonical input and output."""
        first = 2 if self.channels_first else 1
        return tuple(range(first, first + self.num_spatial))

    @property
    def feature_axis(self) -> int:
        """The feature axis of the canonical input and output."""
        return 1 if self.channels_first else self.num_spatial + 1

    def canonical(self, batch: int, features: int, spatial: Sequence[int]) -> tuple[int, ...]:
        """A canonical activation shape in the compute layout."""
        if self.channels_first:
            return (batch, features, *spatial)
        return (batch, *spatial, features)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The canonical input's shape: ``(N, *S, C)``, or ``(N, C, *S)`` channels-first."""
        return self.canonical(self.batch, self.in_features, self.in_spatial)

    @property
    def kernel_shape(self) -> tuple[int, ...]:
        """The canonical kernel's shape ``(*K, C // groups, O)``."""
        return (*self.kernel, self.group_in, self.out_features)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The canonical output's shape in the compute layout."""
        return self.canonical(self.out_batch, self.out_features, self.out_spatial)

    @property
    def out_shape(self) -> tuple[int, ...]:
        """The output's shape in the user's layout, ``dn.out_spec``."""
        return _shape_in(self.dn.out_spec, (self.out_batch, self.out_features, *self.out_spatial))

    def out_dtype(self, dtype: Any) -> np.dtype:
        """The output's dtype for inputs of ``dtype``: ``preferred``, else ``dtype``."""
        return jnp.dtype(self.preferred or dtype)

    def mode_padded(self) -> ConvPlan:
        """The plan of the input once padded with ``padding_mode``: no padding left."""
        n = self.num_spatial
        pads = self.pads
        in_spatial = tuple(s + lo + hi for s, (lo, hi) in zip(self.in_spatial, pads, strict=True))
        return self._replace(in_spatial=in_spatial, pads=((0, 0),) * n, padding_mode="zeros")


class Form(NamedTuple):
    """How an entry point names its arguments (for its error messages) and reads them."""

    lhs: str = "lhs"
    rhs: str = "rhs"
    strides: str = "window_strides"
    lhs_dilation: str = "lhs_dilation"
    rhs_dilation: str = "rhs_dilation"
    groups: str = "feature_group_count"
    broadcast: bool = False  # an int stands for every spatial dim
    default_layout: str = "channels_first"  # for dimension_numbers=None
    mode_first: bool = False  # a padding_mode may pad the input before input dilation


LAX = Form()
"""``conv_general_dilated``'s names and lax's default layout."""

FRIENDLY = Form("x", "w", "strides", "lhs_dilation", "dilation", "groups", True, "channels_last")
"""``conv``, ``conv1d``/``conv2d``/``conv3d``: ``x``/``w``, ints broadcast, channels-last."""


def check_preferred(dtype: Any, preferred: Any) -> np.dtype | None:
    """The checked ``preferred_element_type``, with lax's rules: integers may ask for any
    integer of the same signedness or any float, floats (``bfloat16`` included) for a float,
    complex for a complex, never narrower than the input."""
    if preferred is None:
        return None
    try:
        pref = jax.dtypes.canonicalize_dtype(jnp.dtype(preferred))
    except TypeError:
        raise TypeError(f"`preferred_element_type` must be a dtype, got {preferred!r}.") from None
    dtype = np.dtype(dtype)
    sub = jnp.issubdtype
    if sub(dtype, np.integer) and sub(pref, np.floating):
        ok = True
    else:
        kinds = (np.integer, np.floating, np.complexfloating)
        ok = all(sub(pref, t) for t in kinds if sub(dtype, t))
        ok = ok and (sub(pref, np.signedinteger) or not sub(dtype, np.signedinteger))
    if not ok or pref.itemsize < dtype.itemsize:
        raise TypeError(
            f"`preferred_element_type` {pref} does not fit inputs of dtype {dtype}: it must be of "
            "the same kind (integers may also ask for a float; signed integers need a signed "
            "integer) and not narrower."
        )
    return pref


def _kernel_order(dn: DimensionNumbers) -> str | None:
    """``ConvPlan.kernel_order`` of a kernel laid out as ``dn.rhs_spec`` says."""
    o, i, *spatial = dn.rhs_spec
    if o != 0 or spatial != sorted(spatial):
        return None
    return "ik" if i == 1 else "ki" if i == len(spatial) + 1 else None


def make_plan(
    lhs_shape: Sequence[int],
    rhs_shape: Sequence[int],
    window_strides: Any,
    padding: Any,
    lhs_dilation: Any = None,
    rhs_dilation: Any = None,
    dimension_numbers: Any = None,
    feature_group_count: Any = 1,
    batch_group_count: Any = 1,
    padding_mode: str = "zeros",
    *,
    dtype: Any = None,
    precision: Any = None,
    preferred_element_type: Any = None,
    form: Form = LAX,
    empty_output: str = "allow",
    diagnose: bool = True,
) -> ConvPlan:
    """The plan of a convolution with ``conv_general_dilated``'s arguments, in its order.

    ``dimension_numbers`` is anything :func:`jaxconv.conv_dimension_numbers` reads (``None``:
    ``form.default_layout``). ``dtype`` is the inputs' (to check ``preferred_element_type``).
    ``empty_output`` says what to do when the window is larger than the padded input, so
    that the output is empty although the input is not: ``'allow'`` (lax's behaviour),
    ``'warn'`` or ``'error'``. With ``diagnose``, shape errors and warnings carry the layout
    doctor's advice (see ``jaxconv._doctor``): which readings of the arrays would fit.

    Raises:
        TypeError: an argument of the wrong kind.
        ValueError: arguments that do not fit the shapes or each other.
    """
    if len(lhs_shape) != len(rhs_shape):
        raise ValueError(
            f"`{form.lhs}` and `{form.rhs}` must have the same rank, got shapes "
            f"{tuple(lhs_shape)} and {tuple(rhs_shape)}."
        )
    dn = conv_dimension_numbers(len(lhs_shape), dimension_numbers, default=form.default_layout)
    n = dn.num_spatial
    strides = int_tuple(form.strides, window_strides, n, broadcast=form.broadcast)
    lhs_dil = int_tuple(form.lhs_dilation, lhs_dilation, n, broadcast=form.broadcast)
    rhs_dil = int_tuple(form.rhs_dilation, rhs_dilation, n, broadcast=form.broadcast)
    fg = positive_int(form.groups, feature_group_count)
    bg = positive_int("batch_group_count", batch_group_count)
    padding_mode = check_padding_mode(padding_mode)

    batch = lhs_shape[dn.lhs_spec[0]]
    cin = lhs_shape[dn.lhs_spec[1]]
    in_spatial = tuple(lhs_shape[a] for a in dn.lhs_spec[2:])
    cout = rhs_shape[dn.rhs_spec[0]]
    kin = rhs_shape[dn.rhs_spec[1]]
    kernel = tuple(rhs_shape[a] for a in dn.rhs_spec[2:])

    if fg > 1 and bg > 1:
        raise ValueError(
            f"at most one of `{form.groups}` (={fg}) and `batch_group_count` (={bg}) may be > 1."
        )

    def diagnosed(message: str) -> str:
        """``message`` and the layout doctor's advice: which readings of the shapes fit."""
        if not diagnose:
            return message
        from ._doctor import plan_advice

        def replan(strings: tuple[str, str, str]) -> ConvPlan:  # these arguments, other layouts
            return make_plan(
                lhs_shape, rhs_shape, window_strides, padding, lhs_dilation, rhs_dilation,
                strings, feature_group_count, batch_group_count, padding_mode, form=form,
                diagnose=False,
            )  # fmt: skip

        names = (form.lhs, form.rhs, form.groups)
        return plan_advice(
            message, lhs_shape, rhs_shape, dn, replan, (cin, kin, cout, fg, bg), names
        )

    where = f"`{form.lhs}` with shape {tuple(lhs_shape)}"
    if cin % fg:
        raise ValueError(
            diagnosed(
                f"`{form.groups}` (={fg}) must divide the input features (={cin}) of {where}."
            )
        )
    if cin // fg != kin:
        per_group = f" divided by `{form.groups}` (={fg})" if fg > 1 else ""
        raise ValueError(
            diagnosed(
                f"the input features of `{form.lhs}` (={cin}, shape {tuple(lhs_shape)}){per_group} "
                f"must equal the kernel's input features (={kin}, `{form.rhs}` shape "
                f"{tuple(rhs_shape)})."
            )
        )
    for name, g in ((form.groups, fg), ("batch_group_count", bg)):
        if cout % g:
            raise ValueError(
                diagnosed(
                    f"`{name}` (={g}) must divide the kernel's output features (={cout}, "
                    f"`{form.rhs}` shape {tuple(rhs_shape)})."
                )
            )
    if batch % bg:
        raise ValueError(
            f"`batch_group_count` (={bg}) must divide the batch (={batch}) of `{form.lhs}`."
        )

    plan = ConvPlan(
        dn, batch, cin, cout, in_spatial, kernel, (), strides, (), lhs_dil, rhs_dil, fg, bg,
        padding_mode, False, tuple(precision) if isinstance(precision, list) else precision,
    )  # fmt: skip
    pads = parse_padding(padding, n)
    if isinstance(pads, str):
        if any(d != 1 for d in lhs_dil):
            raise ValueError(
                f"string `padding` ({pads!r}) cannot be combined with input dilation "
                f"`{form.lhs_dilation}`={lhs_dil}; give explicit (low, high) pairs or use "
                "conv_transpose."
            )
        pads = same_pads(in_spatial, plan.window, strides, pads)
    if padding_mode != "zeros" and any(d != 1 for d in lhs_dil) and not form.mode_first:
        raise ValueError(
            f"`padding_mode={padding_mode!r}` cannot be combined with input dilation {lhs_dil}."
        )
    check_mode_pads(padding_mode, pads, in_spatial)
    plan = plan._replace(pads=pads, kernel_order=_kernel_order(dn))
    padded = plan.padded_in
    if any(p < 0 for p in padded):
        raise ValueError(
            f"negative `padding` {pads} is larger than the input's spatial size {in_spatial}."
        )
    plan = plan._replace(out_spatial=tuple(map(out_size, padded, plan.window, strides)))
    if empty_output != "allow":
        from ._doctor import empty_dims, report

        dims = empty_dims(in_spatial, plan.out_spatial)
        if dims:
            spatial = dn.to_strings()[1].replace("O", "").replace("I", "")
            j = dims[0]
            verb = "would be" if empty_output == "error" else "is"
            report(
                diagnosed(
                    f"the window of `{form.rhs}` (shape {tuple(rhs_shape)}) spans "
                    f"{plan.window[j]} along {spatial[j]!r}, more than the {padded[j]} of the "
                    f"padded input `{form.lhs}` (shape {tuple(lhs_shape)}, padding {pads[j]}): "
                    f"the output {verb} empty, shape {plan.out_shape}."
                ),
                empty_output,
            )
    if preferred_element_type is not None:
        plan = plan._replace(preferred=check_preferred(dtype, preferred_element_type))
    return plan


def _shape_in(spec: Sequence[int], canonical: Sequence[int]) -> tuple[int, ...]:
    """``canonical`` sizes ``(N, C, *spatial)`` placed at the axes ``spec`` names."""
    shape = [0] * len(canonical)
    for size, ax in zip(canonical, spec, strict=True):
        shape[ax] = size
    return tuple(shape)
