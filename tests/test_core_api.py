"""The friendly forms (conv, conv2d, conv_transpose, extract_patches) and the layout helpers."""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import (
    HIGHEST,
    assert_close,
    conv_plan,
    jitted,
    random_array,
    random_conv_operands,
    spatial_letters,
)
from jax import lax

import jaxconv
from jaxconv import _strategies

NHWC = ("NHWC", "HWIO", "NHWC")
conv = jitted(jaxconv.conv)
conv2d = jitted(jaxconv.conv2d)
conv_general_dilated = jitted(jaxconv.conv_general_dilated)
conv_transpose = jitted(jaxconv.conv_transpose)
extract_patches = jitted(jaxconv.extract_patches)


def _lax(x, w, strides, padding, dn, **kw):
    return lax.conv_general_dilated(
        x, w, strides, padding, dimension_numbers=dn, precision=HIGHEST, **kw
    )


def _skip_unless_accepts(strategy, x, w, strides, padding, groups, dn=NHWC):
    """For a strategy that cannot run these shapes, check that it says so and return True."""
    if strategy == "auto":
        return False
    plan = conv_plan(x.shape, w.shape, dn, strides, padding, feature_group_count=groups)
    if _strategies.accepts(strategy, plan):
        return False
    with pytest.raises(ValueError, match="cannot compute"):
        conv(x, w, strides, padding, groups=groups, dimension_numbers=dn, strategy=strategy)
    return True


# --- conv / conv2d ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "strides, padding, dilation, lax_strides, lax_padding, lax_dilation",
    [
        (1, "VALID", 1, (1, 1), "VALID", (1, 1)),
        (2, "same", 1, (2, 2), "SAME", (1, 1)),
        ((1, 2), "Same_Lower", (2, 1), (1, 2), "SAME_LOWER", (2, 1)),
        (1, 2, 1, (1, 1), ((2, 2), (2, 2)), (1, 1)),
        ((2, 1), (1, 0), 2, (2, 1), ((1, 1), (0, 0)), (2, 2)),
        (1, ((1, 2), (0, -1)), 1, (1, 1), ((1, 2), (0, -1)), (1, 1)),
    ],
    ids=str,
)
def test_conv2d_argument_forms(strides, padding, dilation, lax_strides, lax_padding, lax_dilation):
    rng = np.random.default_rng(1)
    x, w = random_array(rng, (2, 7, 8, 4)), random_array(rng, (3, 2, 4, 5))
    expected = _lax(x, w, lax_strides, lax_padding, NHWC, rhs_dilation=lax_dilation)
    kw = dict(dilation=dilation, precision=HIGHEST)
    assert_close(conv2d(x, w, strides, padding, **kw), expected)
    assert_close(conv(x, w, strides, padding, **kw), expected)


@pytest.mark.parametrize("num_spatial", [1, 2, 3])
def test_conv_default_layout_is_channels_last_with_groups(num_spatial):
    rng = np.random.default_rng(num_spatial)
    s = spatial_letters(num_spatial)
    dn = ("N" + s + "C", s + "IO", "N" + s + "C")
    x, w = random_conv_operands(
        rng,
        dn,
        batch=2,
        in_features=6,
        out_features=4,
        in_spatial=(5, 6, 4)[:num_spatial],
        kernel=(3, 2, 2)[:num_spatial],
        feature_group_count=2,
    )
    expected = _lax(x, w, (2,) * num_spatial, "SAME", dn, feature_group_count=2)
    assert_close(conv(x, w, 2, "SAME", groups=2, precision=HIGHEST), expected)


def test_conv2d_with_channels_first_dimension_numbers():
    rng = np.random.default_rng(3)
    dn = ("NCHW", "OIHW", "NCHW")
    x, w = random_array(rng, (2, 4, 6, 7)), random_array(rng, (6, 2, 3, 3))
    expected = _lax(x, w, (1, 2), "SAME", dn, feature_group_count=2)
    got = conv2d(x, w, (1, 2), "SAME", groups=2, dimension_numbers=dn, precision=HIGHEST)
    assert_close(got, expected)
    dnums = jaxconv.conv_dimension_numbers(4, dn)
    got = conv2d(x, w, (1, 2), "SAME", groups=2, dimension_numbers=dnums, precision=HIGHEST)
    assert_close(got, expected)


# --- padding modes against numpy.pad followed by a VALID convolution ----------------------------

NUMPY_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@pytest.mark.parametrize("mode", list(NUMPY_MODE))
@pytest.mark.parametrize(
    "padding, pairs",
    [
        (1, ((1, 1), (1, 1))),
        ((2, 1), ((2, 2), (1, 1))),
        (((1, 3), (0, 2)), ((1, 3), (0, 2))),
        ("SAME", ((1, 1), (0, 1))),  # kernel (3, 2)
    ],
    ids=str,
)
def test_padding_modes_against_numpy_pad(mode, padding, pairs):
    rng = np.random.default_rng(5)
    x, w = random_array(rng, (2, 5, 6, 3)), random_array(rng, (3, 2, 3, 4))
    padded = np.pad(x, ((0, 0), *pairs, (0, 0)), mode=NUMPY_MODE[mode])
    expected = _lax(padded, w, (1, 1), "VALID", NHWC)
    got = conv(x, w, 1, padding, padding_mode=mode, precision=HIGHEST)
    assert_close(got, expected)


@pytest.mark.parametrize("mode", list(NUMPY_MODE))
def test_padding_modes_1d_and_3d_channels_first(mode):
    rng = np.random.default_rng(6)
    x1, w1 = random_array(rng, (2, 3, 7)), random_array(rng, (4, 3, 3))
    dn1 = ("NCW", "OIW", "NCW")
    padded = np.pad(x1, ((0, 0), (0, 0), (2, 1)), mode=NUMPY_MODE[mode])
    got = conv(x1, w1, 2, ((2, 1),), dimension_numbers=dn1, padding_mode=mode, precision=HIGHEST)
    assert_close(got, _lax(padded, w1, (2,), "VALID", dn1))
    x3, w3 = random_array(rng, (1, 2, 4, 5, 3)), random_array(rng, (3, 2, 2, 3, 2))
    dn3 = ("NCDHW", "OIDHW", "NCDHW")
    padded = np.pad(x3, ((0, 0), (0, 0), (1, 1), (2, 2), (1, 1)), mode=NUMPY_MODE[mode])
    got = conv(x3, w3, 1, (1, 2, 1), dimension_numbers=dn3, padding_mode=mode, precision=HIGHEST)
    assert_close(got, _lax(padded, w3, (1, 1, 1), "VALID", dn3))


def test_padding_mode_zeros_is_lax():
    rng = np.random.default_rng(7)
    x, w = random_array(rng, (1, 5, 5, 2)), random_array(rng, (3, 3, 2, 2))
    got = conv(x, w, 1, 1, padding_mode="zeros", precision=HIGHEST)
    assert_close(got, _lax(x, w, (1, 1), ((1, 1), (1, 1)), NHWC))


# --- conv_transpose against lax.conv_transpose --------------------------------------------------


def _transpose_cases():
    rng = np.random.default_rng(31)
    cases = []
    for num_spatial, kind, padding, transpose_kernel, consistent in itertools.product(
        (1, 2, 3), ("last", "first"), ("SAME", "VALID", "pairs"), (False, True), (False, True)
    ):
        if consistent and padding != "pairs":
            continue
        if num_spatial == 3 and rng.random() < 0.6:
            continue  # 3-d is slow to compile: keep a sample
        cases.append(
            (num_spatial, kind, padding, transpose_kernel, consistent, int(rng.integers(1e6)))
        )
    return cases


@pytest.mark.parametrize(
    "num_spatial, kind, padding, transpose_kernel, consistent, seed", _transpose_cases(), ids=str
)
def test_conv_transpose_against_lax(num_spatial, kind, padding, transpose_kernel, consistent, seed):
    rng = np.random.default_rng(seed)
    s = spatial_letters(num_spatial)
    if kind == "last":
        dn = ("N" + s + "C", s + "IO", "N" + s + "C")
    else:
        dn = ("NC" + s, "OI" + s[::-1], "N" + s + "C")
    spatial = [c for c in dn[1] if c not in "OI"]
    in_spatial = [int(rng.integers(3, 6 if num_spatial < 3 else 4)) for _ in s]
    kernel = [int(rng.integers(1, 4 if num_spatial < 3 else 3)) for _ in s]
    strides = tuple(int(rng.integers(1, 4)) for _ in s)
    rhs_dilation = tuple(int(rng.integers(1, 3)) for _ in s)
    if padding == "pairs":
        padding = tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in s)
    c, o = 3, 2
    # With transpose_kernel the kernel's I and O axes are swapped before use.
    ki, ko = (o, c) if transpose_kernel else (c, o)
    x = random_array(
        rng, [dict(N=2, C=c, **dict(zip(spatial, in_spatial, strict=True)))[a] for a in dn[0]]
    )
    w = random_array(
        rng, [dict(O=ko, I=ki, **dict(zip(spatial, kernel, strict=True)))[a] for a in dn[1]]
    )
    kw = dict(
        rhs_dilation=rhs_dilation,
        dimension_numbers=dn,
        transpose_kernel=transpose_kernel,
        precision=HIGHEST,
        use_consistent_padding=consistent,
    )
    expected = lax.conv_transpose(x, w, strides, padding, **kw)
    assert_close(conv_transpose(x, w, strides, padding, **kw), expected)


def test_conv_transpose_default_layout_and_shapes():
    rng = np.random.default_rng(8)
    x, w = random_array(rng, (1, 4, 5, 2)), random_array(rng, (3, 3, 2, 3))
    for padding, shape in (("SAME", (1, 8, 10, 3)), ("VALID", (1, 9, 11, 3))):
        got = conv_transpose(x, w, (2, 2), padding, precision=HIGHEST)
        assert got.shape == shape
        assert_close(got, lax.conv_transpose(x, w, (2, 2), padding, precision=HIGHEST))


# --- extract_patches ----------------------------------------------------------------------------

PATCH_CASES = [
    ((3, 2), (1, 1), "VALID", (1, 1)),
    ((3, 2), (2, 1), "SAME", (1, 2)),
    ((2, 3), (1, 2), ((1, 2), (0, 1)), (2, 1)),
    ((3, 3), (2, 2), ((-1, 1), (2, -1)), (1, 1)),
]


@pytest.mark.parametrize("kernel, strides, padding, dilation", PATCH_CASES, ids=str)
def test_extract_patches_channels_last_contracts_with_hwio(kernel, strides, padding, dilation):
    rng = np.random.default_rng(9)
    x, w = random_array(rng, (2, 6, 7, 3)), random_array(rng, (*kernel, 3, 4))
    p = extract_patches(x, kernel, strides, padding, dilation=dilation)
    got = jnp.einsum("nhwk,ko->nhwo", p, w.reshape(-1, 4), precision=HIGHEST)
    expected = _lax(x, w, strides, padding, NHWC, rhs_dilation=dilation)
    assert_close(got, expected)


@pytest.mark.parametrize("kernel, strides, padding, dilation", PATCH_CASES, ids=str)
def test_extract_patches_channels_first_is_unfold_and_lax_patches(
    kernel, strides, padding, dilation
):
    rng = np.random.default_rng(10)
    x, w = random_array(rng, (2, 3, 6, 7)), random_array(rng, (4, 3, *kernel))
    p = extract_patches(x, kernel, strides, padding, dilation=dilation, dimension_numbers="NCHW")
    # lax's patches are channel-major too: (C, kh, kw) flattened.
    lax_patches = lax.conv_general_dilated_patches(
        x, kernel, strides, padding, rhs_dilation=dilation, precision=HIGHEST
    )
    assert_close(p, lax_patches)
    unfolded = p.reshape(p.shape[0], p.shape[1], -1)  # (N, C*kh*kw, L), torch's unfold
    got = jnp.einsum("ok,nkl->nol", w.reshape(4, -1), unfolded, precision=HIGHEST)
    expected = _lax(x, w, strides, padding, ("NCHW", "OIHW", "NCHW"), rhs_dilation=dilation)
    assert_close(got.reshape(expected.shape), expected)


@pytest.mark.parametrize("num_spatial", [1, 3])
def test_extract_patches_other_ranks_match_lax_patches(num_spatial):
    rng = np.random.default_rng(11)
    s = spatial_letters(num_spatial)
    kernel, strides = (2, 3, 2)[:num_spatial], (1, 2, 1)[:num_spatial]
    x = random_array(rng, (2, 2, *(5, 6, 4)[:num_spatial]))
    p = extract_patches(x, kernel, strides, "SAME", dimension_numbers="NC" + s)
    assert_close(p, lax.conv_general_dilated_patches(x, kernel, strides, "SAME", precision=HIGHEST))
    # Channels-last: the same values, the window before the channel.
    xl = jaxconv.convert_layout(x, "NC" + s, "N" + s + "C")
    pl = extract_patches(xl, kernel, strides, "SAME")
    k = int(np.prod(kernel))
    as_last = jaxconv.convert_layout(p, "NC" + s, "N" + s + "C")
    as_last = as_last.reshape(*as_last.shape[:-1], 2, k)
    np.testing.assert_array_equal(pl, np.swapaxes(np.asarray(as_last), -1, -2).reshape(pl.shape))


def test_extract_patches_by_hand():
    x = jnp.arange(12.0).reshape(1, 3, 4, 1)  # rows [0 1 2 3], [4 5 6 7], [8 9 10 11]
    p = extract_patches(x, (2, 2), strides=(1, 2))
    np.testing.assert_array_equal(
        p[0, :, :, :],
        [[[0, 1, 4, 5], [2, 3, 6, 7]], [[4, 5, 8, 9], [6, 7, 10, 11]]],
    )
    # Two channels, channels-first: the channel is the major index of the patch.
    x2 = jnp.stack([jnp.arange(4.0), 10 + jnp.arange(4.0)]).reshape(1, 2, 1, 4)
    p2 = extract_patches(x2, (1, 2), strides=(1, 2), dimension_numbers="NCHW")
    np.testing.assert_array_equal(p2[0, :, 0, :].T, [[0, 1, 10, 11], [2, 3, 12, 13]])
    p3 = extract_patches(jaxconv.convert_layout(x2, "NCHW", "NHWC"), (1, 2), strides=(1, 2))
    np.testing.assert_array_equal(p3[0, 0], [[0, 10, 1, 11], [2, 12, 3, 13]])


def test_extract_patches_padding_mode():
    rng = np.random.default_rng(12)
    x = random_array(rng, (1, 4, 5, 2))
    for mode, np_mode in NUMPY_MODE.items():
        p = extract_patches(x, 3, padding=1, padding_mode=mode)
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode=np_mode)
        np.testing.assert_array_equal(p, extract_patches(padded, 3))


# --- layouts ------------------------------------------------------------------------------------


def test_convert_layout_and_kernel():
    rng = np.random.default_rng(13)
    x = random_array(rng, (2, 3, 4, 5))
    np.testing.assert_array_equal(
        jaxconv.convert_layout(x, "NCHW", "NHWC"), x.transpose(0, 2, 3, 1)
    )
    np.testing.assert_array_equal(
        jaxconv.convert_layout(x, "NCHW", "CWNH"), x.transpose(1, 3, 0, 2)
    )
    back = jaxconv.convert_layout(jaxconv.convert_layout(x, "NCHW", "HNWC"), "HNWC", "NCHW")
    np.testing.assert_array_equal(back, x)
    w = random_array(rng, (8, 3, 5, 4))  # OIHW
    np.testing.assert_array_equal(
        jaxconv.convert_kernel(w, "OIHW", "HWIO"), w.transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(
        jaxconv.convert_kernel(w, "OIHW", "IOHW"), w.transpose(1, 0, 2, 3)
    )
    flipped = jaxconv.convert_kernel(w, "OIHW", "HWIO", flip=True)
    np.testing.assert_array_equal(flipped, w.transpose(2, 3, 1, 0)[::-1, ::-1])


def test_convert_kernel_flip_turns_true_convolution_into_cross_correlation():
    rng = np.random.default_rng(14)
    x = random_array(rng, (6, 7)).astype(np.float64)
    k = random_array(rng, (3, 2)).astype(np.float64)  # a true convolution's kernel (Theano's)
    # numpy: the full true 2-d convolution, by its definition sum_ij x[a-i, b-j] k[i, j].
    full = np.zeros((6 + 3 - 1, 7 + 2 - 1))
    for i, j in itertools.product(range(3), range(2)):
        full[i : i + 6, j : j + 7] += k[i, j] * x
    valid_true_conv = full[2:6, 1:7]
    w = jaxconv.convert_kernel(k[None, None], "OIHW", "HWIO", flip=True)
    got = conv(x[None, :, :, None].astype(np.float32), w.astype(np.float32), precision=HIGHEST)
    np.testing.assert_allclose(got[0, :, :, 0], valid_true_conv, rtol=1e-5, atol=1e-5)
    # flip twice is the identity
    twice = jaxconv.convert_kernel(w, "HWIO", "OIHW", flip=True)
    np.testing.assert_array_equal(twice, k[None, None])


@pytest.mark.parametrize(
    "dn",
    [
        ("NCHW", "OIHW", "NCHW"),
        ("NHWC", "HWIO", "NHWC"),
        ("NHWC", "OIHW", "NCHW"),
        ("CHWN", "WHOI", "HNCW"),
        ("NWC", "WIO", "NWC"),
        ("NCDHW", "DHWIO", "NDHWC"),
        ("NCHW", "OIWH", "NCHW"),
    ],
    ids="-".join,
)
def test_dimension_numbers_parse_like_lax(dn):
    ndim = len(dn[0])
    ours = jaxconv.conv_dimension_numbers(ndim, dn)
    theirs = lax.conv_dimension_numbers((1,) * ndim, (1,) * ndim, dn)
    assert isinstance(ours, jaxconv.DimensionNumbers)
    assert tuple(ours) == tuple(tuple(s) for s in theirs)
    assert hash(ours) == hash(jaxconv.conv_dimension_numbers(ndim, dn))
    # A lax.ConvDimensionNumbers and a list of strings are taken as well.
    assert jaxconv.conv_dimension_numbers(ndim, theirs) == ours
    assert jaxconv.conv_dimension_numbers(ndim, list(dn)) == ours
    # to_strings gives strings that parse back to the same numbers.
    assert jaxconv.conv_dimension_numbers(ndim, ours.to_strings()) == ours


def test_default_dimension_numbers():
    assert jaxconv.conv_dimension_numbers(4, None).to_strings() == ("NCHW", "OIHW", "NCHW")
    last = jaxconv.conv_dimension_numbers(5, None, default="channels_last")
    assert last.to_strings() == ("NDHWC", "DHWIO", "NDHWC")


def test_lax_conv_dimension_numbers_accepted_by_conv_general_dilated():
    rng = np.random.default_rng(15)
    dn = ("NHWC", "OIHW", "NCHW")
    x, w = random_conv_operands(
        rng, dn, batch=2, in_features=3, out_features=4, in_spatial=(5, 6), kernel=(2, 3)
    )
    lax_dn = lax.conv_dimension_numbers(x.shape, w.shape, dn)
    got = conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=lax_dn, precision=HIGHEST)
    assert_close(got, _lax(x, w, (1, 1), "SAME", dn))
    # lax's default (None) is NCHW/OIHW/NCHW for conv_general_dilated.
    xc, wc = random_array(rng, (2, 3, 5, 6)), random_array(rng, (4, 3, 2, 2))
    got = conv_general_dilated(xc, wc, (1, 1), "VALID", precision=HIGHEST)
    assert_close(got, lax.conv_general_dilated(xc, wc, (1, 1), "VALID", precision=HIGHEST))


# --- cases worked by hand -----------------------------------------------------------------------

ROUNDING = {"fft"}
"""Strategies whose sums are rounded even on small integers (transforms, not products)."""


def assert_by_hand(actual, expected, strategy):
    """Exactly equal, or for a rounding strategy equal to float32's rounding of a transform."""
    if strategy in ROUNDING:
        np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5)
    else:
        np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("strategy", ["auto", *jaxconv.STRATEGIES])
def test_all_ones_by_hand(strategy):
    expected = np.full((5, 5), 9.0)
    expected[0, :] = expected[-1, :] = expected[:, 0] = expected[:, -1] = 6.0
    expected[0, 0] = expected[0, -1] = expected[-1, 0] = expected[-1, -1] = 4.0
    ran = 0
    # one channel, and a depthwise pair of channels
    for channels, groups in ((1, 1), (2, 2)):
        x, w = jnp.ones((1, 5, 5, channels)), jnp.ones((3, 3, 1, channels))
        if _skip_unless_accepts(strategy, x, w, (1, 1), "SAME", groups):
            continue
        y = conv(x, w, padding="SAME", groups=groups, strategy=strategy)
        for c in range(channels):
            assert_by_hand(y[0, :, :, c], expected, strategy)
        ran += 1
    if strategy in ("auto", "im2col", "taps", "depthwise"):
        assert ran


@pytest.mark.parametrize("strategy", ["auto", *jaxconv.STRATEGIES])
def test_input_dilation_by_hand(strategy):
    # input dilation 2 (zeros between): [1, 0, 2, 0, 3, 0, 4] * [1, 10] -> [1, 20, 2, 30, 3, 40]
    x = jnp.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1)
    w = jnp.array([1.0, 10.0]).reshape(2, 1, 1)
    dn = ("NWC", "WIO", "NWC")
    kw = dict(lhs_dilation=(2,), dimension_numbers=dn, strategy=strategy)
    plan = conv_plan(x.shape, w.shape, dn, (1,), ((0, 0),), lhs_dilation=(2,))
    if strategy != "auto" and not _strategies.accepts(strategy, plan):
        with pytest.raises(ValueError, match="cannot compute"):
            conv_general_dilated(x, w, (1,), ((0, 0),), **kw)
        return
    y = conv_general_dilated(x, w, (1,), ((0, 0),), **kw)
    assert_by_hand(y[0, :, 0], [1.0, 20.0, 2.0, 30.0, 3.0, 40.0], strategy)
    # with one zero of padding at each end and stride 2: [0, 1, 0, 2, 0, 3, 0, 4, 0]
    plan = conv_plan(x.shape, w.shape, dn, (2,), ((1, 1),), lhs_dilation=(2,))
    if strategy != "auto" and not _strategies.accepts(strategy, plan):
        with pytest.raises(ValueError, match="cannot compute"):
            conv_general_dilated(x, w, (2,), ((1, 1),), **kw)
        return
    y = conv_general_dilated(x, w, (2,), ((1, 1),), **kw)
    assert_by_hand(y[0, :, 0], [10.0, 20.0, 30.0, 40.0], strategy)


def test_small_values_by_hand():
    # 1-d: x = [1, 2, 3, 4], w = [1, 10]: cross-correlation, not flipped.
    x = jnp.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 4, 1)
    w = jnp.array([1.0, 10.0]).reshape(2, 1, 1)
    np.testing.assert_array_equal(conv(x, w)[0, :, 0], [21.0, 32.0, 43.0])
    # stride 2, SAME: out = ceil(4 / 2) = 2, total pad 0 -> windows [1, 2] and [3, 4]
    np.testing.assert_array_equal(conv(x, w, 2, "SAME")[0, :, 0], [21.0, 43.0])
    # kernel dilation 2: x[i] + 10 x[i + 2]
    np.testing.assert_array_equal(conv(x, w, dilation=2)[0, :, 0], [31.0, 42.0])
    # SAME vs SAME_LOWER with an even kernel: pad (0, 1) vs (1, 0)
    np.testing.assert_array_equal(conv(x, w, 1, "SAME")[0, :, 0], [21.0, 32.0, 43.0, 4.0])
    np.testing.assert_array_equal(conv(x, w, 1, "SAME_LOWER")[0, :, 0], [10.0, 21.0, 32.0, 43.0])


# --- empty shapes, NaN and Inf ------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["auto", *jaxconv.STRATEGIES])
@pytest.mark.parametrize(
    "x_shape, w_shape, padding",
    [
        ((0, 6, 7, 4), (3, 3, 1, 4), "SAME"),  # empty batch
        ((2, 4, 5, 4), (6, 3, 1, 4), "VALID"),  # kernel larger than the input
        ((2, 0, 5, 4), (2, 2, 1, 4), "SAME"),  # an empty spatial dim
        ((2, 4, 5, 4), (2, 2, 1, 0), "SAME"),  # no output features
    ],
    ids=str,
)
def test_empty_shapes_match_lax(x_shape, w_shape, padding, strategy):
    rng = np.random.default_rng(16)
    x, w = random_array(rng, x_shape), random_array(rng, w_shape)
    groups = 4  # depthwise-shaped, so that the depthwise strategy takes it too
    expected = _lax(x, w, (1, 1), padding, NHWC, feature_group_count=groups)
    if 0 < x_shape[1] < w_shape[0]:
        # A window larger than the input: conv refuses (the layout doctor explains),
        # conv_general_dilated returns lax's empty output and warns.
        with pytest.raises(ValueError, match="the output would be empty"):
            conv(x, w, 1, padding, groups=groups, strategy=strategy)
        plan = conv_plan(x.shape, w.shape, NHWC, (1, 1), padding, feature_group_count=groups)
        if strategy != "auto" and not _strategies.accepts(strategy, plan):
            return
        with pytest.warns(UserWarning, match="the output is empty"):
            got = jaxconv.conv_general_dilated(
                x, w, (1, 1), padding, dimension_numbers=NHWC, feature_group_count=groups,
                precision=HIGHEST, strategy=strategy,
            )  # fmt: skip
        assert got.shape == expected.shape
        assert_close(got, expected)
        return
    if _skip_unless_accepts(strategy, x, w, (1, 1), padding, groups):
        return
    got = conv(x, w, 1, padding, groups=groups, precision=HIGHEST, strategy=strategy)
    assert got.shape == expected.shape
    assert_close(got, expected)


@pytest.mark.parametrize("strategy", ["auto", *jaxconv.STRATEGIES])
def test_nan_and_inf_propagate_like_lax(strategy):
    rng = np.random.default_rng(17)
    x, w = random_array(rng, (2, 6, 7, 4)), random_array(rng, (3, 3, 1, 8))
    x[0, 2, 3, 1] = np.nan
    x[1, 4, 4, 0] = np.inf
    x[1, 0, 0, 2] = -np.inf
    w[1, 1, 0, 5] = np.inf
    for strides, padding in (((1, 1), "SAME"), ((2, 2), ((-1, 0), (0, -2)))):
        if _skip_unless_accepts(strategy, x, w, strides, padding, 4):
            continue
        expected = _lax(x, w, strides, padding, NHWC, feature_group_count=4)
        got = conv(x, w, strides, padding, groups=4, precision=HIGHEST, strategy=strategy)
        if strategy in ROUNDING:
            # A transform mixes every position: a NaN or Inf reaches all of its channel's
            # outputs (as documented), a superset of lax's.
            bad = ~np.isfinite(np.asarray(expected))
            assert np.isnan(np.asarray(got))[bad].all()
            continue
        assert_close(got, expected)  # assert_allclose compares NaN and Inf positions too
        assert np.isnan(np.asarray(expected)).any() and np.isinf(np.asarray(expected)).any()
