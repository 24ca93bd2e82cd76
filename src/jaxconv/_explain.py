"""Explain one output element of a convolution: the window, the weights and the arithmetic.

[`explain`][jaxconv.explain] takes [`jaxconv.conv`][jaxconv.conv]'s arguments and an index into the
output and returns an [`Explanation`][jaxconv.Explanation]: the input values the kernel meets
(padding included), the kernel slice of that output feature, the input coordinates read, and a
plain-numpy expression over the user's own ``x`` and ``w`` that evaluates to the same number.

Everything here runs in numpy on concrete arrays, from the same checked
`ConvPlan` the convolutions use; it never calls a compute strategy.
"""

from __future__ import annotations

import html
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from jax.lax import PrecisionLike
from jax.typing import ArrayLike, DTypeLike

from ._checks import check_array, check_same_dtype
from ._layout import DimensionNumbers
from ._plan import ConvPlan, friendly_plan

_NP_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
_MAX_TERMS = 12
_MAX_GRIDS = 4


@dataclass(frozen=True, eq=False)
class Explanation:
    """How one output element of a convolution is computed.

    ``patch`` and ``weights`` have the same shape: the kernel's shape without its ``O``
    axis, in the kernel's own axis order (``(kh, kw, I)`` for ``HWIO``, ``(I, kh, kw)`` for
    ``OIHW``; [`patch_layout`][jaxconv.Explanation] names the axes). ``np.sum(patch * weights)`` is
    [`value`][jaxconv.Explanation].

    Attributes:
        index: the output element, in the output layout.
        value: the convolution's output at ``index`` (bias not included), a numpy scalar of
            the output dtype.
        patch: the input values the kernel meets, padded values included (zeros, or the
            reflected, replicated or wrapped input values).
        weights: the kernel slice of this output feature, ``w`` with the ``O`` axis indexed.
        input_indices: object array of ``patch``'s shape; each entry is the tuple of
            coordinates into ``x`` (in ``x``'s layout) the patch value was read from, or
            ``None`` where the position is padding.
        numpy_expression: plain numpy over ``x`` and ``w`` in their own layouts that
            evaluates to ``value``, e.g. ``np.sum(x[0, 0:3, 0:3, :] * w[:, :, :, 0])``.
        patch_layout: one letter per axis of ``patch`` and ``weights`` (the kernel layout
            without ``O``, with the input feature axis called ``I``).
        layouts: the input, kernel and output layout strings.
        batch: the batch element of ``index``.
        out_feature: the output feature of ``index``.
        group: the feature group of that output feature; it reads input features
            ``group * I`` to ``(group + 1) * I - 1``.
        plan: the checked convolution (shapes, resolved padding, strides, dilations).
    """

    index: tuple[int, ...]
    value: Any
    patch: np.ndarray
    weights: np.ndarray
    input_indices: np.ndarray
    numpy_expression: str
    patch_layout: str
    layouts: tuple[str, str, str]
    batch: int
    out_feature: int
    group: int
    plan: ConvPlan

    # ----------------------------------------------------------------------------- text
    def _header(self) -> list[str]:
        p = self.plan
        lhs, rhs, out = self.layouts
        named = ", ".join(f"{c}={i}" for c, i in zip(out, self.index, strict=True))
        idx = ", ".join(map(str, self.index))
        g = p.feature_groups
        lines = [
            f"out[{idx}]  ({out}: {named})  of a {p.num_spatial}-d convolution",
            f"  x {_shape(p, 'x')} {lhs} * w {_shape(p, 'w')} {rhs} -> out {p.out_shape} {out}",
            f"  strides {p.strides}, padding {p.pads}, dilation {p.rhs_dilation}, "
            f"padding_mode {p.padding_mode!r}, groups {g}",
            f"  batch {self.batch}, output feature {self.out_feature}"
            + (
                f" (group {self.group} of {g}: input features "
                f"{self.group * p.group_in}..{(self.group + 1) * p.group_in - 1})"
                if g > 1
                else ""
            ),
        ]
        return lines

    def _grids(self) -> list[str]:
        """Side-by-side patch / weights grids for 1-d and 2-d kernels, per input feature."""
        p = self.plan
        if p.num_spatial > 2 or self.patch.size == 0:
            return []
        i_ax = self.patch_layout.index("I")
        spatial = [c for c in self.patch_layout if c != "I"]
        lines = [
            "",
            f"patch (input values met; * = padding) and weights, per input feature {spatial}:",
        ]
        pad = np.vectorize(lambda t: t is None, otypes=[bool])(self.input_indices)
        n_in = self.patch.shape[i_ax]
        for i in range(min(n_in, _MAX_GRIDS)):
            pa = np.take(self.patch, i, axis=i_ax)
            wa = np.take(self.weights, i, axis=i_ax)
            ma = np.take(pad, i, axis=i_ax)
            if pa.ndim == 1:
                pa, wa, ma = pa[None], wa[None], ma[None]
            ps = _cells(pa, ma)
            ws = _cells(wa, ma & False)
            c = self.group * p.group_in + i
            lines.append(f"  I={i} (input feature {c}):")
            width = max(len(r) for r in ps)
            lines.append(f"    {'patch'.ljust(width)}   weights")
            for rp, rw in zip(ps, ws, strict=True):
                lines.append(f"    {rp.ljust(width)}   {rw}")
        if n_in > _MAX_GRIDS:
            lines.append(f"  ... {n_in - _MAX_GRIDS} more input features")
        return lines

    def _terms(self) -> list[str]:
        lines = ["", f"value = sum over {self.patch.size} terms of patch * weights:"]
        flat_p = self.patch.reshape(-1)
        flat_w = self.weights.reshape(-1)
        flat_i = self.input_indices.reshape(-1)
        w_positions = list(np.ndindex(*self.weights.shape))
        o_ax = self.layouts[1].index("O")
        for k in range(min(flat_p.size, _MAX_TERMS)):
            src = flat_i[k]
            where = "padding" if src is None else "x[" + ", ".join(map(str, src)) + "]"
            wi = list(w_positions[k])
            wi.insert(o_ax, self.out_feature)
            wname = "w[" + ", ".join(map(str, wi)) + "]"
            lines.append(
                f"  {where:>18} = {_num(flat_p[k]):>9}  x  {wname} = {_num(flat_w[k]):>9}"
                f"  -> {_num(flat_p[k] * flat_w[k])}"
            )
        if flat_p.size > _MAX_TERMS:
            lines.append(f"  ... {flat_p.size - _MAX_TERMS} more terms")
        return lines

    def __str__(self) -> str:
        lines = self._header()
        lines += self._grids()
        lines += self._terms()
        lines += ["", f"value = {_num(self.value, 7)}", "", "in numpy, on your own x and w:"]
        lines.append(f"  {self.numpy_expression}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        p = self.plan
        parts = [
            "<div class='jaxconv-explain'>",
            f"<pre>{esc(chr(10).join(self._header()))}</pre>",
        ]
        if p.num_spatial <= 2 and self.patch.size:
            i_ax = self.patch_layout.index("I")
            for i in range(min(self.patch.shape[i_ax], _MAX_GRIDS)):
                cells = []
                for name, arr in (("patch", self.patch), ("weights", self.weights)):
                    a = np.take(arr, i, axis=i_ax)
                    idx = np.take(self.input_indices, i, axis=i_ax)
                    if a.ndim == 1:
                        a, idx = a[None], idx[None]
                    rows = "".join(
                        "<tr>"
                        + "".join(
                            "<td style='text-align:right;padding:0 .4em;"
                            + (
                                "color:#999;font-style:italic"
                                if name == "patch" and s is None
                                else ""
                            )
                            + f"'>{esc(_num(v))}</td>"
                            for v, s in zip(ra, ri, strict=True)
                        )
                        + "</tr>"
                        for ra, ri in zip(a, idx, strict=True)
                    )
                    cells.append(f"<td><b>{name}</b><table>{rows}</table></td>")
                parts.append(f"<p>I={i}</p><table><tr>{''.join(cells)}</tr></table>")
        parts.append(f"<p>value = <b>{esc(_num(self.value, 7))}</b></p>")
        parts.append(f"<pre>{esc(self.numpy_expression)}</pre></div>")
        return "".join(parts)


def _shape(p: ConvPlan, which: str) -> tuple[int, ...]:
    if which == "x":
        canon = (p.batch, p.in_features, *p.in_spatial)
        spec = p.dn.lhs_spec
    else:
        canon = (p.out_features, p.group_in, *p.kernel)
        spec = p.dn.rhs_spec
    shape = [0] * len(canon)
    for size, ax in zip(canon, spec, strict=True):
        shape[ax] = size
    return tuple(shape)


def _num(v: Any, digits: int = 4) -> str:
    v = np.asarray(v)[()]
    if isinstance(v, np.integer | int):
        return str(int(v))
    if np.iscomplexobj(v):
        return f"{complex(v) + 0:.{digits}g}"
    return f"{float(v) + 0.0:.{digits}g}"


def _cells(a: np.ndarray, pad: np.ndarray) -> list[str]:
    s = [
        [_num(v) + ("*" if m else " " if pad.any() else "") for v, m in zip(r, mr, strict=True)]
        for r, mr in zip(a, pad, strict=True)
    ]
    width = max((len(c) for r in s for c in r), default=1)
    return ["[" + " ".join(c.rjust(width) for c in r) + "]" for r in s]


def _layout_strings(dimension_numbers: Any, dn: DimensionNumbers) -> tuple[str, str, str]:
    if (
        isinstance(dimension_numbers, tuple | list)
        and len(dimension_numbers) == 3
        and all(isinstance(s, str) for s in dimension_numbers)
    ):
        return tuple(dimension_numbers)  # type: ignore[return-value]
    return dn.to_strings()


def _normalize_index(index: Any, shape: tuple[int, ...], layout: str) -> tuple[int, ...]:
    if isinstance(index, int | np.integer) and not isinstance(index, bool):
        index = (index,)
    if not isinstance(index, Sequence | np.ndarray) or isinstance(index, str):
        raise TypeError(
            f"`index` must be a tuple of {len(shape)} ints in the output layout {layout!r}, "
            f"got {index!r}."
        )
    if len(index) != len(shape):
        raise ValueError(
            f"`index` must give one int per output axis ({len(shape)}, layout {layout!r}, "
            f"output shape {shape}), got {len(index)}: {tuple(index)!r}."
        )
    out = []
    for ax, (i, n) in enumerate(zip(index, shape, strict=True)):
        try:
            i = operator.index(i)
        except TypeError:
            raise TypeError(f"`index` must hold ints, got {tuple(index)!r}.") from None
        if not -n <= i < n:
            raise IndexError(
                f"`index` {tuple(index)!r} is out of range for the output of shape {shape} "
                f"(layout {layout!r}): axis {ax} ({layout[ax]!r}) has size {n}."
            )
        out.append(i % n)
    return tuple(out)


def _source_map(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """For each coordinate of one padded spatial dim: the input coordinate, or -1 for zeros."""
    base = np.arange(n)
    if mode == "zeros":
        m = np.pad(base, (max(lo, 0), max(hi, 0)), constant_values=-1)
        return m[max(-lo, 0) : m.size - max(-hi, 0)]
    return np.pad(base, (lo, hi), mode=_NP_MODE[mode])


def explain(
    x: ArrayLike,
    w: ArrayLike,
    index: Sequence[int],
    strides: int | Sequence[int] = 1,
    padding: str | int | Sequence[int] | Sequence[tuple[int, int]] = "VALID",
    *,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    dimension_numbers: tuple[str, str, str] | DimensionNumbers | None = None,
    padding_mode: str = "zeros",
    precision: PrecisionLike = None,
    preferred_element_type: DTypeLike | None = None,
    strategy: str = "auto",
) -> Explanation:
    """Explain the output element ``index`` of ``jaxconv.conv(x, w, ...)``.

    Takes [`jaxconv.conv`][jaxconv.conv]'s arguments with the same meaning and defaults:
    channels-last of ``x``'s rank (``(N, H, W, C)`` with kernel ``(kh, kw, C // groups, O)`` for
    2-d) unless ``dimension_numbers`` says otherwise; strides, padding and dilation in the kernel
    layout's spatial order; ``padding`` ``'VALID'``, ``'SAME'`` (odd padding at the end),
    ``'SAME_LOWER'``, ints or ``(low, high)`` pairs; ``padding_mode`` ``'zeros'``, ``'reflect'``,
    ``'replicate'`` or ``'circular'``.

    Args:
        x: the input, a concrete array (not a tracer).
        w: the kernel, of ``x``'s dtype and rank.
        index: the output element, one int per output axis in the *output* layout (for
            ``NHWC``, ``(n, h, w, c)``); negative ints count from the end, as in numpy.
        strides: an int or one per spatial dim, as for [`jaxconv.conv`][jaxconv.conv].
        padding: ``'VALID'``, ``'SAME'``, ``'SAME_LOWER'``, ints or ``(low, high)`` pairs.
        dilation: kernel dilation, an int or one per spatial dim.
        groups: feature groups (``groups == C`` with ``I == 1`` is depthwise).
        dimension_numbers: three layout strings or a [`DimensionNumbers`][jaxconv.DimensionNumbers];
            default channels-last of ``x``'s rank.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
        precision: accepted so that [`jaxconv.conv`][jaxconv.conv]'s keywords pass through; the
            explanation is exact arithmetic and does not depend on it.
        strategy: accepted and ignored, as ``precision``.
        preferred_element_type: the dtype of [`Explanation.value`][jaxconv.Explanation] (default
            ``x``'s).

    Returns:
        An [`Explanation`][jaxconv.Explanation]; ``print`` it for the arithmetic laid out.

    Raises:
        IndexError: ``index`` lies outside the output.
        ValueError: ``index`` has the wrong length, or the arguments do not fit (as for
            [`jaxconv.conv`][jaxconv.conv]).
        TypeError: ``index`` is not a sequence of ints, or an argument of the wrong kind.

    Examples:
        >>> import numpy as np, jaxconv
        >>> x = np.arange(16.0).reshape(1, 4, 4, 1)          # NHWC
        >>> w = np.ones((3, 3, 1, 2))                        # HWIO
        >>> e = jaxconv.explain(x, w, (0, 0, 1, 1))          # out[n=0, h=0, w=1, c=1]
        >>> float(e.value), e.numpy_expression
        (54.0, 'np.sum(x[0, 0:3, 1:4, :] * w[:, :, :, 1])')
        >>> e.patch[:, :, 0].tolist()
        [[1.0, 2.0, 3.0], [5.0, 6.0, 7.0], [9.0, 10.0, 11.0]]
        >>> e.input_indices[0, 0, 0]
        (0, 0, 1, 0)
    """
    del precision, strategy
    x = check_array("x", x)
    w = check_array("w", w)
    check_same_dtype(x, w, "x", "w")
    try:
        xn = np.asarray(x)
        wn = np.asarray(w)
    except Exception as err:  # a tracer: explain needs values
        raise TypeError(
            "`explain` needs concrete arrays, not traced values; call it outside jit/vmap/grad."
        ) from err
    plan = friendly_plan(
        xn.shape, wn.shape, strides, padding, dilation, groups, dimension_numbers, padding_mode
    )
    dn = plan.dn
    layouts = _layout_strings(dimension_numbers, dn)
    index = _normalize_index(index, plan.out_shape, layouts[2])
    lhs_spec, rhs_spec, out_spec = dn
    n = index[out_spec[0]]
    o = index[out_spec[1]]
    pos = [index[a] for a in out_spec[2:]]
    group = o // (plan.out_features // plan.feature_groups)
    c0 = group * plan.group_in

    # The kernel slice: w with its O axis indexed; the rest keep the kernel's axis order.
    o_ax = rhs_spec[0]
    weights = np.take(wn, o, axis=o_ax)
    w_axes = [a for a in range(wn.ndim) if a != o_ax]
    # role of each w axis: -1 for I, j for spatial dim j
    role = {rhs_spec[1]: -1, **{a: j for j, a in enumerate(rhs_spec[2:])}}
    w_roles = [role[a] for a in w_axes]
    patch_layout = "".join(
        "I" if r == -1 else layouts[1][a] for a, r in zip(w_axes, w_roles, strict=True)
    )

    # Per spatial dim: padded-space start, the source map, and which taps are padding.
    starts, src, is_pad = [], [], []
    for j in range(plan.num_spatial):
        lo, hi = plan.pads[j]
        smap = _source_map(plan.in_spatial[j], lo, hi, plan.padding_mode)
        p = pos[j] * plan.strides[j] + np.arange(plan.kernel[j]) * plan.rhs_dilation[j]
        starts.append(pos[j] * plan.strides[j])
        coord = p - lo  # input coordinate each tap would read
        src.append(smap[p] if p.size else p)
        is_pad.append((coord < 0) | (coord >= plan.in_spatial[j]))

    # Gather the patch by broadcasting one index array per x axis to weights.shape.
    grids = np.ix_(*(np.arange(s) for s in weights.shape)) if weights.ndim else ()
    x_index: list[Any] = [None] * xn.ndim
    x_index[lhs_spec[0]] = np.asarray(n)
    pad_mask = np.zeros(weights.shape, dtype=bool)
    for k, r in enumerate(w_roles):
        if r == -1:
            x_index[lhs_spec[1]] = c0 + grids[k]
        else:
            x_index[lhs_spec[2 + r]] = np.where(src[r] < 0, 0, src[r])[grids[k]]
            pad_mask = pad_mask | is_pad[r][grids[k]]
    zero_mask = np.zeros(weights.shape, dtype=bool)
    for k, r in enumerate(w_roles):
        if r >= 0:
            zero_mask = zero_mask | (src[r] < 0)[grids[k]]
    ix = tuple(np.broadcast_to(i, weights.shape) for i in x_index)
    if weights.size:
        patch = np.where(zero_mask, np.zeros((), xn.dtype), xn[ix]).astype(xn.dtype)
    else:
        patch = np.zeros(weights.shape, xn.dtype)

    input_indices = np.empty(weights.shape, dtype=object)
    for p in np.ndindex(*weights.shape):
        input_indices[p] = None if pad_mask[p] else tuple(int(i[p]) for i in ix)

    out_dtype = np.dtype(preferred_element_type) if preferred_element_type is not None else xn.dtype
    if np.issubdtype(xn.dtype, np.complexfloating):
        acc = np.complex128
    elif np.issubdtype(xn.dtype, np.integer):
        acc = np.int64
    else:
        acc = np.float64
    total = np.sum(patch.astype(acc) * weights.astype(acc))
    value = np.asarray(total).astype(out_dtype)[()]

    expression = _expression(plan, layouts, n, o, c0, starts, bool(pad_mask.any()), w_axes, w_roles)
    return Explanation(
        index=index,
        value=value,
        patch=patch,
        weights=weights,
        input_indices=input_indices,
        numpy_expression=expression,
        patch_layout=patch_layout,
        layouts=layouts,
        batch=n,
        out_feature=o,
        group=group,
        plan=plan,
    )


def _slice(start: int, k: int, d: int) -> str:
    if k <= 1 or d == 1:
        return f"{start}:{start + k}"
    return f"{start}:{start + (k - 1) * d + 1}:{d}"


def _expression(
    plan: ConvPlan,
    layouts: tuple[str, str, str],
    n: int,
    o: int,
    c0: int,
    starts: list[int],
    padded: bool,
    w_axes: list[int],
    w_roles: list[int],
) -> str:
    """``np.sum(<x window> * <w slice>)`` in the user's layouts."""
    lhs_spec, rhs_spec, _ = plan.dn
    ndim = len(lhs_spec)
    parts = [""] * ndim
    parts[lhs_spec[0]] = str(n)
    i = plan.group_in
    parts[lhs_spec[1]] = ":" if plan.feature_groups == 1 else f"{c0}:{c0 + i}"
    for j in range(plan.num_spatial):
        lo, _ = plan.pads[j]
        # without np.pad the window starts at the input coordinate start - lo; with it, the
        # array is padded by max(lo, 0) at the start (negative pads crop nothing there).
        shift = -lo if not padded else -lo + max(lo, 0)
        parts[lhs_spec[2 + j]] = _slice(starts[j] + shift, plan.kernel[j], plan.rhs_dilation[j])
    if padded:
        width = [(0, 0)] * ndim
        for j in range(plan.num_spatial):
            lo, hi = plan.pads[j]
            width[lhs_spec[2 + j]] = (max(lo, 0), max(hi, 0))
        mode = _NP_MODE[plan.padding_mode]
        mode_arg = "" if mode == "constant" else f", mode={mode!r}"
        src = f"np.pad(x, {tuple(width)!r}{mode_arg})"
    else:
        src = "x"
    xs = f"{src}[{', '.join(parts)}]"
    # The x window's axes, in x's order without N: map each to the w role (-1 for C/I).
    x_roles = []
    for a in range(ndim):
        if a == lhs_spec[0]:
            continue
        x_roles.append(-1 if a == lhs_spec[1] else list(lhs_spec[2:]).index(a))
    if x_roles != w_roles:
        perm = tuple(x_roles.index(r) for r in w_roles)
        xs = f"np.transpose({xs}, {perm!r})"
    wparts = [":"] * ndim
    wparts[rhs_spec[0]] = str(o)
    ws = f"w[{', '.join(wparts)}]"
    del w_axes, layouts
    return f"np.sum({xs} * {ws})"
