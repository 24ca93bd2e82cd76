"""Draw an [`Explanation`][jaxconv.Explanation]: the window on the input, the taps, the products.

matplotlib is imported here only, when a picture is asked for; figures are drawn on the Agg
canvas (no pyplot, no display needed). One row per input feature shown (the largest
contributions first; the others are folded into one line of text), three panels per row:

- the input plane around the window — padding hatched, the zeros that input dilation
  inserts drawn as dots, the taps outlined, the window of the next output along each axis
  dashed (the stride), input coordinates on the axes;
- the kernel taps this output meets (after any flip or transpose);
- their products and the row's sum.

For an input-dilated (transposed) convolution a last row shows the scatter view: the input
element with the largest product spreading through every tap into the output, over the
output shaded by how many input elements reach each position (the checkerboard).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._explain import (
    HOLE,
    PADDING,
    Explanation,
    X,
    _num,
    combine_kinds,
    read_positions,
)

_CELL = 0.36  # inches per cell
_MARGIN = 2  # cells shown around the window
_MAX_SPAN = 21  # cells shown along an axis at most (the window and its margin)
_TAP = "#e6550d"
_OUT = "#c2185b"


def _canonical(e: Explanation) -> tuple[np.ndarray, ...]:
    """patch, weights, kinds, products and weight indices as ``(I, *spatial)`` in the plan's
    spatial order."""
    rhs_spec = e.plan.dn.rhs_spec
    w_axes = [a for a in range(len(rhs_spec)) if a != rhs_spec[0]]
    role = {rhs_spec[1]: -1, **{a: j for j, a in enumerate(rhs_spec[2:])}}
    roles = [role[a] for a in w_axes]
    perm = [roles.index(-1)] + [roles.index(j) for j in range(e.plan.num_spatial)]
    arrays = (e.patch, e.weights, e._kinds(), e.products, e._weight_indices())
    return tuple(np.transpose(a, perm) for a in arrays)


def _folded_x(e: Explanation) -> np.ndarray:
    """The input with exactly one batch axis (a layer's input may have more, or none)."""
    x = np.asarray(e.arrays["x"])
    rank = len(e.layouts[0])
    pos = e.layouts[0].index("N")
    if x.ndim == rank:
        return x
    if x.ndim == rank - 1:
        return np.expand_dims(x, pos)
    extra = x.ndim - rank + 1
    return x.reshape(*x.shape[:pos], -1, *x.shape[pos + extra :])


class _Axis:
    """One drawn spatial dim: the cropped part of the padded (dilated) input line."""

    def __init__(self, e: Explanation, j: int):
        p = e.plan
        self.j = j
        pos = [e.index[a] for a in _out_spec_user(e)[2:]]
        self.start = pos[j] * p.strides[j]
        self.stride = p.strides[j]
        self.taps = self.start + np.arange(p.kernel[j]) * p.rhs_dilation[j]
        length = p.padded_in[j]
        last = int(self.taps[-1]) if self.taps.size else self.start
        margin = max(_MARGIN, self.stride)
        lo, hi = self.start - margin, last + margin + 1
        if hi - lo > _MAX_SPAN:  # a very wide window: keep the window, less margin
            extra = max(0, _MAX_SPAN - (last + 1 - self.start))
            lo, hi = self.start - extra // 2, last + 1 + extra - extra // 2
        self.lo, self.hi = max(0, lo), min(length, hi)
        self.length = length
        self.at = np.arange(self.lo, self.hi)
        self.src, self.kind, _ = read_positions(p, j, self.at)


def _out_spec_user(e: Explanation) -> tuple[int, ...]:
    """The output spec, on the user's index (which may have several batch axes or none)."""
    spec = e.plan.dn.out_spec
    nb = len(e.index) - len(spec) + 1
    if nb == 1:
        return spec
    n_at = spec[0]
    return tuple(a if a < n_at else a + nb - 1 for a in spec)


def _rows(e: Explanation, products: np.ndarray, max_rows: int) -> tuple[list[tuple], int, Any]:
    """The (feature, leading taps) rows with the largest sums; the count and sum of the rest."""
    n = e.plan.num_spatial
    lead = products.shape[: 1 + max(0, n - 2)]
    sums = products.reshape(*lead, -1).sum(-1) if products.size else np.zeros(lead)
    keys = list(np.ndindex(*lead))
    order = sorted(keys, key=lambda k: -abs(sums[k]) if np.isfinite(sums[k]) else 0)
    shown = order[:max_rows]
    rest = order[max_rows:]
    rest_sum = sum((sums[k] for k in rest), start=np.zeros((), sums.dtype))
    return shown, len(rest), rest_sum


def _cmap_color(cmap: Any, v: float, vmax: float) -> Any:
    if not np.isfinite(v) or vmax == 0:
        return cmap(0.5)
    return cmap(0.5 + 0.42 * float(np.real(v)) / vmax)


def _grid_axes(ax: Any, rows: int, cols: int) -> None:
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_aspect("equal")
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(length=0, labelsize=7)


def _cells(ax: Any, cells: list[tuple[int, int]], **style: Any) -> None:
    """Unit squares centred on ``(row, col)`` cells, as one collection (fast to draw)."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    if cells:
        rects = [Rectangle((c - 0.5, r - 0.5), 1, 1) for r, c in cells]
        ax.add_collection(PatchCollection(rects, match_original=False, **style))


def _draw_values(
    ax: Any, values: np.ndarray, kinds: np.ndarray, fontsize: float, show_text: bool
) -> None:
    """A grid of cells: data coloured by value, padding hatched, inserted zeros dotted."""
    from matplotlib import colormaps

    cmap = colormaps["RdBu_r"]
    finite = np.real(values[(kinds == X) & np.isfinite(np.real(values))])
    vmax = float(np.max(np.abs(finite))) if finite.size else 1.0
    cells = list(np.ndindex(*values.shape))
    data = [rc for rc in cells if kinds[rc] == X]
    holes = [rc for rc in cells if kinds[rc] == HOLE]
    pads = [rc for rc in cells if kinds[rc] == PADDING]
    colors = [_cmap_color(cmap, values[rc], vmax) for rc in data]
    _cells(ax, data, facecolors=colors, edgecolors="white", linewidths=0.8)
    _cells(ax, holes, facecolors="white", edgecolors="#dddddd", linewidths=0.8)
    _cells(ax, pads, facecolors="#eeeeee", edgecolors="#bbbbbb", hatch="///", linewidths=0.5)
    if holes:
        r, c = np.array(holes).T
        ax.plot(c, r, ".", color="#999999", markersize=3)
    if show_text:
        for rc in data + pads:
            color = "black" if kinds[rc] == X else "#777777"
            ax.text(
                rc[1],
                rc[0],
                _short(values[rc]),
                ha="center",
                va="center",
                fontsize=fontsize,
                color=color,
            )


def _short(v: Any) -> str:
    """A value in at most five characters, for a cell."""
    v = np.asarray(v)[()]
    if isinstance(v, np.integer | int):
        return str(int(v))
    f = float(np.real(v))
    if not np.isfinite(f):
        return str(f)
    a = abs(f)
    if a >= 1000:
        return f"{f:.0e}".replace("e+0", "e")
    if a >= 10 or f == int(f):
        return f"{f + 0.0:.0f}".replace("-0", "0") if f == 0 else f"{f:.0f}"
    if a >= 1:
        return f"{f:.1f}"
    return f"{f:.2f}" if a >= 0.005 else "0"


def _outline(ax: Any, r: float, c: float, color: str, lw: float, ls: str = "-", h=1.0, w=1.0):
    from matplotlib.patches import Rectangle

    ax.add_patch(
        Rectangle((c - 0.5, r - 0.5), w, h, fill=False, edgecolor=color, linewidth=lw, linestyle=ls)
    )


def _coord_labels(axis: _Axis) -> list[str]:
    """Tick labels: the input coordinate read at each position (blank for zeros)."""
    return [str(int(s)) if k == X else "" for s, k in zip(axis.src, axis.kind, strict=True)]


class _Canvas:
    """Axes placed in inches, top to bottom: the figure is as large as its cells need."""

    def __init__(self, width: float, height: float, dpi: int):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.w, self.h = width, height
        self.fig = Figure(figsize=(width, height), dpi=dpi)
        FigureCanvasAgg(self.fig)

    def axes(self, left: float, top: float, width: float, height: float) -> Any:
        return self.fig.add_axes(
            (left / self.w, 1 - (top + height) / self.h, width / self.w, height / self.h)
        )

    def text(self, left: float, top: float, text: str, **kw: Any) -> None:
        self.fig.text(left / self.w, 1 - top / self.h, text, va="top", ha="left", **kw)


_TITLE = 0.52  # inches above a panel for its two-line title
_TICKS = 0.3  # inches below a panel for its tick labels
_GAP = 0.55  # inches between panels
_LEFT = 0.45


def _wrap(text: str, inches: float) -> str:
    import textwrap

    width = max(16, int(inches / 0.068))  # characters of 8-point text per inch
    return "\n".join(textwrap.fill(line, width) for line in text.split("\n"))


def plot(
    e: Explanation, path: Any = None, *, max_features: int = 3, dpi: int = 110
) -> Any:  # matplotlib.figure.Figure
    """Draw ``e``; write a PNG to ``path`` if given. Returns the ``Figure``."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as err:  # pragma: no cover - matplotlib is an optional dependency
        raise ImportError(
            "Explanation.plot needs matplotlib: pip install matplotlib (or 'jaxconv[bench]')."
        ) from err
    if isinstance(max_features, bool) or not isinstance(max_features, int) or max_features < 1:
        raise ValueError(f"`max_features` must be a positive int, got {max_features!r}.")
    p = e.plan
    n = p.num_spatial
    patch, weights, kinds, products, windex = _canonical(e)
    shown, folded, folded_sum = _rows(e, products, max_features)
    drawn = list(range(max(0, n - 2), n))  # the last two spatial dims: rows, columns
    axes = [_Axis(e, j) for j in drawn]
    ax_r = axes[0] if len(axes) == 2 else None
    ax_c = axes[-1]
    plane_h = len(ax_r.at) if ax_r else 1
    plane_w = len(ax_c.at)
    k_h = p.kernel[drawn[0]] if len(drawn) == 2 else 1
    k_w = p.kernel[drawn[-1]]
    dilated = any(d != 1 for d in p.lhs_dilation)
    scat = (
        _scatter_data(e, kinds, products, windex)
        if dilated and products.size and (kinds == X).any()
        else None
    )
    text_in_cells = plane_w <= 16

    # Layout, in inches.
    pw, kw = plane_w * _CELL, k_w * _CELL
    kpanel = max(kw, 1.6)
    row_h = [max(plane_h, k_h) * _CELL for _ in shown]
    width = _LEFT + pw + _GAP + kpanel + _GAP + kpanel + 0.3
    scat_w = scat_h = scat_block = 0.0
    if scat is not None:
        scat_w, scat_h = len(scat["cols"]) * _CELL, len(scat["rows"]) * _CELL
        width = max(width, _LEFT + scat_w + 3.6)
        note = _wrap(scat["note"], width - scat_w - 1.0)
        scat_block = max(scat_h + _TICKS, 0.165 * (note.count("\n") + 1))
    summary = _wrap(_summary(e, len(shown), folded, folded_sum, np.sum(products)), width - 0.8)
    head = 0.35 + 0.19 * summary.count("\n")
    foot = 0.5
    height = head + sum(h + _TITLE + _TICKS for h in row_h) + foot
    if scat is not None:
        height += scat_block + _TITLE
    canvas = _Canvas(width, height, dpi)
    fig = canvas.fig

    x = _folded_x(e)
    lhs_spec = p.dn.lhs_spec
    c0 = e.group * p.group_in if p.batch_groups == 1 else 0
    n_in = e.in_batch if e.in_batch is not None else e.batch
    out_pos = [e.index[a] for a in _out_spec_user(e)[2:]]
    letters = _spatial_letters(e)
    top = head
    for row, key in enumerate(shown):
        c, lead = key[0], key[1:]
        feature = c0 + c
        rh = row_h[row]
        # --- the input plane around the window
        lead_src, lead_kind = [], []
        for j, t in enumerate(lead):
            at = out_pos[j] * p.strides[j] + t * p.rhs_dilation[j]
            src, kind, _ = read_positions(p, j, np.array([at]))
            lead_src.append(src)
            lead_kind.append(kind)
        rs = ax_r.src if ax_r else np.zeros(1, int)
        rk = ax_r.kind if ax_r else np.full(1, X)
        pk = combine_kinds(
            [*lead_src, rs[:, None], ax_c.src[None, :]], [*lead_kind, rk[:, None], ax_c.kind[None]]
        )
        lead_src = [int(s[0]) for s in lead_src]
        values = np.zeros((plane_h, plane_w), x.dtype)
        for i in range(plane_h):
            for jj in range(plane_w):
                kind = pk[i, jj]
                srcs = [*lead_src] + ([int(rs[i])] if ax_r else []) + [int(ax_c.src[jj])]
                if kind == HOLE or min(srcs) < 0:
                    continue
                idx = [0] * x.ndim
                idx[lhs_spec[0]] = n_in
                idx[lhs_spec[1]] = feature
                for jd, s in enumerate(srcs):
                    idx[lhs_spec[2 + jd]] = s
                values[i, jj] = x[tuple(idx)]
        ax = canvas.axes(_LEFT, top + _TITLE + (rh - plane_h * _CELL) / 2, pw, plane_h * _CELL)
        _grid_axes(ax, plane_h, plane_w)
        _draw_values(ax, values, pk, 7, text_in_cells)
        ck = kinds[(c, *lead)].reshape(k_h, k_w)
        tr = (ax_r.taps - ax_r.lo) if ax_r else np.zeros(1, int)
        tc = ax_c.taps - ax_c.lo
        box = dict(h=tr[-1] - tr[0] + 1, w=tc[-1] - tc[0] + 1)
        for axis, (dr, dc) in ((ax_c, (0, 1)), (ax_r, (1, 0))):
            # The window of the next output along this axis: the stride.
            if axis is None or axis.taps[-1] + axis.stride >= axis.length:
                continue
            nr, nc = tr[0] + dr * axis.stride, tc[0] + dc * axis.stride
            _outline(ax, nr, nc, "#555555", 1.0, "--", **box)
        _outline(ax, tr[0], tc[0], "#333333", 0.9, "-", **box)
        for a in range(k_h):
            for b in range(k_w):
                real = ck[a, b] == X
                _outline(ax, tr[a], tc[b], _TAP, 2.2 if real else 1.0, "-" if real else ":")
        ax.set_xticks(range(plane_w), _coord_labels(ax_c), fontsize=6.5)
        ax.set_yticks(range(plane_h), _coord_labels(ax_r) if ax_r else [""], fontsize=6.5)
        lead_txt = "".join(
            f", {letters[j]}={s}" if s >= 0 else f", {letters[j]}: padding"
            for j, s in enumerate(lead_src)
        )
        title = f"x: input feature {feature}{lead_txt}, batch {n_in}"
        title += "\ndilated input, window on it" if dilated else "\nthe window on the input"
        ax.set_title(_wrap(title, pw + _GAP), fontsize=8)
        # --- the kernel taps and the products
        left = _LEFT + pw + _GAP + (kpanel - kw) / 2
        for panel, (vals, kk, label) in enumerate(
            (
                (weights[(c, *lead)], np.full((k_h, k_w), X), _kernel_title(e, windex[(c, *lead)])),
                (products[(c, *lead)], ck, None),
            )
        ):
            vals = vals.reshape(k_h, k_w)
            ax = canvas.axes(
                left + panel * (kpanel + _GAP),
                top + _TITLE + (rh - k_h * _CELL) / 2,
                kw,
                k_h * _CELL,
            )
            _grid_axes(ax, k_h, k_w)
            _draw_values(ax, vals, np.asarray(kk).reshape(k_h, k_w), 7, True)
            ax.set_xticks([])
            ax.set_yticks([])
            if label is None:
                label = f"products\nsum {_num(vals.sum(), 4)}"
            ax.set_title(_wrap(label, kpanel + _GAP), fontsize=8)
        top += rh + _TITLE + _TICKS
    if scat is not None:
        ax = canvas.axes(_LEFT, top + _TITLE, scat_w, scat_h)
        _draw_scatter(ax, e, scat)
        canvas.text(_LEFT + scat_w + 0.35, top + _TITLE, note, fontsize=8)
    canvas.text(_LEFT, 0.12, summary, fontsize=9)
    legend = (
        "hatched: padding"
        + ("   ·: a zero inserted by input dilation" if dilated else "")
        + "   orange: the kernel taps (dotted where they meet a zero)"
        + "   dashed: the next output's window (the stride)"
        + ("" if text_in_cells else "   (values omitted: wide window)")
    )
    canvas.text(
        _LEFT, height - foot + 0.12, _wrap(legend, width - 0.8), fontsize=7, color="#555555"
    )
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig


def _spatial_letters(e: Explanation) -> str:
    return "".join(c for c in e.layouts[1] if c not in "OI")


def _kernel_title(e: Explanation, wi: np.ndarray) -> str:
    first = "w[" + ",".join(map(str, wi.flat[0])) + "]"
    if e.form == "conv_local":
        return f"this position's kernel\nfirst tap {first}"
    corner = "top-left" if e.plan.num_spatial > 1 else "first"
    if e.transpose is not None and e.transpose.transpose_kernel:
        return f"kernel taps met (w flipped,\nI/O swapped): {corner} {first}"
    return f"kernel taps met\n{corner} {first}"


def _summary(e: Explanation, shown: int, folded: int, folded_sum: Any, total: Any) -> str:
    idx = ", ".join(map(str, e.index))
    what = {"conv_transpose": "transposed convolution", "conv_local": "locally connected layer"}
    head = (
        f"out[{idx}] ({e.layouts[2]}) of a {e.plan.num_spatial}-d "
        f"{what.get(e.form, 'convolution')} = {_num(e.value, 5)}"
    )
    t = e.transpose
    if t is not None:
        head += f"\nconv_transpose with strides {t.strides}, padding {t.padding!r}"
        head += ", use_consistent_padding" if t.use_consistent_padding else ""
        head += ", transpose_kernel" if t.transpose_kernel else ""
    if e.layer:
        head += "\n" + e.layer.split(":")[0] + " layer"
    unit = "input features" if e.plan.num_spatial <= 2 else "(input feature, depth tap) rows"
    lines = [head]
    parts = f"sum of products {_num(total, 5)}"
    if e.bias is not None:
        parts = f"= sum of products ({_num(total, 5)}) + bias {e.bias_name} ({_num(e.bias, 4)})"
    if folded:
        parts += (
            f";  the {shown} largest of {shown + folded} {unit} shown, {folded} more folded "
            f"(they add {_num(folded_sum, 4)})"
        )
    lines.append(parts)
    return "\n".join(lines)


# ------------------------------------------------------------------------- scatter view
def _scatter_data(
    e: Explanation, kinds: np.ndarray, products: np.ndarray, windex: np.ndarray
) -> dict[str, Any] | None:
    """The input element with the largest product, the outputs it reaches and by which tap,
    and how many input elements reach each output nearby (per input feature)."""
    p = e.plan
    n = p.num_spatial
    prod = np.where(kinds == X, np.abs(products), -1)
    if prod.max() < 0:
        return None
    best = np.unravel_index(int(np.argmax(prod)), prod.shape)
    c, taps = best[0], best[1:]
    spec = _out_spec_user(e)
    pos = [e.index[a] for a in spec[2:]]
    # The padded-line position of that input element, per dim.
    where = [pos[j] * p.strides[j] + taps[j] * p.rhs_dilation[j] for j in range(n)]
    # Per dim: the outputs that read this position, and through which tap.
    reach: list[dict[int, int]] = []
    for j in range(n):
        hits = {}
        for k in range(p.kernel[j]):
            num = where[j] - k * p.rhs_dilation[j]
            if num % p.strides[j] == 0 and 0 <= num // p.strides[j] < p.out_spatial[j]:
                hits[num // p.strides[j]] = k
        reach.append(hits)
    drawn = list(range(max(0, n - 2), n))
    spans = []
    for j in drawn:
        cells = [pos[j], *reach[j]]
        lo = max(0, min(cells) - 2)
        hi = min(p.out_spatial[j], max(cells) + 3)
        if hi - lo > _MAX_SPAN:
            lo = max(0, pos[j] - _MAX_SPAN // 2)
            hi = min(p.out_spatial[j], lo + _MAX_SPAN)
        spans.append(range(lo, hi))
    # How many taps read the input at each output position, per dim (their product is the
    # number of input elements of one feature that reach it): the checkerboard.
    counts = []
    for j, span in zip(drawn, spans, strict=True):
        cnt = []
        for o in span:
            at = o * p.strides[j] + np.arange(p.kernel[j]) * p.rhs_dilation[j]
            _, kind, _ = read_positions(p, j, at)
            cnt.append(int((kind == X).sum()))
        counts.append(np.array(cnt))
    rows = spans[0] if len(drawn) == 2 else range(1)
    cols = spans[-1]
    cr = counts[0] if len(drawn) == 2 else np.ones(1, int)
    coverage = np.outer(cr, counts[-1])
    # The input element in x's coordinates (from the patch's input indices).
    src = []
    for j in range(n):
        s, _, _ = read_positions(p, j, np.array([where[j]]))
        src.append(int(s[0]))
    letters = _spatial_letters(e)
    q = ", ".join(f"{letters[j]}={v}" for j, v in enumerate(src))
    feature = (e.group * p.group_in if p.batch_groups == 1 else 0) + c
    note = (
        f"Scatter view: the input element at {q} (feature {feature}, the largest product) "
        f"spreads into every output outlined in orange, each through the kernel tap named "
        f"({letters[max(0, n - 2) :]} of w). The output explained is outlined in red: the gather "
        f"view above, where it collects its inputs. Shading and small numbers: how many "
        f"input elements of one feature reach each output; where they differ from position to "
        f"position, a transposed convolution makes its checkerboard."
    )
    return {
        "note": note,
        "c": c,
        "taps": taps,
        "src": src,
        "reach": reach,
        "rows": rows,
        "cols": cols,
        "coverage": coverage,
        "pos": pos,
        "drawn": drawn,
        "windex": windex,
    }


def _draw_scatter(ax: Any, e: Explanation, s: dict[str, Any]) -> str:
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    p = e.plan
    rows, cols = s["rows"], s["cols"]
    cov = s["coverage"]
    drawn = s["drawn"]
    cmap = colormaps["Greys"]
    top = max(int(cov.max()), 1)
    for i in range(len(rows)):
        for j in range(len(cols)):
            ax.add_patch(
                Rectangle(
                    (j - 0.5, i - 0.5),
                    1,
                    1,
                    facecolor=cmap(0.08 + 0.42 * cov[i, j] / top),
                    edgecolor="white",
                )
            )
            ax.text(
                j, i + 0.32, str(cov[i, j]), ha="center", va="center", fontsize=5.5, color="#555555"
            )
    _grid_axes(ax, len(rows), len(cols))
    reach_r = s["reach"][drawn[0]] if len(drawn) == 2 else {0: 0}
    reach_c = s["reach"][drawn[-1]]
    letters = _spatial_letters(e)
    n = p.num_spatial
    for i, o_r in enumerate(rows):
        for j, o_c in enumerate(cols):
            if (len(drawn) == 2 and o_r not in reach_r) or o_c not in reach_c:
                continue
            kr = reach_r[o_r] if len(drawn) == 2 else 0
            kc = reach_c[o_c]
            _outline(ax, i, j, _TAP, 1.8)
            taps = list(s["taps"])
            if len(drawn) == 2:
                taps[drawn[0]] = kr
            taps[drawn[-1]] = kc
            wi = s["windex"][(s["c"], *taps)]
            spatial = [wi[a] for a in e.plan.dn.rhs_spec[2:]] if e.form != "conv_local" else taps
            lab = ",".join(str(v) for v in spatial[max(0, n - 2) :])
            ax.text(j, i - 0.12, lab, ha="center", va="center", fontsize=6, color=_TAP)
    r0 = (list(rows).index(s["pos"][drawn[0]])) if len(drawn) == 2 else 0
    c0 = list(cols).index(s["pos"][drawn[-1]])
    _outline(ax, r0, c0, _OUT, 2.6)
    ax.set_xticks(range(len(cols)), [str(v) for v in cols], fontsize=6)
    ax.set_yticks(range(len(rows)), [str(v) for v in rows] if len(drawn) == 2 else [""], fontsize=6)
    q = ", ".join(f"{letters[j]}={v}" for j, v in enumerate(s["src"]))
    feature = (e.group * p.group_in if p.batch_groups == 1 else 0) + s["c"]
    ax.set_title(f"scatter: x at {q}, feature {feature}", fontsize=8, loc="left")
    return s["note"]
