"""Every bad input raises TypeError or ValueError at trace time, eager and under jit."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxconv

X = np.ones((2, 6, 7, 4), np.float32)  # NHWC
W = np.ones((3, 3, 4, 6), np.float32)  # HWIO
NHWC = ("NHWC", "HWIO", "NHWC")


def cg(x, w, strides=(1, 1), padding="VALID", **kw):
    kw.setdefault("dimension_numbers", NHWC)
    return jaxconv.conv_general_dilated(x, w, strides, padding, **kw)


# (name, function of (x, w), x, w, exception, message pattern)
CASES = [
    ("rank_too_low", cg, X[0, 0], W[0, 0], ValueError, r"rank >= 3.*got rank 2"),
    ("rank_mismatch", cg, X, W[0], ValueError, r"same rank.*\(2, 6, 7, 4\).*\(3, 4, 6\)"),
    ("rank_vs_layout", cg, X[0], W[0], ValueError, r"'NHWC' has 4 letters.*rank 3"),
    ("conv2d_rank", lambda x, w: jaxconv.conv2d(x, w), X[0], W[0], ValueError, r"rank-4 `x`"),
    ("channels", cg, X, W[:, :, :3], ValueError, r"input features of `lhs` \(=4.*\(=3"),
    (
        "groups_divide_channels",
        lambda x, w: cg(x, w, feature_group_count=3),
        X,
        W[:, :, :1],
        ValueError,
        r"`feature_group_count` \(=3\) must divide the input features \(=4\)",
    ),
    (
        "groups_divide_out",
        lambda x, w: cg(x, w, feature_group_count=2),
        X,
        W[:, :, :2, :5],
        ValueError,
        r"`feature_group_count` \(=2\) must divide the kernel's output features \(=5",
    ),
    (
        "conv_groups_named",
        lambda x, w: jaxconv.conv(x, w, groups=3),
        X,
        W[:, :, :1],
        ValueError,
        r"`groups` \(=3\) must divide",
    ),
    ("groups_zero", lambda x, w: cg(x, w, feature_group_count=0), X, W, ValueError, r"positive"),
    (
        "batch_groups",
        lambda x, w: cg(x, w, batch_group_count=4),
        X,
        W[..., :4],
        ValueError,
        r"`batch_group_count` \(=4\) must divide the batch \(=2\)",
    ),
    ("stride_zero", lambda x, w: cg(x, w, (0, 1)), X, W, ValueError, r"`window_strides`.*>= 1"),
    ("stride_count", lambda x, w: cg(x, w, (1,)), X, W, ValueError, r"`window_strides`.*\(2\)"),
    ("stride_kind", lambda x, w: cg(x, w, (1.5, 1)), X, W, TypeError, r"`window_strides`.*ints"),
    (
        "conv_strides_count",
        lambda x, w: jaxconv.conv(x, w, strides=(1, 2, 3)),
        X,
        W,
        ValueError,
        r"`strides` must give one value per spatial dimension \(2\), got 3",
    ),
    (
        "rhs_dilation_zero",
        lambda x, w: cg(x, w, rhs_dilation=(1, 0)),
        X,
        W,
        ValueError,
        r"`rhs_dilation` must be >= 1",
    ),
    (
        "lhs_dilation_negative",
        lambda x, w: cg(x, w, padding=((0, 0), (0, 0)), lhs_dilation=(1, -1)),
        X,
        W,
        ValueError,
        r"`lhs_dilation` must be >= 1",
    ),
    (
        "conv_dilation_count",
        lambda x, w: jaxconv.conv(x, w, dilation=(1, 1, 1)),
        X,
        W,
        ValueError,
        r"`dilation` must give one value",
    ),
    ("padding_word", lambda x, w: cg(x, w, padding="FULL"), X, W, ValueError, r"`padding`.*'FULL'"),
    (
        "padding_pair_count",
        lambda x, w: cg(x, w, padding=[(1, 1)]),
        X,
        W,
        ValueError,
        r"`padding` must give one entry per spatial dimension \(2\), got 1",
    ),
    (
        "padding_not_pair",
        lambda x, w: cg(x, w, padding=[(1, 1, 1), (1, 1)]),
        X,
        W,
        ValueError,
        r"`padding` entries must be \(low, high\) pairs",
    ),
    ("padding_kind", lambda x, w: cg(x, w, padding=None), X, W, TypeError, r"`padding`.*None"),
    (
        "padding_too_negative",
        lambda x, w: cg(x, w, padding=[(-4, -4), (0, 0)]),
        X,
        W,
        ValueError,
        r"negative `padding`",
    ),
    (
        "padding_mode",
        lambda x, w: jaxconv.conv(x, w, padding=1, padding_mode="mirror"),
        X,
        W,
        ValueError,
        r"`padding_mode`.*'mirror'",
    ),
    (
        "reflect_as_large_as_input",
        lambda x, w: jaxconv.conv(x, w, padding=((6, 0), (0, 0)), padding_mode="reflect"),
        X,
        W,
        ValueError,
        r"`padding_mode='reflect'`.*\(6, 0\).*size 6",
    ),
    (
        "layout_repeated",
        lambda x, w: cg(x, w, dimension_numbers=("NHHC", "HWIO", "NHWC")),
        X,
        W,
        TypeError,
        r"'NHHC' repeats the letter\(s\) 'H'",
    ),
    (
        "layout_unknown",
        lambda x, w: cg(x, w, dimension_numbers=("NHXC", "HWIO", "NHWC")),
        X,
        W,
        TypeError,
        r"same spatial letters",
    ),
    (
        "layout_non_letter",
        lambda x, w: cg(x, w, dimension_numbers=("NH1C", "H1IO", "NH1C")),
        X,
        W,
        TypeError,
        r"non-letter",
    ),
    (
        "layout_missing",
        lambda x, w: cg(x, w, dimension_numbers=("NHWZ", "HWIO", "NHWC")),
        X,
        W,
        TypeError,
        r"'NHWZ' is missing the letter\(s\) 'C'",
    ),
    (
        "layout_kernel_missing",
        lambda x, w: cg(x, w, dimension_numbers=("NHWC", "HWIN", "NHWC")),
        X,
        W,
        TypeError,
        r"'HWIN' is missing the letter\(s\) 'O'",
    ),
    (
        "layout_two",
        lambda x, w: cg(x, w, dimension_numbers=("NHWC", "HWIO")),
        X,
        W,
        TypeError,
        r"`dimension_numbers` must be None, three layout strings",
    ),
    (
        "layout_four",
        lambda x, w: cg(x, w, dimension_numbers=("NHWC",) * 4),
        X,
        W,
        TypeError,
        r"`dimension_numbers` must be None, three layout strings",
    ),
    (
        "layout_one_string",
        lambda x, w: cg(x, w, dimension_numbers="NHWC"),
        X,
        W,
        TypeError,
        r"`dimension_numbers` must be None",
    ),
    (
        "layout_lengths",
        lambda x, w: cg(x, w, dimension_numbers=("NHWC", "HWIO", "NDHWC")),
        X,
        W,
        TypeError,
        r"same length",
    ),
    ("mixed_dtypes", cg, X, W.astype(np.float16), TypeError, r"same dtype.*float32.*float16"),
    (
        "conv_mixed_dtypes",
        lambda x, w: jaxconv.conv(x, w),
        X,
        W.astype(np.int32),
        TypeError,
        r"`x` and `w` must have the same dtype",
    ),
    ("bool_input", cg, X > 0, W > 0, TypeError, r"numeric dtype"),
    (
        "string_padding_with_input_dilation",
        lambda x, w: cg(x, w, padding="SAME", lhs_dilation=(2, 2)),
        X,
        W,
        ValueError,
        r"string `padding` \('SAME'\) cannot be combined with input dilation",
    ),
    (
        "preferred_element_type",
        lambda x, w: cg(x, w, preferred_element_type=np.int32),
        X,
        W,
        TypeError,
        r"`preferred_element_type` int32",
    ),
    ("unknown_strategy", lambda x, w: cg(x, w, strategy="cudnn"), X, W, ValueError, r"`strategy`"),
    (
        "strategy_cannot",
        lambda x, w: cg(x, w, strategy="depthwise"),
        X,
        W,
        ValueError,
        r"`strategy='depthwise'` cannot compute",
    ),
    (
        "kernel_size_zero",
        lambda x, w: jaxconv.extract_patches(x, 0),
        X,
        W,
        ValueError,
        r"`kernel_size` must be >= 1, got \(0, 0\)",
    ),
    (
        "kernel_size_one_zero",
        lambda x, w: jaxconv.extract_patches(x, (3, 0)),
        X,
        W,
        ValueError,
        r"`kernel_size` must be >= 1",
    ),
    (
        "patches_padding_mode",
        lambda x, w: jaxconv.extract_patches(x, 3, padding=1, padding_mode="foo"),
        X,
        W,
        ValueError,
        r"`padding_mode`",
    ),
    (
        "patches_reflect",
        lambda x, w: jaxconv.extract_patches(x, 3, padding=6, padding_mode="reflect"),
        X,
        W,
        ValueError,
        r"`padding_mode='reflect'`",
    ),
    (
        "transpose_padding_word",
        lambda x, w: jaxconv.conv_transpose(x, w, (2, 2), "SAME_LOWER"),
        X,
        W,
        ValueError,
        r"`padding` of conv_transpose",
    ),
    (
        "transpose_strides",
        lambda x, w: jaxconv.conv_transpose(x, w, (0, 2), "SAME"),
        X,
        W,
        ValueError,
        r"`strides` must be >= 1",
    ),
    (
        "transpose_channels",
        lambda x, w: jaxconv.conv_transpose(x, w, (2, 2), "SAME"),
        X,
        W[:, :, :3],
        ValueError,
        r"input features",
    ),
    (
        "transpose_dtypes",
        lambda x, w: jaxconv.conv_transpose(x, w, (2, 2), "SAME"),
        X,
        W.astype(np.float16),
        TypeError,
        r"same dtype",
    ),
]


@pytest.mark.parametrize("under_jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name, fn, x, w, exc, match", CASES, ids=[c[0] for c in CASES])
def test_bad_input(name, fn, x, w, exc, match, under_jit):
    call = jax.jit(fn) if under_jit else fn
    with pytest.raises(exc, match=match):
        call(x, w)


NON_ARRAYS = [
    ("lhs_list", lambda: jaxconv.conv_general_dilated(X.tolist(), W, (1, 1), "VALID"), r"`lhs`"),
    ("rhs_float", lambda: jaxconv.conv_general_dilated(X, 3.0, (1, 1), "VALID"), r"`rhs`.*float"),
    ("conv_w_list", lambda: jaxconv.conv(X, [[1.0]]), r"`w` must be an array"),
    ("patches_list", lambda: jaxconv.extract_patches([1.0, 2.0], 1), r"`x` must be an array"),
    ("transpose_list", lambda: jaxconv.conv_transpose(X.tolist(), W, (1, 1), "SAME"), r"`lhs`"),
]


@pytest.mark.parametrize("name, thunk, match", NON_ARRAYS, ids=[c[0] for c in NON_ARRAYS])
def test_non_array_input(name, thunk, match):
    with pytest.raises(TypeError, match=match):
        thunk()


def test_non_array_input_under_jit():
    # Under jit a list arrives as a list of tracers: still not an array.
    f = jax.jit(lambda xs, w: jaxconv.conv(xs, w))
    with pytest.raises(TypeError, match=r"`x` must be an array, got list"):
        f([X[0], X[1]], W)


@pytest.mark.parametrize(
    "thunk, exc, match",
    [
        (lambda: jaxconv.convert_layout(X, "NCHW", "NHWD"), TypeError, r"same letters"),
        (lambda: jaxconv.convert_layout(X, "NCHH", "NHCH"), TypeError, r"repeats a letter"),
        (lambda: jaxconv.convert_layout(X, "NCW", "NWC"), ValueError, r"rank 4"),
        (lambda: jaxconv.convert_layout(X, 3, "NHWC"), TypeError, r"`src` must be a layout"),
        (lambda: jaxconv.convert_kernel(W, "OIHW", "HWOIX"), TypeError, r"same letters"),
        (
            lambda: jaxconv.conv_dimension_numbers(4, ((0, 3, 1, 1), (3, 2, 0, 1), (0, 3, 1, 2))),
            TypeError,
            r"permutation of range\(4\)",
        ),
    ],
)
def test_layout_helper_errors(thunk, exc, match):
    with pytest.raises(exc, match=match):
        thunk()


def test_errors_are_raised_before_lowering():
    # No MLIR or verifier message: the error comes from tracing, and lowering never starts.
    f = jax.jit(lambda x, w: cg(x, w, (0, 1)))
    with pytest.raises(ValueError, match=r"`window_strides`") as info:
        f.trace(X, W)
    assert "MLIR" not in str(info.value) and "verifier" not in str(info.value)
