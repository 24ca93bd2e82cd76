"""Draw the pictures of the documentation.

Two kinds:

- ``docs/img/``: memory order of NHWC/NCHW activations and HWIO/OIHW kernels, patch
  extraction, SAME padding with strides, and the padding modes. Drawn by running
  ``python docs/make_figures.py``; the PNGs are committed.
- ``figures/``: the pictures of ``jaxconv.explain`` (``Explanation.plot``). They are never
  committed: mkdocs loads this file as a hook (``hooks:`` in mkdocs.yml) and :func:`on_files`
  draws them into the site at every build, from the jaxconv in ``src/``, so they cannot go
  stale. ``python docs/make_figures.py --explain DIR`` writes them to ``DIR`` to look at.

matplotlib with the Agg backend.
"""

from __future__ import annotations

import io
import itertools
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
    fig, ax = plt.subplots(figsize=(11, 4.2))
    # The tensor as C planes of H x W.
    for ch in range(c):
        for i, j in itertools.product(range(h), range(w)):
            _cell(ax, ch * (w + 1) + j, 5 - i, f"h{i} w{j}", COLORS[ch])
        ax.text(ch * (w + 1) + w / 2, 6.3, f"channel c={ch}", ha="center", fontsize=10)
    nhwc = [(i, j, ch) for i in range(h) for j in range(w) for ch in range(c)]
    nchw = [(i, j, ch) for ch in range(c) for i in range(h) for j in range(w)]
    for y, order, name in ((2, nhwc, "NHWC"), (0, nchw, "NCHW")):
        _strip(ax, y, [f"{i},{j}" for i, j, _ in order], [COLORS[ch] for *_, ch in order], name)
    ax.text(0, 3.4, "memory, address 0 →  (labels h,w; colour = channel)", fontsize=9)
    ax.set_xlim(-3, 18.5)
    ax.set_ylim(-0.3, 6.8)
    ax.axis("off")
    ax.set_title(
        "One image (H=2, W=3, C=3): channels-last interleaves the channels, "
        "channels-first stores whole planes",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(OUT / "memory_order.png", dpi=110)
    plt.close(fig)


def kernel_order() -> None:
    """A (kh=2, kw=2, I=2, O=3) kernel in HWIO and OIHW memory order."""
    kh, kw, ci, co = 2, 2, 2, 3
    fig, ax = plt.subplots(figsize=(13, 2.6))
    hwio = [
        (a, b, i, o) for a in range(kh) for b in range(kw) for i in range(ci) for o in range(co)
    ]
    oihw = [
        (a, b, i, o) for o in range(co) for i in range(ci) for a in range(kh) for b in range(kw)
    ]
    for y, order, name in ((1.6, hwio, "HWIO"), (0, oihw, "OIHW")):
        _strip(
            ax, y, [f"{a}{b} i{i}" for a, b, i, _ in order], [COLORS[o] for *_, o in order], name
        )
    ax.text(
        0,
        2.9,
        "memory order; labels: tap (row, col) and input feature; colour = output "
        "feature O (one filter)",
        fontsize=9,
    )
    ax.set_xlim(-3, 24.5)
    ax.set_ylim(-0.3, 3.3)
    ax.axis("off")
    ax.set_title(
        "Kernel of 3 filters, 2x2 taps, 2 input features: HWIO (TensorFlow, JAX "
        "channels-last) and OIHW (PyTorch, Theano)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(OUT / "kernel_order.png", dpi=110)
    plt.close(fig)


def patches() -> None:
    """A 5x5 input, padding 1, 3x3 kernel, stride 2: three windows and their outputs."""
    n, k, s, p = 5, 3, 2, 1
    out = (n + 2 * p - k) // s + 1
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.6), gridspec_kw={"width_ratios": [7, 4]})
    for i, j in itertools.product(range(n + 2 * p), range(n + 2 * p)):
        inside = p <= i < n + p and p <= j < n + p
        label = f"{i - p},{j - p}" if inside else "0"
        _cell(a1, j, n + 2 * p - 1 - i, label, "#8da0cb" if inside else "#cccccc", fontsize=7)
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
        "input 5x5 (coordinates h,w), zero padding 1 (grey),\n3x3 windows at stride 2", fontsize=10
    )
    for i, j in itertools.product(range(out), range(out)):
        col = next((c for (oi, oj), c in picks if (oi, oj) == (i, j)), "#bbbbbb")
        _cell(a2, j, out - 1 - i, f"out[{i},{j}]", col, fontsize=8)
    a2.set_title("output 3x3: each value is\nsum(window * kernel)", fontsize=10)
    for a, m in ((a1, n + 2 * p), (a2, out)):
        a.set_xlim(-0.2, m + 0.2)
        a.set_ylim(-0.2, m + 0.2)
        a.set_aspect("equal")
        a.axis("off")
    fig.tight_layout()
    fig.savefig(OUT / "patches.png", dpi=110)
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
    fig, ax = plt.subplots(figsize=(10, 4.8))
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
            fontsize=9,
        )
    ax.set_xlim(-6.5, n + 3)
    ax.set_ylim(-0.3, len(rows) * 2.2)
    ax.axis("off")
    ax.set_title(
        "Input of 6, kernel 3, stride 2: the total padding is 1; who gets it?\n"
        "(bars: the window of each output)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(OUT / "same_padding.png", dpi=110)
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
    fig, ax = plt.subplots(figsize=(8, 3.4))
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
            fontsize=9,
        )
    ax.set_xlim(-5, 9.3)
    ax.set_ylim(-0.3, len(modes) * 1.3)
    ax.axis("off")
    ax.set_title("x = [1, 2, 3, 4, 5] padded by (2, 2)", fontsize=11)
    fig.tight_layout()
    fig.savefig(OUT / "padding_modes.png", dpi=110)
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
    """The PNG of ``GENERATED[name]``'s explanation, as ``Explanation.plot`` draws it."""
    buf = io.BytesIO()
    GENERATED[name]().plot(buf)
    return buf.getvalue()


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
    for draw in (memory_order, kernel_order, patches, same_padding, padding_modes):
        draw()
        print("wrote", OUT / f"{draw.__name__}.png")


if __name__ == "__main__":
    main()
