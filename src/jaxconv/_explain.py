"""Explain one output element of a convolution: the window, the weights and the arithmetic.

Three forms, one per convolution jaxconv computes, each taking that function's arguments
plus an index into the output and returning an [`Explanation`][jaxconv.Explanation]:

- ``explain`` — ``jaxconv.conv``'s arguments (and a layer: ``explain(layer, x, index)``,
  see ``jaxconv._explain_layers``);
- ``explain_conv_general_dilated`` — lax's full argument set, input dilation and batch
  groups included;
- ``explain_conv_transpose`` — ``jaxconv.conv_transpose``'s, PyTorch's padding convention
  included.

An explanation holds the input values the kernel meets (padding and the zeros inserted by
input dilation included), the kernel taps they meet (after any flip or transpose), the
coordinates both were read from, the value, and a plain-numpy expression over the user's
own arrays that evaluates to the same number. Everything runs in numpy on concrete arrays,
from the same checked `ConvPlan` the convolutions use; it never calls
a compute strategy.
"""

from __future__ import annotations

import html
import math
import operator
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from jax.lax import PrecisionLike
from jax.typing import ArrayLike, DTypeLike

from ._checks import check_array, check_same_dtype, int_tuple
from ._conv import transpose_padding
from ._layout import DimensionNumbers, conv_dimension_numbers
from ._plan import FRIENDLY, ConvPlan, Form, make_plan

_NP_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
_MAX_TERMS = 12
_MAX_GRIDS = 4

# What each position of a patch reads: the input itself, padding (zeros, or the reflected,
# replicated or wrapped input values), or a zero inserted between inputs by input dilation.
X, PADDING, HOLE = 0, 1, 2


class TransposeArgs(NamedTuple):
    """The arguments of the ``jaxconv.conv_transpose`` an explanation explains.

    Attributes:
        strides: the upsampling factors, one per spatial dim (the input dilation of the
            equivalent convolution).
        padding: ``padding`` as given.
        pads: the ``(low, high)`` padding of the dilated input that ``padding`` means.
        transpose_kernel: whether the kernel was flipped and its ``I``/``O`` axes swapped.
        use_consistent_padding: whether ``padding`` was the forward convolution's
            (PyTorch's convention).
    """

    strides: tuple[int, ...]
    padding: Any
    pads: tuple[tuple[int, int], ...]
    transpose_kernel: bool
    use_consistent_padding: bool


@dataclass(frozen=True, eq=False)
class Explanation:
    """How one output element of a convolution is computed.

    ``patch`` and ``weights`` have the same shape: the kernel's shape without its ``O``
    axis, in the kernel's own axis order (``(kh, kw, I)`` for ``HWIO``, ``(I, kh, kw)`` for
    ``OIHW``; `patch_layout` names the axes). ``np.sum(patch * weights)``, plus
    `bias` when there is one, is `value`.

    For a transposed convolution (or any input dilation) the patch is a window of the
    *dilated* input: most of its positions are zeros inserted between input elements
    (`tap_kinds` ``== HOLE``), and the weights are the taps of the kernel as the
    equivalent stride-1 convolution applies it (flipped, with ``I``/``O`` swapped, when
    ``transpose_kernel=True``); `weight_indices` says where each came from in ``w``.

    Attributes:
        index: the output element, in the output layout.
        value: the output at ``index``, a numpy scalar of the output dtype: the sum of the
            products, plus `bias` for a layer or a call given ``bias=``.
        patch: the input values the kernel meets, padded values included (zeros, or the
            reflected, replicated or wrapped input values), and inserted zeros.
        weights: the kernel taps each patch value meets: for a plain convolution ``w`` with
            the ``O`` axis indexed.
        input_indices: object array of ``patch``'s shape; each entry is the tuple of
            coordinates into ``x`` (in ``x``'s layout) the patch value was read from, or
            ``None`` where the position is padding or an inserted zero.
        numpy_expression: plain numpy over ``x`` and ``w`` (and ``b``, the bias) in their
            own layouts that evaluates to ``value``, e.g.
            ``np.sum(x[0, 0:3, 0:3, :] * w[:, :, :, 0])``; `arrays` maps the names
            to the arrays.
        patch_layout: one letter per axis of ``patch`` and ``weights`` (the kernel layout
            without ``O``, with the input feature axis called ``I``).
        layouts: the input, kernel and output layout strings.
        batch: the batch element of ``index``.
        out_feature: the output feature of ``index``.
        group: the feature group of that output feature (it reads input features
            ``group * I`` to ``(group + 1) * I - 1``), or its batch group with
            ``batch_group_count > 1``.
        plan: the checked convolution (shapes, resolved padding, strides, dilations); for a
            transposed convolution the equivalent stride-1 convolution of the dilated input.
        weight_indices: object array of ``weights``' shape: the coordinates into ``w`` each
            weight was read from.
        tap_kinds: int array of ``patch``'s shape: what each position reads, ``0`` the input
            itself, ``1`` padding, ``2`` a zero inserted by input dilation.
        bias: the bias term added to the sum (a numpy scalar), or ``None``.
        in_batch: the batch element of ``x`` read (``batch`` unless batch groups).
        transpose: the `TransposeArgs` of a transposed convolution, else ``None``.
        layer: a description of the layer explained (its class, where ``w`` and ``b`` come
            from), or ``None`` for a function.
        arrays: the arrays `numpy_expression` names (``x``, ``w``, ``b``, ``m`` for a
            layer's mask): ``eval(e.numpy_expression, {"np": np, **e.arrays})``.
        bias_name: the bias term as `numpy_expression` writes it (``"b[3]"``; a locally
            connected layer's bias is indexed by position too), or ``None``.
        form: what was explained: ``"conv"``, ``"conv_general_dilated"``,
            ``"conv_transpose"`` or ``"conv_local"`` (a locally connected layer).
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
    weight_indices: np.ndarray | None = None
    tap_kinds: np.ndarray | None = None
    bias: Any = None
    in_batch: int | None = None
    transpose: TransposeArgs | None = None
    layer: str | None = None
    arrays: Mapping[str, Any] = field(default_factory=dict, repr=False)
    bias_name: str | None = None
    form: str = "conv"

    # ------------------------------------------------------------------------------ data
    @property
    def products(self) -> np.ndarray:
        """``patch * weights``, elementwise, in float64 (complex128, int64 as the data)."""
        acc = _acc_dtype(self.patch.dtype)
        return self.patch.astype(acc) * self.weights.astype(acc)

    def _kinds(self) -> np.ndarray:
        """`tap_kinds`, derived from `input_indices` when not stored."""
        if self.tap_kinds is not None:
            return self.tap_kinds
        none = np.vectorize(lambda t: t is None, otypes=[bool])(self.input_indices)
        return np.where(none, PADDING, X) if self.input_indices.size else none.astype(int)

    def plot(self, path: Any = None, **kwargs: Any) -> Any:
        """Draw this explanation with matplotlib (Agg backend): the input plane(s) with
        the window on them, the kernel taps, the products and their sum; for a transposed
        convolution also the scatter view. See `jaxconv._explain_plot.plot`.

        Args:
            path: if given, the PNG is written there.
            **kwargs: ``max_features`` (rows of input features shown, default 3),
                ``dpi`` (default 110).

        Returns:
            The matplotlib ``Figure``.
        """
        from ._explain_plot import plot

        return plot(self, path, **kwargs)

    # ----------------------------------------------------------------------------- text
    def _header(self) -> list[str]:
        p = self.plan
        lhs, rhs, out = self.layouts
        # A layer's input may have several batch axes, or none: name them all N.
        letters = out.replace("N", "N" * (len(self.index) - len(out) + 1))
        named = ", ".join(f"{c}={i}" for c, i in zip(letters, self.index, strict=True))
        idx = ", ".join(map(str, self.index))
        g = p.feature_groups
        what = {"conv_transpose": "transposed convolution", "conv_local": "locally connected layer"}
        what = what.get(self.form, "convolution")
        lines = [
            f"out[{idx}]  ({out}: {named})  of a {p.num_spatial}-d {what}",
        ]
        if self.layer:
            lines += textwrap.wrap(
                f"layer {self.layer}", 96, initial_indent="  ", subsequent_indent="    "
            )
        shapes = (
            f"  x {_shape(p, 'x')} {lhs} * w {self._w_shape()} {rhs} -> out {p.out_shape} {out}"
            if self.form != "conv_local"
            else f"  x {_shape(p, 'x')} {lhs} -> out {p.out_shape} {out}, one kernel per output "
            f"position (its taps in {rhs} order)"
        )
        if self.transpose is not None:
            t = self.transpose
            extra = ", use_consistent_padding=True" if t.use_consistent_padding else ""
            extra += ", transpose_kernel=True" if t.transpose_kernel else ""
            spatial = ", ".join(c for c in rhs if c not in "OI")
            call = f"conv_transpose(strides {t.strides}, padding {t.padding!r}{extra})"
            lines += [
                *textwrap.wrap(call, 96, initial_indent="  ", subsequent_indent="    "),
                shapes,
                f"  = a stride-1 convolution of x dilated by {t.strides} (stride - 1 zeros "
                f"between neighbours),",
                f"    padded {t.pads}, kernel dilation {p.rhs_dilation}"
                + ("," if t.transpose_kernel else ""),
            ]
            if t.transpose_kernel:
                lines.append(f"    with w flipped in {spatial} and its I and O axes swapped")
        else:
            lines += [
                shapes,
                f"  strides {p.strides}, padding {p.pads}, dilation {p.rhs_dilation}, "
                f"padding_mode {p.padding_mode!r}, groups {g}",
            ]
        if self.transpose is None and (any(d != 1 for d in p.lhs_dilation) or p.batch_groups > 1):
            lines.append(
                f"  input dilation {p.lhs_dilation}, batch groups {p.batch_groups}"
                + (
                    f" (output feature {self.out_feature} reads batch group {self.group}: "
                    f"x batch element {self.in_batch})"
                    if p.batch_groups > 1
                    else ""
                )
            )
        lines.append(
            f"  batch {self.batch}, output feature {self.out_feature}"
            + (
                f" (group {self.group} of {g}: input features "
                f"{self.group * p.group_in}..{(self.group + 1) * p.group_in - 1})"
                if g > 1
                else ""
            )
        )
        return lines

    def _w_shape(self) -> tuple[int, ...]:
        w = self.arrays.get("w") if self.arrays else None
        if w is not None and self.transpose is not None:
            return tuple(np.shape(w))
        return _shape(self.plan, "w")

    def _grids(self) -> list[str]:
        """Side-by-side patch / weights grids for 1-d and 2-d kernels, per input feature."""
        p = self.plan
        if p.num_spatial > 2 or self.patch.size == 0:
            return []
        i_ax = self.patch_layout.index("I")
        spatial = [c for c in self.patch_layout if c != "I"]
        kinds = self._kinds()
        holes = bool((kinds == HOLE).any())
        legend = "* = padding" + (", . = a zero inserted by input dilation" if holes else "")
        lines = [
            "",
            f"patch (input values met; {legend}) and weights, per input feature {spatial}:",
        ]
        n_in = self.patch.shape[i_ax]
        for i in range(min(n_in, _MAX_GRIDS)):
            pa = np.take(self.patch, i, axis=i_ax)
            wa = np.take(self.weights, i, axis=i_ax)
            ka = np.take(kinds, i, axis=i_ax)
            if pa.ndim == 1:
                pa, wa, ka = pa[None], wa[None], ka[None]
            ps = _cells(pa, ka)
            ws = _cells(wa, np.zeros_like(ka))
            c = self.group * p.group_in + i if p.batch_groups == 1 else i
            lines.append(f"  I={i} (input feature {c}):")
            width = max(len(r) for r in ps)
            lines.append(f"    {'patch'.ljust(width)}   weights")
            for rp, rw in zip(ps, ws, strict=True):
                lines.append(f"    {rp.ljust(width)}   {rw}")
        if n_in > _MAX_GRIDS:
            lines.append(f"  ... {n_in - _MAX_GRIDS} more input features")
        return lines

    def _terms(self) -> list[str]:
        flat_p = self.patch.reshape(-1)
        flat_w = self.weights.reshape(-1)
        flat_i = self.input_indices.reshape(-1)
        flat_k = self._kinds().reshape(-1)
        flat_wi = self._weight_indices().reshape(-1)
        # With inserted zeros, most taps add nothing: list the ones that read the input.
        skip = bool((flat_k == HOLE).any())
        keep = [k for k in range(flat_p.size) if not skip or flat_k[k] == X]
        what = "value = sum" if self.bias is None else "the sum of the products (the bias follows)"
        if skip:
            lines = [
                "",
                f"{what} over {len(keep)} terms of patch * weights (the other "
                f"{flat_p.size - len(keep)} taps meet inserted zeros or padding):",
            ]
        else:
            lines = ["", f"{what} over {self.patch.size} terms of patch * weights:"]
        for k in keep[:_MAX_TERMS]:
            src = flat_i[k]
            where = "padding" if src is None else "x[" + ", ".join(map(str, src)) + "]"
            wname = "w[" + ", ".join(map(str, flat_wi[k])) + "]"
            lines.append(
                f"  {where:>18} = {_num(flat_p[k]):>9}  x  {wname} = {_num(flat_w[k]):>9}"
                f"  -> {_num(flat_p[k] * flat_w[k])}"
            )
        if len(keep) > _MAX_TERMS:
            lines.append(f"  ... {len(keep) - _MAX_TERMS} more terms")
        return lines

    def _weight_indices(self) -> np.ndarray:
        if self.weight_indices is not None:
            return self.weight_indices
        return _plain_weight_indices(self.weights.shape, self.plan.dn.rhs_spec[0], self.out_feature)

    def _value_lines(self) -> list[str]:
        if self.bias is None:
            return [f"value = {_num(self.value, 7)}"]
        where = self.bias_name or f"b[{self.out_feature}]"
        s = np.sum(self.products)
        sign = "-" if np.real(self.bias) < 0 else "+"
        return [
            f"sum of the products = {_num(s, 7)}",
            f"bias {where} = {_num(self.bias, 7)}",
            f"value = {_num(s, 7)} {sign} {_num(abs(self.bias), 7)} = {_num(self.value, 7)}",
        ]

    def __str__(self) -> str:
        lines = self._header()
        lines += self._grids()
        lines += self._terms()
        lines += ["", *self._value_lines(), ""]
        names = "x, w" + (", b" if self.bias is not None else "")
        names += ", m" if self.arrays and "m" in self.arrays else ""
        lines.append(f"in numpy, on your own {names}:")
        lines.append(f"  {self.numpy_expression}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        p = self.plan
        parts = [
            "<div class='jaxconv-explain'>",
            f"<pre>{esc(chr(10).join(self._header()))}</pre>",
        ]
        kinds = self._kinds()
        if p.num_spatial <= 2 and self.patch.size:
            i_ax = self.patch_layout.index("I")
            for i in range(min(self.patch.shape[i_ax], _MAX_GRIDS)):
                cells = []
                for name, arr in (("patch", self.patch), ("weights", self.weights)):
                    a = np.take(arr, i, axis=i_ax)
                    kd = np.take(kinds, i, axis=i_ax)
                    if a.ndim == 1:
                        a, kd = a[None], kd[None]
                    rows = "".join(
                        "<tr>"
                        + "".join(
                            "<td style='text-align:right;padding:0 .4em;"
                            + ("color:#999;font-style:italic" if name == "patch" and k != X else "")
                            + f"'>{esc(_num(v))}</td>"
                            for v, k in zip(ra, rk, strict=True)
                        )
                        + "</tr>"
                        for ra, rk in zip(a, kd, strict=True)
                    )
                    cells.append(f"<td><b>{name}</b><table>{rows}</table></td>")
                parts.append(f"<p>I={i}</p><table><tr>{''.join(cells)}</tr></table>")
        value = "<br>".join(esc(s) for s in self._value_lines())
        parts.append(f"<p><b>{value}</b></p>")
        parts.append(f"<pre>{esc(self.numpy_expression)}</pre></div>")
        return "".join(parts)


def _plain_weight_indices(shape: tuple[int, ...], o_ax: int, o: int) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for p in np.ndindex(*shape):
        wi = list(p)
        wi.insert(o_ax, o)
        out[p] = tuple(wi)
    return out


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


def _cells(a: np.ndarray, kinds: np.ndarray) -> list[str]:
    marked = (kinds == PADDING).any()
    s = [
        [
            "." + (" " if marked else "")
            if k == HOLE
            else _num(v) + ("*" if k == PADDING else " " if marked else "")
            for v, k in zip(r, kr, strict=True)
        ]
        for r, kr in zip(a, kinds, strict=True)
    ]
    width = max((len(c) for r in s for c in r), default=1)
    return ["[" + " ".join(c.rjust(width) for c in r) + "]" for r in s]


def _acc_dtype(dtype: Any) -> Any:
    if np.issubdtype(dtype, np.complexfloating):
        return np.complex128
    if np.issubdtype(dtype, np.integer):
        return np.int64
    return np.float64


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


def _concrete(name: str, a: Any) -> np.ndarray:
    try:
        return np.asarray(a)
    except Exception as err:  # a tracer: explain needs values
        raise TypeError(
            f"`explain` needs concrete arrays, not traced values (`{name}`); call it outside "
            "jit/vmap/grad."
        ) from err


def _is_layer(obj: Any) -> bool:
    """A Flax convolution module (jaxconv's or Flax's), by duck typing: no array has a
    ``kernel_size``."""
    return hasattr(obj, "kernel_size") and not hasattr(obj, "shape")


# --------------------------------------------------------------------------------- forms
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
    bias: ArrayLike | None = None,
    variables: Any = None,
) -> Explanation:
    """Explain the output element ``index`` of ``jaxconv.conv(x, w, ...)``, or of a layer.

    Takes [`jaxconv.conv`][jaxconv.conv]'s arguments with the same meaning and defaults:
    channels-last of ``x``'s rank (``(N, H, W, C)`` with kernel ``(kh, kw, C // groups, O)`` for
    2-d) unless ``dimension_numbers`` says otherwise; strides, padding and dilation in the kernel
    layout's spatial order; ``padding`` ``'VALID'``, ``'SAME'`` (odd padding at the end),
    ``'SAME_LOWER'``, ints or ``(low, high)`` pairs; ``padding_mode`` ``'zeros'``, ``'reflect'``,
    ``'replicate'`` or ``'circular'``.

    **A layer**: ``explain(layer, x, index)`` explains ``layer(x)[index]`` for
    ``jaxconv.nnx.Conv``, ``ConvTranspose`` and ``ConvLocal``, ``flax.nnx.Conv`` and
    ``ConvTranspose``; ``explain(layer, x, index, variables=variables)`` explains
    ``layer.apply(variables, x)[index]`` for their Linen versions (``jaxconv.linen`` and
    ``flax.linen``). The layer's settings and parameters are read, its bias is a term of
    its own, and the explanation says the layer's layouts; ``x`` may have several batch
    axes or none, as the layer allows. No other argument may be given with a layer.

    Args:
        x: the input, a concrete array (not a tracer) — or a layer (then ``w`` is the input).
        w: the kernel, of ``x``'s dtype and rank — or the input, when ``x`` is a layer.
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
        preferred_element_type: the dtype of `Explanation.value` (default ``x``'s).
        strategy: accepted and ignored, as ``precision``.
        bias: optional ``(O,)`` bias added to the convolution (as a layer does): it becomes
            a term of its own, ``+ b[o]``, and is included in the value.
        variables: a Linen layer's variables (``{"params": {"kernel": ..., "bias": ...}}``);
            only with a layer.

    Returns:
        An [`Explanation`][jaxconv.Explanation]; ``print`` it for the arithmetic laid out,
        ``.plot()`` it for a picture.

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
        >>> e = jaxconv.explain(x, w, (0, 0, 1, 1), bias=np.array([0.5, 2.0]))
        >>> float(e.value), e.numpy_expression
        (56.0, 'np.sum(x[0, 0:3, 1:4, :] * w[:, :, :, 1]) + b[1]')
    """
    if _is_layer(x):
        given = dict(
            strides=strides != 1,
            padding=padding != "VALID",
            dilation=dilation != 1,
            groups=groups != 1,
            dimension_numbers=dimension_numbers is not None,
            padding_mode=padding_mode != "zeros",
            preferred_element_type=preferred_element_type is not None,
            bias=bias is not None,
        )
        extra = [k for k, v in given.items() if v]
        if extra:
            raise TypeError(
                f"`explain(layer, x, index)` reads the convolution from the layer; do not pass "
                f"{', '.join(f'`{k}`' for k in extra)}."
            )
        from ._explain_layers import explain_layer

        return explain_layer(x, w, index, variables)
    if variables is not None:
        raise TypeError(
            "`variables` is only for explaining a Linen layer: explain(layer, x, index, "
            f"variables=...); got a {type(x).__name__} as the first argument."
        )
    del precision, strategy
    xn, wn = _arrays(x, w, "x", "w")
    plan = make_plan(
        xn.shape, wn.shape, strides, padding, None, dilation, dimension_numbers, groups, 1,
        padding_mode, form=FRIENDLY, empty_output="error",
    )  # fmt: skip
    layouts = _layout_strings(dimension_numbers, plan.dn)
    return explain_plan(
        xn, wn, plan, layouts, index, bias=_bias(bias, plan), out_dtype=preferred_element_type
    )


def explain_conv_general_dilated(
    lhs: ArrayLike,
    rhs: ArrayLike,
    index: Sequence[int],
    window_strides: Sequence[int],
    padding: Any,
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision: Any = None,
    preferred_element_type: Any = None,
    *,
    padding_mode: str = "zeros",
    bias: ArrayLike | None = None,
    strategy: str = "auto",
) -> Explanation:
    """Explain the output element ``index`` of ``jaxconv.conv_general_dilated(lhs, rhs, ...)``.

    The arguments of [`jaxconv.conv_general_dilated`][jaxconv.conv_general_dilated] (and of
    `jax.lax.conv_general_dilated`), with the output ``index`` after the two arrays:
    lax's default layouts (``NCHW``/``OIHW``/``NCHW``), input dilation (``lhs_dilation``:
    ``d - 1`` zeros inserted between input elements, as in a transposed convolution) and
    ``batch_group_count`` included. The numpy expression of an input-dilated convolution
    keeps only the taps that meet input elements: a strided slice of ``lhs`` times a strided
    slice of ``rhs``.

    Args:
        lhs: the input, ``(N, C, *spatial)`` by default (as ``x`` in the expression).
        rhs: the kernel, ``(O, I, *kernel)`` by default (as ``w`` in the expression).
        index: the output element in the output layout, ``(n, o, *position)`` by default.
        window_strides: ``n`` ints.
        padding: ``'VALID'``, ``'SAME'``, ``'SAME_LOWER'`` or ``n`` ``(low, high)`` pairs
            (pairs only with ``lhs_dilation``).
        lhs_dilation: ``n`` ints, input dilation.
        rhs_dilation: ``n`` ints, kernel dilation.
        dimension_numbers: ``None``, three layout strings or a
            [`DimensionNumbers`][jaxconv.DimensionNumbers].
        feature_group_count: feature groups.
        batch_group_count: batch groups: output feature ``o`` of group
            ``g = o // (O // batch_group_count)`` reads batch element
            ``g * (N // batch_group_count) + n``.
        precision: accepted and ignored (the explanation is exact).
        preferred_element_type: the dtype of the value (default ``lhs``'s).
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
        bias: optional ``(O,)`` bias, a term of its own (``+ b[o]``).
        strategy: accepted and ignored.

    Returns:
        An [`Explanation`][jaxconv.Explanation].

    Raises:
        IndexError, ValueError, TypeError: as [`explain`][jaxconv.explain].

    Examples:
        >>> import numpy as np, jaxconv
        >>> x = np.arange(1.0, 4.0).reshape(1, 1, 3)        # NCW: 1, 2, 3
        >>> w = np.array([[[1.0, 10.0, 100.0]]])            # OIW
        >>> # dilated input 1 0 2 0 3, padded by 2: 0 0 1 0 2 0 3 0 0
        >>> e = jaxconv.explain_conv_general_dilated(x, w, (0, 0, 2), (1,), ((2, 2),),
        ...                                          lhs_dilation=(2,))
        >>> float(e.value), e.numpy_expression  # 1 * 1 + 2 * 100: the taps on 1 and 2
        (201.0, 'np.sum(x[0, :, 0:2] * w[0, :, 0:3:2])')
    """
    del precision, strategy
    xn, wn = _arrays(lhs, rhs, "lhs", "rhs")
    plan = make_plan(
        xn.shape,
        wn.shape,
        window_strides,
        padding,
        lhs_dilation,
        rhs_dilation,
        dimension_numbers,
        feature_group_count,
        batch_group_count,
        padding_mode,
    )
    layouts = _layout_strings(dimension_numbers, plan.dn)
    return explain_plan(
        xn,
        wn,
        plan,
        layouts,
        index,
        bias=_bias(bias, plan),
        out_dtype=preferred_element_type,
        form="conv_general_dilated",
    )


def explain_conv_transpose(
    lhs: ArrayLike,
    rhs: ArrayLike,
    index: Sequence[int],
    strides: Sequence[int],
    padding: Any,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: Any = None,
    transpose_kernel: bool = False,
    precision: Any = None,
    preferred_element_type: Any = None,
    *,
    use_consistent_padding: bool = False,
    bias: ArrayLike | None = None,
    strategy: str = "auto",
) -> Explanation:
    """Explain the output element ``index`` of ``jaxconv.conv_transpose(lhs, rhs, ...)``.

    The arguments of [`jaxconv.conv_transpose`][jaxconv.conv_transpose]
    (``jax.lax.conv_transpose``'s), with the output ``index`` after the two arrays. A
    transposed convolution is a stride-1 convolution of the input dilated by ``strides``
    (``s - 1`` zeros between neighbours)
    and padded; the explanation shows that window (most of it inserted zeros), the kernel
    taps that meet input elements — flipped, with ``I``/``O`` swapped, when
    ``transpose_kernel=True`` — and a numpy expression over the user's ``x`` and ``w``
    that keeps only those taps.

    PyTorch's ``ConvTranspose2d(..., stride=s, padding=p, output_padding=op)`` with weight
    ``(in, out, kh, kw)`` is ``dimension_numbers=("NCHW", "OIHW", "NCHW")``,
    ``transpose_kernel=True``, ``padding=((p, p - op), (p, p - op))`` and
    ``use_consistent_padding=True``; its output size is
    ``(in - 1) * s - 2 * p + dilation * (k - 1) + op + 1``.

    Args:
        lhs: the input, channels-last by default (as ``x`` in the expression).
        rhs: the kernel, ``(*kernel, I, O)`` by default — with ``transpose_kernel=True``
            the forward convolution's kernel, whose ``O`` axis is this one's input
            features (as ``w`` in the expression).
        index: the output element in the output layout.
        strides: ``n`` ints, the upsampling factors.
        padding: ``'SAME'``, ``'VALID'`` or ``n`` ``(low, high)`` pairs of the dilated
            input (lax's convention) — or, with ``use_consistent_padding``, the forward
            convolution's padding (PyTorch's).
        rhs_dilation: ``n`` ints, kernel dilation.
        dimension_numbers: three layout strings; default channels-last.
        transpose_kernel: flip the kernel's spatial axes and swap its ``I``/``O`` axes.
        precision: accepted and ignored (the explanation is exact).
        preferred_element_type: the dtype of the value (default ``lhs``'s).
        use_consistent_padding: ``padding`` is the forward convolution's (PyTorch's).
        bias: optional ``(O,)`` bias, a term of its own (``+ b[o]``).
        strategy: accepted and ignored.

    Returns:
        An [`Explanation`][jaxconv.Explanation] whose `transpose` holds the arguments;
        its ``plan`` is the equivalent stride-1 convolution of the dilated input.

    Raises:
        IndexError, ValueError, TypeError: as [`explain`][jaxconv.explain].

    Examples:
        >>> import numpy as np, jaxconv
        >>> x = np.array([1.0, 2.0, 3.0], np.float32).reshape(1, 3, 1)     # NWC
        >>> w = np.array([1.0, 10.0, 100.0], np.float32).reshape(3, 1, 1)  # WIO
        >>> y = jaxconv.conv_transpose(x, w, (2,), "VALID", transpose_kernel=True)
        >>> y[0, :, 0].tolist()  # each input scatters 1, 10, 100 times itself, 2 apart
        [1.0, 10.0, 102.0, 20.0, 203.0, 30.0, 300.0]
        >>> e = jaxconv.explain_conv_transpose(x, w, (0, 4, 0), (2,), "VALID",
        ...                                    transpose_kernel=True)
        >>> float(e.value), e.numpy_expression  # 2 * 100 + 3 * 1
        (203.0, 'np.sum(x[0, 1:3, :] * w[2::-2, 0, :])')
    """
    del precision, strategy
    xn, wn = _arrays(lhs, rhs, "lhs", "rhs")
    dn = conv_dimension_numbers(xn.ndim, dimension_numbers, default="channels_last")
    plan, targs = transpose_plan(
        xn.shape, wn, dn, strides, padding, rhs_dilation, transpose_kernel, use_consistent_padding
    )
    return explain_plan(
        xn,
        wn,
        plan,
        _layout_strings(dimension_numbers, dn),
        index,
        kernel="flip" if transpose_kernel else "conv",
        bias=_bias(bias, plan),
        out_dtype=preferred_element_type,
        transpose=targs,
    )


def transpose_plan(
    x_shape: Sequence[int],
    w: np.ndarray,
    dn: DimensionNumbers,
    strides: Any,
    padding: Any,
    rhs_dilation: Any,
    transpose_kernel: bool,
    use_consistent_padding: bool,
    names: tuple[str, str] = ("lhs", "rhs"),
) -> tuple[ConvPlan, TransposeArgs]:
    """The stride-1 convolution of the dilated input that ``jaxconv.conv_transpose``
    computes, and its arguments as given."""
    n = dn.num_spatial
    strides = int_tuple("strides", strides, n, broadcast=True)
    rhs_dilation = int_tuple("rhs_dilation", rhs_dilation, n, broadcast=True)
    kernel = [w.shape[a] for a in dn.rhs_spec[2:]]
    pads = transpose_padding(padding, kernel, strides, rhs_dilation, use_consistent_padding)
    w_shape = _transposed_kernel(w, dn).shape if transpose_kernel else w.shape
    form = Form(names[0], names[1], "strides", "strides", "rhs_dilation")
    plan = make_plan(x_shape, w_shape, (1,) * n, pads, strides, rhs_dilation, dn, form=form)
    targs = TransposeArgs(
        strides, padding, plan.pads, bool(transpose_kernel), bool(use_consistent_padding)
    )
    return plan, targs


def _arrays(x: Any, w: Any, xname: str, wname: str) -> tuple[np.ndarray, np.ndarray]:
    x = check_array(xname, x)
    w = check_array(wname, w)
    check_same_dtype(x, w, xname, wname)
    return _concrete(xname, x), _concrete(wname, w)


def _bias(bias: Any, plan: ConvPlan) -> np.ndarray | None:
    if bias is None:
        return None
    b = _concrete("bias", bias)
    if b.shape != (plan.out_features,):
        raise ValueError(
            f"`bias` must have shape ({plan.out_features},), one value per output feature, got "
            f"{b.shape}."
        )
    return b


def _transposed_kernel(w: np.ndarray, dn: DimensionNumbers) -> np.ndarray:
    """``transpose_kernel``: flip the spatial axes and swap ``O`` and ``I`` (as lax does)."""
    w = np.flip(w, axis=tuple(dn.rhs_spec[2:]))
    return np.swapaxes(w, dn.rhs_spec[0], dn.rhs_spec[1])


# ---------------------------------------------------------------------------------- core
class _Line(NamedTuple):
    """Where each tap of the window falls along one spatial dim."""

    src: np.ndarray  # per tap: the input coordinate read (padding values included), or -1
    kind: np.ndarray  # per tap: X, PADDING or HOLE
    grid: np.ndarray  # per tap: the coordinate in the pre-padded, undilated line, or -1
    start: int  # the window's start in the padded (and dilated) line


def read_positions(plan: ConvPlan, j: int, at: np.ndarray) -> tuple[np.ndarray, ...]:
    """What the positions ``at`` of spatial dim ``j`` of the padded, dilated input hold.

    The input is padded with ``padding_mode`` first when that is not ``'zeros'`` (on the
    undilated input, as Flax does with input dilation), then dilated, then zero-padded.

    Returns:
        ``(src, kind, grid)``: per position the input coordinate read (padding values
        included) or -1 for a zero; `X`, `PADDING` or `HOLE`; and the
        coordinate in the mode-padded, undilated input, or -1.
    """
    mode = plan.padding_mode
    size = plan.in_spatial[j]
    lo, hi = plan.pads[j]
    pre, post = ((lo, hi), 0) if mode != "zeros" else ((0, 0), lo)
    smap = _source_map(size, *pre, mode)
    ld = plan.lhs_dilation[j]
    dil = (smap.size - 1) * ld + 1 if smap.size else 0
    d = np.asarray(at) - post
    inside = (d >= 0) & (d < dil)
    on_grid = inside & (d % ld == 0)
    grid = np.where(on_grid, d // ld, -1)
    src = np.where(on_grid, smap[np.maximum(grid, 0)] if smap.size else -1, -1)
    coord = grid - pre[0]
    real = on_grid & (coord >= 0) & (coord < size)
    kind = np.where(real, X, np.where(inside & ~on_grid, HOLE, PADDING))
    return src, kind, grid


# Combining the spatial dims: a position outside the dilated input along one dim is
# (zero) padding whatever the others say; else an inserted zero along one dim makes a zero;
# else a padded value of a padding mode; else the input itself.
_RANK_KIND = np.array([X, PADDING, HOLE, PADDING])


def _kind_rank(src: np.ndarray, kind: np.ndarray) -> np.ndarray:
    return np.select([kind == X, (kind == PADDING) & (src >= 0), kind == HOLE], [0, 1, 2], 3)


def combine_kinds(srcs: Sequence[np.ndarray], kinds: Sequence[np.ndarray]) -> np.ndarray:
    """The kind of positions given per dim (broadcast together): see `_RANK_KIND`."""
    rank = np.zeros((), np.int8)
    for s, k in zip(srcs, kinds, strict=True):
        rank = np.maximum(rank, _kind_rank(s, k))
    return _RANK_KIND[rank]


def _lines(plan: ConvPlan, pos: Sequence[int]) -> list[_Line]:
    """The taps of the output position ``pos`` along each spatial dim."""
    out = []
    for j in range(plan.num_spatial):
        start = pos[j] * plan.strides[j]
        at = start + np.arange(plan.kernel[j]) * plan.rhs_dilation[j]
        src, kind, grid = read_positions(plan, j, at)
        out.append(_Line(src, kind, grid, start))
    return out


def explain_plan(
    xn: np.ndarray,
    wn: np.ndarray,
    plan: ConvPlan,
    layouts: tuple[str, str, str],
    index: Any,
    *,
    kernel: str = "conv",
    mask: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    out_dtype: Any = None,
    transpose: TransposeArgs | None = None,
    layer: str | None = None,
    batch_shape: tuple[int, ...] | None = None,
    out_index: tuple[int, ...] | None = None,
    x_user: Any = None,
    form: str | None = None,
) -> Explanation:
    """The explanation of ``plan``'s output ``index``, given the user's arrays.

    Args:
        xn: the input with one batch axis, in ``layouts[0]``.
        wn: the user's kernel: in ``layouts[1]`` for ``kernel="conv"``; the kernel that
            ``transpose_kernel`` flips and transposes for ``"flip"``; a locally connected
            layer's ``(*out_spatial, I * prod(kernel), O)`` kernel for ``"local"``.
        plan: the convolution computed (for ``"flip"``, of the transposed kernel). A
            ``padding_mode`` other than ``'zeros'`` pads the undilated input.
        layouts: the three layout strings.
        index: the output element, in ``plan.out_shape``.
        kernel: ``"conv"``, ``"flip"`` or ``"local"``, as above.
        mask: multiplied into ``wn`` (a layer's ``mask``), named ``m`` in the expression.
        bias: ``(O,)`` (``(*out_spatial, O)`` for ``"local"``), named ``b``, or ``None``.
        out_dtype: the value's dtype (default ``xn``'s).
        transpose: the conv_transpose arguments, for the text.
        layer: the layer's description, for the text.
        batch_shape: the user's batch axes where ``xn`` folded them (``()``: the user's
            input had no batch axis); ``None``: ``xn`` is the user's input.
        out_index: the index to report (in the user's output shape), default ``index``.
        x_user: the user's input (default ``xn``), for `Explanation.arrays`.
        form: `Explanation.form` (default from ``kernel`` and ``transpose``).
    """
    if form is None:
        form = "conv_local" if kernel == "local" else "conv_transpose" if transpose else "conv"
    dn = plan.dn
    lhs_spec, rhs_spec, out_spec = dn
    index = _normalize_index(index, plan.out_shape, layouts[2])
    n = index[out_spec[0]]
    o = index[out_spec[1]]
    pos = [index[a] for a in out_spec[2:]]
    if plan.batch_groups > 1:
        group = o // (plan.out_features // plan.batch_groups)
        n_in = group * (plan.batch // plan.batch_groups) + n
        c0 = 0
    else:
        group = o // (plan.out_features // plan.feature_groups)
        n_in = n
        c0 = group * plan.group_in

    # The patch's axes: the kernel's axes without O, in the kernel's order.
    o_ax = rhs_spec[0]
    kshape = _shape(plan, "w")
    w_axes = [a for a in range(len(kshape)) if a != o_ax]
    pshape = tuple(kshape[a] for a in w_axes)
    role = {rhs_spec[1]: -1, **{a: j for j, a in enumerate(rhs_spec[2:])}}
    w_roles = [role[a] for a in w_axes]
    patch_layout = "".join(
        "I" if r == -1 else layouts[1][a] for a, r in zip(w_axes, w_roles, strict=True)
    )

    lines = _lines(plan, pos)
    # Gather the patch by broadcasting one index array per x axis to the patch's shape.
    grids = np.ix_(*(np.arange(s) for s in pshape)) if pshape else ()
    x_index: list[Any] = [None] * xn.ndim
    x_index[lhs_spec[0]] = np.asarray(n_in)
    rank = np.zeros(pshape, dtype=np.int8)
    zero = np.zeros(pshape, dtype=bool)
    for k, r in enumerate(w_roles):
        if r == -1:
            x_index[lhs_spec[1]] = c0 + grids[k]
        else:
            line = lines[r]
            x_index[lhs_spec[2 + r]] = np.maximum(line.src, 0)[grids[k]]
            rank = np.maximum(rank, _kind_rank(line.src, line.kind)[grids[k]])
            zero = zero | (line.src < 0)[grids[k]]
    kinds = _RANK_KIND[rank]
    ix = tuple(np.broadcast_to(i, pshape) for i in x_index)
    if math.prod(pshape):
        patch = np.where(zero, np.zeros((), xn.dtype), xn[ix]).astype(xn.dtype)
    else:
        patch = np.zeros(pshape, xn.dtype)

    to_user = _batch_mapper(lhs_spec[0], batch_shape)
    input_indices = np.empty(pshape, dtype=object)
    for p in np.ndindex(*pshape):
        input_indices[p] = to_user(tuple(int(i[p]) for i in ix)) if kinds[p] == X else None

    w_eff = wn if mask is None else wn * mask
    weights, weight_indices = _weights(w_eff, plan, kernel, o, pos, pshape, w_roles)

    acc = _acc_dtype(xn.dtype)
    total = np.sum(patch.astype(acc) * weights.astype(acc))
    bias_value = None
    if bias is not None:
        bias_value = bias[(*pos, o)] if kernel == "local" else bias[o]
        total = total + np.asarray(bias_value).astype(acc)
    dtype = np.dtype(out_dtype) if out_dtype is not None else xn.dtype
    value = np.asarray(total).astype(dtype)[()]

    n_text = _batch_text(n_in, batch_shape)
    expression = _expression(plan, lines, n_text, batch_shape, o, c0, pos, kernel, mask is not None)
    bias_name = None
    if bias is not None:
        bias_name = "b[" + ", ".join(map(str, [*pos, o] if kernel == "local" else [o])) + "]"
        expression += " + " + bias_name
    arrays: dict[str, Any] = {"x": xn if x_user is None else x_user, "w": wn}
    if bias is not None:
        arrays["b"] = bias
    if mask is not None:
        arrays["m"] = mask
    return Explanation(
        index=index if out_index is None else out_index,
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
        weight_indices=weight_indices,
        tap_kinds=kinds.astype(int),
        bias=None if bias_value is None else np.asarray(bias_value)[()],
        in_batch=n_in,
        transpose=transpose,
        layer=layer,
        arrays=arrays,
        bias_name=bias_name,
        form=form,
    )


def _batch_mapper(n_ax: int, batch_shape: tuple[int, ...] | None) -> Any:
    """Coordinates into the folded input -> coordinates into the user's input."""
    if batch_shape is None:
        return lambda t: t

    def to_user(t: tuple[int, ...]) -> tuple[int, ...]:
        b = tuple(int(i) for i in np.unravel_index(t[n_ax], batch_shape)) if batch_shape else ()
        return (*t[:n_ax], *b, *t[n_ax + 1 :])

    return to_user


def _batch_text(n: int, batch_shape: tuple[int, ...] | None) -> str | None:
    """The batch part of an index into the user's input (``None``: it has no batch axis)."""
    if batch_shape is None:
        return str(n)
    if not batch_shape:
        return None
    return ", ".join(str(int(i)) for i in np.unravel_index(n, batch_shape))


def _weights(
    w: np.ndarray,
    plan: ConvPlan,
    kernel: str,
    o: int,
    pos: Sequence[int],
    pshape: tuple[int, ...],
    w_roles: list[int],
) -> tuple[np.ndarray, np.ndarray]:
    """The weight each patch position meets, and its coordinates in the user's ``w``."""
    rhs_spec = plan.dn.rhs_spec
    o_ax = rhs_spec[0]
    indices = np.empty(pshape, dtype=object)
    if kernel == "local":
        k = plan.kernel
        taps = math.prod(k)
        for p in np.ndindex(*pshape):
            c = p[w_roles.index(-1)]
            tap = tuple(p[w_roles.index(j)] for j in range(len(k)))
            row = c * taps + (int(np.ravel_multi_index(tap, k)) if k else 0)
            indices[p] = (*pos, row, o)
    else:
        for p in np.ndindex(*pshape):
            t = list(p)
            t.insert(o_ax, o)
            if kernel == "flip":
                u = list(t)
                for j, a in enumerate(rhs_spec[2:]):
                    u[a] = plan.kernel[j] - 1 - t[a]
                u[rhs_spec[0]], u[rhs_spec[1]] = t[rhs_spec[1]], t[rhs_spec[0]]
                t = u
            indices[p] = tuple(t)
    weights = np.empty(pshape, dtype=w.dtype)
    for p in np.ndindex(*pshape):
        weights[p] = w[indices[p]]
    return weights, indices


# ---------------------------------------------------------------------------- expression
def _slice(start: int, k: int, d: int) -> str:
    if k <= 1 or d == 1:
        return f"{start}:{start + k}"
    return f"{start}:{start + (k - 1) * d + 1}:{d}"


def _progression(values: np.ndarray) -> tuple[int, int, int]:
    """(first, count, step) of an arithmetic progression of ints."""
    if values.size == 0:
        return 0, 0, 1
    step = int(values[1] - values[0]) if values.size > 1 else 1
    assert np.all(np.diff(values) == step), values  # taps on the input grid are evenly spaced
    return int(values[0]), int(values.size), step


def _range_text(first: int, count: int, step: int) -> str:
    if count == 0:
        return "0:0"
    if count == 1:
        return f"{first}:{first + 1}"
    stop = first + (count - 1) * step + (1 if step > 0 else -1)
    if step < 0 and stop < 0:
        return f"{first}::{step}"
    return f"{first}:{stop}:{step}" if step != 1 else f"{first}:{stop}"


def _expression(
    plan: ConvPlan,
    lines: list[_Line],
    n_text: str | None,
    batch_shape: tuple[int, ...] | None,
    o: int,
    c0: int,
    pos: Sequence[int],
    kernel: str,
    masked: bool,
) -> str:
    """``np.sum(<x window> * <w slice>)`` over the user's ``x`` and ``w``, in their layouts.

    A plain convolution slices the (padded) input with the kernel's dilation as the step
    and takes the whole kernel slice. With input dilation, a flipped kernel or a locally
    connected kernel only the taps that read the input are kept: the input elements they
    read and the taps themselves are evenly spaced, so both are strided slices.
    """
    lhs_spec, rhs_spec, _ = plan.dn
    nd = len(lhs_spec)
    n = plan.num_spatial
    wsrc = "(w * m)" if masked else "w"
    plain = kernel == "conv" and all(d == 1 for d in plan.lhs_dilation)
    padded = any((line.kind == PADDING).any() for line in lines)  # the window touches padding
    mode = plan.padding_mode
    parts = [""] * nd
    parts[lhs_spec[1]] = ":" if plan.group_in == plan.in_features else f"{c0}:{c0 + plan.group_in}"
    k_parts: list[tuple[int, int, int]] = []  # per spatial dim: taps (first, count, step)
    if plain:
        for j in range(n):
            lo, _ = plan.pads[j]
            # without np.pad the window starts at the input coordinate start - lo; with it,
            # the array is padded by max(lo, 0) at the start (negative pads crop nothing there).
            shift = -lo if not padded else -lo + max(lo, 0)
            parts[lhs_spec[2 + j]] = _slice(
                lines[j].start + shift, plan.kernel[j], plan.rhs_dilation[j]
            )
        use_pad = padded
        pad_pairs = [(max(lo, 0), max(hi, 0)) for lo, hi in plan.pads]
    else:
        # Only taps on the input grid; the pre-padded line is x itself unless a padding
        # mode pads it first.
        use_pad = mode != "zeros" and any(lo or hi for lo, hi in plan.pads)
        pad_pairs = list(plan.pads)
        for j in range(n):
            line = lines[j]
            taps = np.nonzero(line.grid >= 0)[0]
            kf, count, ks = _progression(taps)
            qf, _, qs = _progression(line.grid[taps]) if count else (0, 0, 1)
            k_parts.append((kf, count, ks))
            parts[lhs_spec[2 + j]] = _range_text(qf, count, qs)
    if use_pad:
        nb = 1 if batch_shape is None else len(batch_shape)
        width: list[tuple[int, int]] = []
        for a in range(nd):
            if a == lhs_spec[0]:
                width += [(0, 0)] * nb
            else:
                j = list(lhs_spec[2:]).index(a) if a != lhs_spec[1] else -1
                width.append((0, 0) if j < 0 else pad_pairs[j])
        mode_arg = "" if mode == "zeros" else f", mode={_NP_MODE[mode]!r}"
        src = f"np.pad(x, {tuple(width)!r}{mode_arg})"
    else:
        src = "x"
    if n_text is None:
        x_parts = [p for a, p in enumerate(parts) if a != lhs_spec[0]]
    else:
        parts[lhs_spec[0]] = n_text
        x_parts = parts
    xs = f"{src}[{', '.join(x_parts)}]"
    # The x window's axes, in x's order without N: map each to its role (-1 for C).
    x_roles = []
    for a in range(nd):
        if a == lhs_spec[0]:
            continue
        x_roles.append(-1 if a == lhs_spec[1] else list(lhs_spec[2:]).index(a))

    if kernel == "local":
        k = plan.kernel
        full = all(c == kk and s == 1 for (_, c, s), kk in zip(k_parts, k, strict=True))
        ws = f"{wsrc}[{', '.join(map(str, pos))}, :, {o}].reshape({plan.in_features}, "
        ws += ", ".join(map(str, k)) + ")"
        if not full:
            ws += "[:, " + ", ".join(_range_text(*kp) for kp in k_parts) + "]"
        wr = [-1, *range(n)]
    else:
        wparts = [":"] * nd
        out_ax, feat_ax = (rhs_spec[1], rhs_spec[0]) if kernel == "flip" else rhs_spec[:2]
        wparts[out_ax] = str(o)
        for j, (kf, count, ks) in enumerate(k_parts):
            kk = plan.kernel[j]
            full = count == kk and ks == 1
            if kernel == "flip":  # tap t of the flipped kernel is w's tap kk - 1 - t
                text = "::-1" if full and kk > 1 else _range_text(kk - 1 - kf, count, -ks)
            else:
                text = ":" if full else _range_text(kf, count, ks)
            wparts[rhs_spec[2 + j]] = text
        ws = f"{wsrc}[{', '.join(wparts)}]"
        wr = []
        for a in range(nd):
            if a == out_ax:
                continue
            wr.append(-1 if a == feat_ax else list(rhs_spec[2:]).index(a))
    if x_roles != wr:
        perm = tuple(x_roles.index(r) for r in wr)
        xs = f"np.transpose({xs}, {perm!r})"
    return f"np.sum({xs} * {ws})"
