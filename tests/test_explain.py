"""jaxconv.explain against lax.conv_general_dilated and jaxconv.conv, and its command line."""

from __future__ import annotations

import contextlib
import io
import itertools

import jax
import numpy as np
import pytest
from jax import lax

import jaxconv
from jaxconv.__main__ import main

HIGHEST = lax.Precision.HIGHEST

# (input, kernel, output) layouts: standard ones, mixed, and odd permutations.
LAYOUTS = [
    ("NHWC", "HWIO", "NHWC"),
    ("NCHW", "OIHW", "NCHW"),
    ("NHWC", "OIHW", "NCHW"),
    ("HNCW", "WOIH", "CWNH"),
    ("CHWN", "IHOW", "WNCH"),
    ("NWC", "WIO", "NWC"),
    ("NCW", "OIW", "WCN"),
    ("NDHWC", "DHWIO", "NDHWC"),
    ("NCDHW", "OIDHW", "CDHWN"),
]


def _shape(layout: str, sizes: dict[str, int]) -> tuple[int, ...]:
    return tuple(sizes[c] for c in layout)


def _arrays(layouts, in_spatial, kernel, c, o, groups, seed, batch=2):
    lhs, rhs, _ = layouts
    spatial = [ch for ch in rhs if ch not in "OI"]
    xs = {"N": batch, "C": c, **dict(zip(spatial, in_spatial, strict=True))}
    ws = {"O": o, "I": c // groups, **dict(zip(spatial, kernel, strict=True))}
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(_shape(lhs, xs)).astype(np.float32)
    w = rng.standard_normal(_shape(rhs, ws)).astype(np.float32)
    return x, w


def _reference(x, w, layouts, strides, padding, dilation, groups, mode):
    """lax.conv_general_dilated, with numpy padding first for the non-zero modes."""
    n = len(strides)
    if mode != "zeros":
        np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
        width = [(0, 0)] * x.ndim
        spatial = [c for c in layouts[1] if c not in "OI"]
        for letter, pair in zip(spatial, padding, strict=True):
            width[layouts[0].index(letter)] = pair
        x = np.pad(x, width, mode=np_mode)
        padding = "VALID"
    return np.asarray(
        lax.conv_general_dilated(
            x,
            w,
            strides,
            padding,
            rhs_dilation=dilation,
            dimension_numbers=layouts,
            feature_group_count=groups,
            precision=HIGHEST,
        )
    ), n


def _cases():
    rng = np.random.default_rng(1234)
    cases = []
    paddings = ["VALID", "SAME", "SAME_LOWER", "explicit", "negative"]
    modes = ["zeros", "reflect", "replicate", "circular"]
    group_kinds = [(4, 4, 1), (4, 6, 2), (3, 6, 3), (4, 4, 4)]  # (C, O, groups); last two depthwise
    for k, layouts in enumerate(LAYOUTS):
        n = len(layouts[0]) - 2
        for j in range(5):
            pad_kind = paddings[(k + j) % len(paddings)]
            mode = modes[(k * 2 + j) % len(modes)]
            c, o, g = group_kinds[(k + 3 * j) % len(group_kinds)]
            strides = tuple(int(s) for s in rng.integers(1, 4, n))
            dilation = tuple(int(d) for d in rng.integers(1, 3, n))
            kernel = tuple(int(s) for s in rng.integers(1, 4, n))
            in_spatial = tuple(int(s) for s in rng.integers(5, 9 if n < 3 else 7, n))
            if pad_kind == "explicit":
                padding = tuple((int(a), int(b)) for a, b in rng.integers(0, 3, (n, 2)))
            elif pad_kind == "negative":
                padding = tuple((int(a), int(b)) for a, b in rng.integers(-1, 3, (n, 2)))
                mode = "zeros"
            else:
                padding = pad_kind
                mode = "zeros" if pad_kind == "VALID" or j % 2 else mode
            cases.append((layouts, in_spatial, kernel, c, o, g, strides, padding, dilation, mode))
    return cases


CASES = _cases()


def _resolve_pads(padding, in_spatial, kernel, strides, dilation):
    """Explicit (low, high) pairs, SAME split as in TensorFlow (the odd one at the end)."""
    if not isinstance(padding, str):
        return padding
    pads = []
    for size, k, s, d in zip(in_spatial, kernel, strides, dilation, strict=True):
        if padding == "VALID":
            pads.append((0, 0))
            continue
        eff = (k - 1) * d + 1
        out = -(-size // s)
        total = max((out - 1) * s + eff - size, 0)
        small, big = total // 2, total - total // 2
        pads.append((small, big) if padding == "SAME" else (big, small))
    return tuple(pads)


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{''.join(c[0])}" for i, c in enumerate(CASES)])
def test_explain_matches_lax_and_conv(case):
    layouts, in_spatial, kernel, c, o, g, strides, padding, dilation, mode = case
    x, w = _arrays(layouts, in_spatial, kernel, c, o, g, seed=len(str(case)))
    kwargs = dict(
        dilation=dilation,
        groups=g,
        dimension_numbers=layouts,
        padding_mode=mode,
        precision=HIGHEST,
    )
    ours = np.asarray(jaxconv.conv(x, w, strides, padding, **kwargs))
    ref_pad = padding
    if mode != "zeros":
        ref_pad = _resolve_pads(padding, in_spatial, kernel, strides, dilation)
    ref, _ = _reference(x, w, layouts, strides, ref_pad, dilation, g, mode)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)
    if ref.size == 0:
        return
    rng = np.random.default_rng(7)
    picks = {tuple(int(rng.integers(0, s)) for s in ref.shape) for _ in range(6)}
    picks.add(tuple(s - 1 for s in ref.shape))
    picks.add((0,) * ref.ndim)
    for index in sorted(picks):
        e = jaxconv.explain(x, w, index, strides, padding, **kwargs)
        assert e.index == index
        np.testing.assert_allclose(e.value, ref[index], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(e.value, ours[index], rtol=1e-5, atol=1e-5)
        assert e.patch.shape == e.weights.shape == e.input_indices.shape
        np.testing.assert_allclose(np.sum(e.patch * e.weights), e.value, rtol=1e-5, atol=1e-5)
        got = eval(e.numpy_expression, {"np": np, "x": x, "w": w})
        np.testing.assert_allclose(got, e.value, rtol=1e-5, atol=1e-5)
        # Each non-padding patch value is x at its input coordinates; padding is the
        # padded value (zeros for 'zeros').
        for pos in np.ndindex(*e.patch.shape):
            src = e.input_indices[pos]
            if src is None:
                if mode == "zeros":
                    assert e.patch[pos] == 0
            else:
                assert len(src) == x.ndim
                assert e.patch[pos] == x[src]
        # The weights are the kernel with its O axis at the output feature.
        o_feature = index[layouts[2].index("C")]
        np.testing.assert_array_equal(e.weights, np.take(w, o_feature, axis=layouts[1].index("O")))


def test_by_hand_ones():
    """A worked case: all-ones 3x3 kernel on 1..16, SAME zero padding at a corner."""
    x = np.arange(1.0, 17.0).reshape(1, 4, 4, 1)
    w = np.ones((3, 3, 1, 1))
    e = jaxconv.explain(x, w, (0, 0, 0, 0), padding="SAME")
    assert float(e.value) == 1 + 2 + 5 + 6
    assert e.input_indices[0, 0, 0] is None
    assert e.input_indices[1, 1, 0] == (0, 0, 0, 0)
    assert e.patch[:, :, 0].tolist() == [[0, 0, 0], [0, 1, 2], [0, 5, 6]]
    assert e.numpy_expression == (
        "np.sum(np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))[0, 0:3, 0:3, :] * w[:, :, :, 0])"
    )


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_show_padded_values(mode):
    x = np.arange(5.0).reshape(1, 5, 1)  # NWC
    w = np.ones((3, 1, 1))
    e = jaxconv.explain(x, w, (0, 0, 0), padding=1, padding_mode=mode)
    expected = {"reflect": 1.0, "replicate": 0.0, "circular": 4.0}[mode]
    assert e.patch[:, 0].tolist() == [expected, 0.0, 1.0]
    assert e.input_indices[0, 0] is None
    assert e.input_indices[1, 0] == (0, 0, 0)
    np.testing.assert_allclose(e.value, expected + 1.0)


def test_str_and_html():
    x = np.arange(16.0, dtype=np.float32).reshape(1, 1, 4, 4)
    w = np.ones((2, 1, 3, 3), np.float32)
    e = jaxconv.explain(x, w, (0, 1, 1, 1), dimension_numbers=("NCHW", "OIHW", "NCHW"))
    text = str(e)
    assert "np.sum(x[0, :, 1:4, 1:4] * w[1, :, :, :])" in text
    assert "value = 90" in text
    html = e._repr_html_()
    assert html.startswith("<div") and "90" in html


def test_bfloat16_and_ints():
    rng = np.random.default_rng(0)
    x = rng.integers(-5, 5, (1, 6, 6, 2)).astype(np.int32)
    w = rng.integers(-3, 3, (3, 3, 2, 3)).astype(np.int32)
    ref = np.asarray(jaxconv.conv(x, w, 2, "SAME"))
    for index in itertools.product(range(1), range(3), range(3), range(3)):
        e = jaxconv.explain(x, w, index, 2, "SAME")
        assert e.value == ref[index]
    xb = jax.numpy.asarray(x, jax.numpy.bfloat16)
    wb = jax.numpy.asarray(w, jax.numpy.bfloat16)
    e = jaxconv.explain(xb, wb, (0, 1, 1, 2), 2, "SAME")
    assert e.value.dtype == jax.numpy.bfloat16
    np.testing.assert_allclose(float(e.value), float(ref[0, 1, 1, 2]))


def test_index_errors():
    x = np.zeros((1, 5, 5, 2), np.float32)
    w = np.zeros((3, 3, 2, 4), np.float32)
    with pytest.raises(IndexError, match=r"`index`.*axis 1 \('H'\) has size 3"):
        jaxconv.explain(x, w, (0, 3, 0, 0))
    with pytest.raises(IndexError, match="`index`"):
        jaxconv.explain(x, w, (0, 0, 0, -5))
    with pytest.raises(ValueError, match="`index` must give one int per output axis"):
        jaxconv.explain(x, w, (0, 0, 0))
    with pytest.raises(TypeError, match="`index`"):
        jaxconv.explain(x, w, (0, 0, 0, 0.5))
    with pytest.raises(ValueError, match="group"):
        jaxconv.explain(x, w, (0, 0, 0, 0), groups=2)
    e = jaxconv.explain(x, w, (0, -1, -1, -1))
    assert e.index == (0, 2, 2, 3)


def _cli(argv):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(argv)
    return rc, buf.getvalue()


def test_cli_keras_example():
    rc, out = _cli(["explain", "--keras-example"])
    assert rc == 0
    assert "np.sum(x[0:3, 0:3] * w[:, :, 0, 0]) + b[0]" in out
    assert "channels_first" in out and "channels_last" in out
    assert "flip" in out
    assert "MISMATCH" not in out


def test_cli_normal_call(tmp_path):
    argv = (
        "explain --layout NCHW --kernel-layout OIHW --input-shape 1,2,6,6 --kernel-shape 4,1,3,3"
        " --groups 2 --strides 2 --padding SAME --padding-mode reflect --index 0,3,1,2 --seed 3"
    )
    rc, out = _cli(argv.split())
    assert rc == 0
    assert "out[0, 3, 1, 2]" in out and "mode='reflect'" in out
    x = np.arange(2 * 5 * 5 * 3, dtype=np.float32).reshape(2, 5, 5, 3)
    w = np.ones((3, 3, 3, 2), np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", w)
    files = ["--x", str(tmp_path / "x.npy"), "--w", str(tmp_path / "w.npy")]
    rc, out = _cli(["explain", *files, "--index", "1,0,0,1"])
    assert rc == 0
    e = jaxconv.explain(x, w, (1, 0, 0, 1))
    assert e.numpy_expression in out
    np.testing.assert_allclose(
        float(e.value), float(np.asarray(jaxconv.conv(x, w, precision=HIGHEST))[1, 0, 0, 1])
    )
