"""A convolution's static description, checked once at the boundary.

Every public entry point turns its arguments into a :class:`ConvPlan` — plain Python
ints, hashable — and the compute strategies trust it. All checks happen here, at trace
time, so bad input never reaches XLA.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ._checks import int_tuple, positive_int
from ._layout import DimensionNumbers, conv_dimension_numbers
from ._padding import Pads, check_mode_pads, check_padding_mode, parse_padding, same_pads
from ._patches import out_size


class ConvPlan(NamedTuple):
    """Shapes and hyper-parameters of one convolution, spatial dims in kernel-spec order.

    Arrays are seen in the canonical channels-last layout: input ``(N, *in_spatial, C)``,
    kernel ``(*kernel, C // feature_groups, O)``, output
    ``(N // batch_groups, *out_spatial, O)`` — or, with ``channels_first``,
    input ``(N, C, *in_spatial)`` and output ``(N, O, *out_spatial)``.
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
    # Set by the executor where the strategy runs well on channels-first data (see
    # _strategies.channels_first_choice): arrays are then seen as (N, C, *spatial), so no
    # layout transposes are needed.
    channels_first: bool = False

    @property
    def num_spatial(self) -> int:
        return len(self.kernel)

    @property
    def spatial_axes(self) -> tuple[int, ...]:
        """The spatial axes of the canonical input and output."""
        first = 2 if self.channels_first else 1
        return tuple(range(first, first + self.num_spatial))

    @property
    def taps(self) -> int:
        """Number of kernel positions, ``prod(kernel)``."""
        return int(np.prod(self.kernel))

    @property
    def group_in(self) -> int:
        """Input features per group, the kernel's ``I`` size."""
        return self.in_features // self.feature_groups

    @property
    def out_shape(self) -> tuple[int, ...]:
        """The output's shape in the layout of ``dn.out_spec``."""
        canon = (self.batch // self.batch_groups, self.out_features, *self.out_spatial)
        shape = [0] * len(canon)
        for size, ax in zip(canon, self.dn.out_spec, strict=True):
            shape[ax] = size
        return tuple(shape)

    @property
    def is_depthwise(self) -> bool:
        return self.batch_groups == 1 and self.group_in == 1 and self.feature_groups > 1

    @property
    def flops(self) -> int:
        """Multiply-adds times two of the direct algorithm (no zero-skipping)."""
        outs = int(np.prod(self.out_spatial)) * (self.batch // self.batch_groups)
        return 2 * outs * self.out_features * self.group_in * self.taps


def make_plan(
    lhs_shape: Sequence[int],
    rhs_shape: Sequence[int],
    dn: DimensionNumbers,
    window_strides: Any,
    padding: Any,
    lhs_dilation: Any = None,
    rhs_dilation: Any = None,
    feature_group_count: Any = 1,
    batch_group_count: Any = 1,
    padding_mode: str = "zeros",
    *,
    lhs_name: str = "lhs",
    rhs_name: str = "rhs",
    broadcast: bool = False,
    names: tuple[str, str, str] = ("window_strides", "lhs_dilation", "rhs_dilation"),
    groups_name: str = "feature_group_count",
    empty_output: str = "allow",
    diagnose: bool = True,
) -> ConvPlan:
    """Check every argument against the shapes and resolve padding to (low, high) pairs.

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
            f"`{lhs_name}` and `{rhs_name}` must have the same rank, got shapes "
            f"{tuple(lhs_shape)} and {tuple(rhs_shape)}."
        )
    n = dn.num_spatial
    strides = int_tuple(names[0], window_strides, n, broadcast=broadcast)
    lhs_dil = int_tuple(names[1], lhs_dilation, n, broadcast=broadcast)
    rhs_dil = int_tuple(names[2], rhs_dilation, n, broadcast=broadcast)
    fg = positive_int(groups_name, feature_group_count)
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
            f"at most one of `{groups_name}` (={fg}) and `batch_group_count` (={bg}) may be > 1."
        )

    def diagnosed(message: str) -> str:
        """``message`` and the layout doctor's advice: which readings of the shapes fit."""
        if not diagnose:
            return message
        from ._doctor import plan_advice

        def replan(strings: tuple[str, str, str]) -> ConvPlan:  # these arguments, other layouts
            return make_plan(
                lhs_shape, rhs_shape, conv_dimension_numbers(len(lhs_shape), strings),
                window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count,
                batch_group_count, padding_mode, lhs_name=lhs_name, rhs_name=rhs_name,
                broadcast=broadcast, names=names, groups_name=groups_name, diagnose=False,
            )  # fmt: skip

        features = (cin, kin, cout, fg, bg)
        names_ = (lhs_name, rhs_name, groups_name)
        return plan_advice(message, lhs_shape, rhs_shape, dn, replan, features, names_)

    where = f"`{lhs_name}` with shape {tuple(lhs_shape)}"
    if cin % fg:
        raise ValueError(
            diagnosed(
                f"`{groups_name}` (={fg}) must divide the input features (={cin}) of {where}."
            )
        )
    if cin // fg != kin:
        per_group = f" divided by `{groups_name}` (={fg})" if fg > 1 else ""
        raise ValueError(
            diagnosed(
                f"the input features of `{lhs_name}` (={cin}, shape {tuple(lhs_shape)}){per_group} "
                f"must equal the kernel's input features (={kin}, `{rhs_name}` shape "
                f"{tuple(rhs_shape)})."
            )
        )
    for name, g in ((groups_name, fg), ("batch_group_count", bg)):
        if cout % g:
            raise ValueError(
                diagnosed(
                    f"`{name}` (={g}) must divide the kernel's output features (={cout}, "
                    f"`{rhs_name}` shape {tuple(rhs_shape)})."
                )
            )
    if batch % bg:
        raise ValueError(
            f"`batch_group_count` (={bg}) must divide the batch (={batch}) of `{lhs_name}`."
        )

    dilated_in = tuple(
        0 if s == 0 else (s - 1) * d + 1 for s, d in zip(in_spatial, lhs_dil, strict=True)
    )
    window = tuple(0 if k == 0 else (k - 1) * d + 1 for k, d in zip(kernel, rhs_dil, strict=True))
    pads = parse_padding(padding, n)
    if isinstance(pads, str):
        if any(d != 1 for d in lhs_dil):
            raise ValueError(
                f"string `padding` ({pads!r}) cannot be combined with input dilation "
                f"`{names[1]}`={lhs_dil}; give explicit (low, high) pairs or use conv_transpose."
            )
        pads = same_pads(in_spatial, window, strides, pads)
    if padding_mode != "zeros" and any(d != 1 for d in lhs_dil):
        raise ValueError(
            f"`padding_mode={padding_mode!r}` cannot be combined with input dilation {lhs_dil}."
        )
    check_mode_pads(padding_mode, pads, in_spatial)
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(dilated_in, pads, strict=True))
    if any(p < 0 for p in padded):
        raise ValueError(
            f"negative `padding` {pads} is larger than the input's spatial size {in_spatial}."
        )
    outs = tuple(out_size(p, w, s) for p, w, s in zip(padded, window, strides, strict=True))
    if empty_output != "allow":
        from ._doctor import empty_dims, report

        dims = empty_dims(in_spatial, outs)
        if dims:
            spatial = dn.to_strings()[1].replace("O", "").replace("I", "")
            j = dims[0]
            shape = _shape_in(dn.out_spec, (batch // bg, cout, *outs))
            verb = "would be" if empty_output == "error" else "is"
            report(
                diagnosed(
                    f"the window of `{rhs_name}` (shape {tuple(rhs_shape)}) spans {window[j]} "
                    f"along {spatial[j]!r}, more than the {padded[j]} of the padded input "
                    f"`{lhs_name}` (shape {tuple(lhs_shape)}, padding {pads[j]}): the output "
                    f"{verb} empty, shape {shape}."
                ),
                empty_output,
            )
    return ConvPlan(
        dn,
        batch,
        cin,
        cout,
        in_spatial,
        kernel,
        outs,
        strides,
        pads,
        lhs_dil,
        rhs_dil,
        fg,
        bg,
        padding_mode,
    )


def _shape_in(spec: Sequence[int], canonical: Sequence[int]) -> tuple[int, ...]:
    """``canonical`` sizes ``(N, C, *spatial)`` placed at the axes ``spec`` names."""
    shape = [0] * len(canonical)
    for size, ax in zip(canonical, spec, strict=True):
        shape[ax] = size
    return tuple(shape)


def general_plan(
    lhs_shape: Sequence[int],
    rhs_shape: Sequence[int],
    window_strides: Any,
    padding: Any,
    lhs_dilation: Any,
    rhs_dilation: Any,
    dimension_numbers: Any,
    feature_group_count: Any,
    batch_group_count: Any,
    padding_mode: str,
    *,
    empty_output: str = "allow",
    diagnose: bool = True,
) -> ConvPlan:
    """The plan of ``conv_general_dilated``'s arguments (lax's names and layout default)."""
    dn = conv_dimension_numbers(len(lhs_shape), dimension_numbers)
    return make_plan(
        lhs_shape,
        rhs_shape,
        dn,
        window_strides,
        padding,
        lhs_dilation,
        rhs_dilation,
        feature_group_count,
        batch_group_count,
        padding_mode,
        empty_output=empty_output,
        diagnose=diagnose,
    )


def friendly_plan(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    strides: Any,
    padding: Any,
    dilation: Any,
    groups: Any,
    dimension_numbers: Any,
    padding_mode: str,
    *,
    empty_output: str = "error",
    diagnose: bool = True,
) -> ConvPlan:
    """The plan of ``conv``'s arguments (``x``/``w``, ints broadcast, channels-last default;
    an output emptied by an oversize window is an error, see :func:`make_plan`)."""
    dn = conv_dimension_numbers(len(x_shape), dimension_numbers, default="channels_last")
    return make_plan(
        x_shape,
        w_shape,
        dn,
        strides,
        padding,
        None,
        dilation,
        groups,
        1,
        padding_mode,
        lhs_name="x",
        rhs_name="w",
        broadcast=True,
        names=("strides", "lhs_dilation", "dilation"),
        groups_name="groups",
        empty_output=empty_output,
        diagnose=diagnose,
    )
