"""Draw the pictures of the documentation.

Two kinds:

- ``docs/img/``: memory order of NHWC/NCHW activations and HWIO/OIHW kernels, patch
  extraction, SAME padding with strides, the padding modes, and the benchmark summary (from
  the committed ``benchmarks/results/cpu-2core/results.json``). Drawn by running
  ``python docs/make_figures.py``; the PNGs are committed, so building the docs does not need
  to draw them. Every one is at most ``WIDTH_IN * DPI`` = 680 pixels wide, the width of the
  docs' content column (688 px in a 1280 px window), so that it is shown at its own size and
  an 8 pt label stays 11 px tall; tests/test_docs.py checks this.
- ``figures/``: the pictures of ``jaxconv.explain`` (``Explanation.plot``). They are never
  committed: mkdocs loads this file as a hook (``hooks:`` in mkdocs.yml) and ``on_files``
  draws them into the site at every build, from the jaxconv in ``src/``, so they cannot go
  stale. ``python docs/make_figures.py --explain DIR`` writes them to ``DIR`` to look at.

matplotlib with the Agg backend.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

OUT = Path(__file__).parent / "img"
RESULTS = Path(__file__).parent.parent / "benchmarks" / "results" / "cpu-2core" / "results.json"
WIDTH_IN, DPI = 6.8, 100
COLORS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]


def _cell(ax, x, y, text, color, w=1.0, h=1.0, alpha=0.85, fontsize=8, edge="white"):
    ax.add_patch(Rectangle((x, y), w, h, facecolor=color, edgecolor=edge, alpha=alpha, lw=1.5))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, color="white")


def _strip(ax, y, labels, colors, title):
    for i, (lab, col) in enumerate(zip(labels, colors, strict=True)):
        _cell(ax, i, y, lab, col, fontsize=7)
    ax.text(-0.4, y + 0.5, title, ha="right", va="center", fontsize=10, family="monospace")


def memory_order() -> None:
    """An (N=1, H=2, W=3, C=3) activation in NHWC and NCHW memory order."""
    h, w, c = 2, 3, 3
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.6))
    # The tensor as C planes of H x W.
    for ch in range(c):
        for i, j in itertools.product(range(h), range(w)):
            _cell(ax, ch * (w + 1) + j, 5 - i, f"h{i}\nw{j}", COLORS[ch], fontsize=7)
        ax.text(ch * (w + 1) + w / 2, 6.3, f"channel c={ch}", ha="center", fontsize=9)
    nhwc = [(i, j, ch) for i in range(h) for j in range(w) for ch in range(c)]
    nchw = [(i, j, ch) for ch in range(c) for i in range(h) for j in range(w)]
    for y, order, name in ((2, nhwc, "NHWC"), (0, nchw, "NCHW")):
        _strip(ax, y, [f"{i},{j}" for i, j, _ in order], [COLORS[ch] for *_, ch in order], name)
    ax.text(0, 3.4, "memory, address 0 →   (labels h,w; colour = channel)", fontsize=8)
    ax.set_xlim(-2.6, 18.2)
    ax.set_ylim(-0.3, 6.8)
    ax.axis("off")
    ax.set_title(
        "One image (H=2, W=3, C=3): channels-last interleaves\n"
        "the channels, channels-first stores whole planes",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(OUT / "memory_order.png", dpi=DPI)
    plt.close(fig)


def kernel_order() -> None:
    """A (kh=2, kw=2, I=2, O=3) kernel in HWIO and OIHW memory order."""
    kh, kw, ci, co = 2, 2, 2, 3
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 2.9))
    hwio = [
        (a, b, i, o) for a in range(kh) for b in range(kw) for i in range(ci) for o in range(co)
    ]
    oihw = [
        (a, b, i, o) for o in range(co) for i in range(ci) for a in range(kh) for b in range(kw)
    ]
    for y, order, name in ((2.0, hwio, "HWIO"), (0, oihw, "OIHW")):
        labels = [f"{a}{b}\ni{i}" for a, b, i, _ in order]
        for k, (lab, o) in enumerate(zip(labels, [o for *_, o in order], strict=True)):
            _cell(ax, k, y, lab, COLORS[o], h=1.4, fontsize=7)
        ax.text(-0.4, y + 0.7, name, ha="right", va="center", fontsize=10, family="monospace")
    ax.text(
        0,
        3.7,
        "labels: tap (row, col) and input feature i; colour: output feature O (one filter)",
        fontsize=8,
    )
    ax.set_xlim(-2.4, 24.2)
    ax.set_ylim(-0.2, 4.2)
    ax.axis("off")
    ax.set_title(
        "3 filters of 2x2 taps over 2 input features, in memory order: HWIO\n"
        "(TensorFlow, Keras, Flax) and OIHW (PyTorch, Theano)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(OUT / "kernel_order.png", dpi=DPI)
    plt.close(fig)


def patches() -> None:
    """A 5x5 input, padding 1, 3x3 kernel, stride 2: three windows and their outputs."""
    n, k, s, p = 5, 3, 2, 1
    out = (n + 2 * p - k) // s + 1
    fig, (a1, a2) = plt.subplots(
        1, 2, figsize=(WIDTH_IN, 3.7), gridspec_kw={"width_ratios": [7, 4]}
    )
    for i, j in itertools.product(range(n + 2 * p), range(n + 2 * p)):
        inside = p <= i < n + p and p <= j < n + p
        label = f"{i - p},{j - p}" if inside else "0"
        _cell(a1, j, n + 2 * p - 1 - i, label, "#8da0cb" if inside else "#cccccc", fontsize=8)
    picks = [((0, 0), COLORS[3]), ((1, 2), COLORS[2]), ((2, 1), COLORS[4])]
    for (oi, oj), col in picks:
        r0, c0 = oi * s, oj * s
        a1.add_patch(
            Rectangle(
                (c0 + 0.06, n + 2 * p - r0 - k + 0.06),
                k - 0.12,
                k - 0.12,
                fill=False,
                edgecolor=col,
                lw=3,
            )
        )
    a1.set_title(
        "input 5x5 (coordinates h,w), zero padding 1\n(grey), 3x3 windows at stride 2", fontsize=9
    )
    for i, j in itertools.product(range(out), range(out)):
        col = next((c for (oi, oj), c in picks if (oi, oj) == (i, j)), "#bbbbbb")
        _cell(a2, j, out - 1 - i, f"out\n[{i},{j}]", col, fontsize=8)
    a2.set_title("output 3x3: each value is\nsum(window * kernel)", fontsize=9)
    for a, m in ((a1, n + 2 * p), (a2, out)):
        a.set_xlim(-0.2, m + 0.2)
        a.set_ylim(-0.2, m + 0.2)
        a.set_aspect("equal")
        a.axis("off")
    fig.tight_layout()
    fig.savefig(OUT / "patches.png", dpi=DPI)
    plt.close(fig)


def same_padding() -> None:
    """Length 6, kernel 3, stride 2: where each convention puts the padding."""
    n, k, s = 6, 3, 2
    rows = [
        ("TensorFlow / lax / jaxconv 'SAME'", (0, 1)),
        ("'SAME_LOWER' (ONNX SAME_LOWER)", (1, 0)),
        ("PyTorch padding=1 (symmetric)", (1, 1)),
        ("'VALID'", (0, 0)),
    ]
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 4.4))
    for r, (name, (lo, hi)) in enumerate(rows):
        y = (len(rows) - 1 - r) * 2.2
        for i in range(-lo, n + hi):
            pad = not 0 <= i < n
            _cell(
                ax, i + 1, y, "0" if pad else f"x{i}", "#cccccc" if pad else "#8da0cb", fontsize=8
            )
        outs = (n + lo + hi - k) // s + 1
        for o in range(outs):
            start = o * s - lo
            ax.add_patch(
                Rectangle(
                    (start + 1 + 0.08, y + 1.08 + 0.1 * o),
                    k - 0.16,
                    0.12,
                    color=COLORS[o % len(COLORS)],
                )
            )
        ax.text(
            -0.2,
            y + 0.5,
            f"{name}\npads {lo, hi}, {outs} outputs",
            ha="right",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(-7.2, n + 2.4)
    ax.set_ylim(-0.3, len(rows) * 2.2)
    ax.axis("off")
    ax.set_title(
        "Input of 6, kernel 3, stride 2: the total padding\n"
        "is 1; who gets it? (bars: the window of each output)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(OUT / "same_padding.png", dpi=DPI)
    plt.close(fig)


def padding_modes() -> None:
    """x = [1, 2, 3, 4, 5] padded by 2 on each side in every padding mode."""
    x = np.arange(1, 6)
    modes = [
        ("zeros", "constant"),
        ("reflect", "reflect"),
        ("replicate", "edge"),
        ("circular", "wrap"),
    ]
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.4))
    for r, (name, np_mode) in enumerate(modes):
        y = (len(modes) - 1 - r) * 1.3
        padded = np.pad(x, 2, mode=np_mode)
        for i, v in enumerate(padded):
            inside = 2 <= i < 2 + x.size
            _cell(ax, i, y, str(v), "#8da0cb" if inside else COLORS[r], fontsize=9)
        ax.text(
            -0.3,
            y + 0.5,
            f"padding_mode='{name}'\nnp.pad mode='{np_mode}'",
            ha="right",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(-5.2, 9.2)
    ax.set_ylim(-0.3, len(modes) * 1.3)
    ax.axis("off")
    ax.set_title("x = [1, 2, 3, 4, 5] padded by (2, 2)", fontsize=11)
    fig.tight_layout()
    fig.savefig(OUT / "padding_modes.png", dpi=DPI)
    plt.close(fig)


def bench_summary() -> None:
    """jaxconv time / lax time of every case of the committed full-suite run: one row per
    suite and layout, a dot per case (colour: direction), a bar at each geometric mean."""
    records = [r for r in json.loads(RESULTS.read_text())["records"] if r["num_devices"] == 1]
    rows = list(dict.fromkeys((r["suite"], r["layout"]) for r in records))
    colours = {"fwd": "tab:blue", "fwd+bwd": "tab:orange"}
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 1.4 + 0.34 * len(rows)))
    ratios = [r["ratio"] for r in records]
    lo, hi = min(min(ratios), 1.0) / 1.4, max(max(ratios), 1.0) * 1.4
    ax.axvspan(lo, 1.0, color="tab:green", alpha=0.07, lw=0)
    ax.axvline(1.0, color="black", lw=1)
    for k, (suite, layout) in enumerate(rows):
        y = len(rows) - 1 - k
        for d, offset in (("fwd", 0.13), ("fwd+bwd", -0.13)):
            xs = [r["ratio"] for r in records if (r["suite"], r["layout"], r["direction"]) ==
                  (suite, layout, d)]  # fmt: skip
            if not xs:
                continue
            ax.scatter(xs, [y + offset] * len(xs), s=12, alpha=0.6, color=colours[d], lw=0,
                       label=d if k == 0 else None)  # fmt: skip
            mean = math.exp(sum(map(math.log, xs)) / len(xs))
            ax.plot([mean, mean], [y + offset - 0.12, y + offset + 0.12], color=colours[d], lw=2.5)
        ax.axhline(y - 0.5, color="lightgray", lw=0.5)
    ax.set_yticks(range(len(rows)), [f"{s} {lay}" for s, lay in reversed(rows)], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ticks = [m * 10.0**e for e in range(-3, 3) for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks], fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("jaxconv time / lax time (log scale; left of 1: jaxconv is faster)", fontsize=8)
    r0 = records[0]
    ax.set_title(f"Every case of the full suites, {r0['dtype']}, {r0['device_kind']} "
                 f"(2 cores), jax {r0['jax_version']}", fontsize=9)  # fmt: skip
    ax.legend(title="dots: cases, bars: geomean", fontsize=8, title_fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(OUT / "bench_summary.png", dpi=DPI)
    plt.close(fig)


# --- explain pictures, drawn by the docs build ---------------------------------------------
# Each returns the Explanation a page computes in its code (the same data, seeds and calls).


def _jaxconv() -> Any:
    """jaxconv from this repository's src/ (as mkdocstrings reads it), not an installed one."""
    src = str(Path(__file__).resolve().parent.parent / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    import jaxconv

    return jaxconv


def explain_keras() -> Any:
    """math.md: the Keras question, channels-last, with the bias as a term."""
    jaxconv = _jaxconv()
    rng = np.random.default_rng(13)
    image = rng.integers(0, 10, (10, 10)).astype(np.float32)
    kernel = rng.integers(-2, 3, (32, 3, 3)).astype(np.float32)
    b = rng.integers(-2, 3, 32).astype(np.float32)
    x = image[None, :, :, None]
    w = np.transpose(kernel, (1, 2, 0))[:, :, None, :]
    return jaxconv.explain(x, w, (0, 0, 0, 0), bias=b)


def explain_dilated() -> Any:
    """math.md: a dilated 3x3 with zero padding on 64 input features."""
    jaxconv = _jaxconv()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 16, 16, 64)).astype(np.float32)
    w = rng.standard_normal((3, 3, 64, 8)).astype(np.float32)
    return jaxconv.explain(x, w, (0, 1, 6, 3), 2, "SAME", dilation=2)


def transposed_1d() -> Any:
    """transposed.md: 1, 2, 3 scattered through the kernel 1, 10, 100 at stride 2."""
    jaxconv = _jaxconv()
    x = np.array([1.0, 2.0, 3.0], np.float32).reshape(1, 3, 1)
    w = np.array([1.0, 10.0, 100.0], np.float32).reshape(3, 1, 1)
    return jaxconv.explain_conv_transpose(x, w, (0, 4, 0), (2,), "VALID", transpose_kernel=True)


def transposed_pytorch() -> Any:
    """transposed.md: ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1)."""
    jaxconv = _jaxconv()
    rng = np.random.default_rng(5)
    x = rng.integers(-3, 4, (1, 2, 4, 4)).astype(np.float32)
    w = rng.integers(-2, 3, (2, 3, 3, 3)).astype(np.float32)
    b = np.array([0.5, -1.0, 2.0], np.float32)
    return jaxconv.explain_conv_transpose(
        x,
        w,
        (0, 1, 2, 5),
        (2, 2),
        ((1, 0), (1, 0)),
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        transpose_kernel=True,
        use_consistent_padding=True,
        bias=b,
    )


GENERATED: dict[str, Callable[[], Any]] = {
    "figures/explain_keras.png": explain_keras,
    "figures/explain_dilated.png": explain_dilated,
    "figures/transposed_1d.png": transposed_1d,
    "figures/transposed_pytorch.png": transposed_pytorch,
}
"""The site paths of the explain pictures and the explanations they draw."""


def explain_png(name: str) -> bytes:
    """The PNG of ``GENERATED[name]``'s explanation, as ``Explanation.plot`` draws it, at a
    resolution that makes it at most ``WIDTH_IN * DPI`` pixels wide (the content column)."""
    explanation, dpi = GENERATED[name](), 110
    while True:
        buf = io.BytesIO()
        explanation.plot(buf, dpi=dpi)
        png = buf.getvalue()
        width = int.from_bytes(png[16:20], "big")  # the IHDR chunk's width
        if width <= WIDTH_IN * DPI:
            return png
        dpi = int(dpi * WIDTH_IN * DPI / width)


def on_files(files: Any, config: Any) -> Any:
    """mkdocs hook: add the explain pictures to the site, drawn now."""
    from mkdocs.structure.files import File

    for name in GENERATED:
        files.append(File.generated(config, name, content=explain_png(name)))
    return files


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--explain":
        out = Path(sys.argv[2])
        for name in GENERATED:
            path = out / Path(name).name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(explain_png(name))
            print("wrote", path)
        return
    OUT.mkdir(exist_ok=True)
    for draw in (memory_order, kernel_order, patches, same_padding, padding_modes, bench_summary):
        draw()
        print("wrote", OUT / f"{draw.__name__}.png")


if __name__ == "__main__":
    main()
