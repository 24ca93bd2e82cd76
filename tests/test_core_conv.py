"""jaxconv.conv_general_dilated against jax.lax.conv_general_dilated over a sampled grid."""

from __future__ import annotations

import functools
import itertools
import math
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import HIGHEST, assert_close, random_conv_operands, spatial_letters
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import lax

import jaxconv
from jaxconv import _policy, _strategies, _taps
from jaxconv._layout import conv_dimension_numbers
from jaxconv._plan import make_plan

_STATIC = (
    "window_strides",
    "padding",
    "lhs_dilation",
    "rhs_dilation",
    "dimension_numbers",
    "feature_group_count",
    "batch_group_count",
    "precision",
    "preferred_element_type",
)
# One jitted function for every case: each static configuration compiles once.
_jaxconv = jax.jit(jaxconv.conv_general_dilated, static_argnames=(*_STATIC, "strategy"))


def _hashable(padding):
    return padding if isinstance(padding, str) else tuple(tuple(p) for p in padding)


def check(
    lhs,
    rhs,
    *,
    window_strides,
    padding,
    dimension_numbers,
    lhs_dilation=None,
    rhs_dilation=None,
    feature_group_count=1,
    batch_group_count=1,
    preferred_element_type=None,
    strategy="auto",
):
    """Run jaxconv and lax on the same arguments and compare with the dtype's tolerance."""
    kw = dict(
        window_strides=tuple(window_strides),
        padding=_hashable(padding),
        lhs_dilation=None if lhs_dilation is None else tuple(lhs_dilation),
        rhs_dilation=None if rhs_dilation is None else tuple(rhs_dilation),
        dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count,
        batch_group_count=batch_group_count,
        precision=HIGHEST,
        preferred_element_type=preferred_element_type,
    )
    expected = lax.conv_general_dilated(lhs, rhs, **kw)
    actual = _jaxconv(lhs, rhs, **kw, strategy=strategy)
    assert_close(actual, expected)
    return actual


def run_case(
    seed,
    dimension_numbers,
    *,
    batch=2,
    in_features=4,
    out_features=6,
    in_spatial=(6, 7),
    kernel=(3, 2),
    dtype=np.float32,
    **conv_kw,
):
    rng = np.random.default_rng(seed)
    lhs, rhs = random_conv_operands(
        rng,
        dimension_numbers,
        batch=batch,
        in_features=in_features,
        out_features=out_features,
        in_spatial=in_spatial,
        kernel=kernel,
        feature_group_count=conv_kw.get("feature_group_count", 1),
        dtype=dtype,
    )
    return check(lhs, rhs, dimension_numbers=dimension_numbers, **conv_kw)


# --- every NHWC/NCHW x HWIO/OIHW x NHWC/NCHW combination, exhaustively, over a grid ------------

LAYOUT_COMBOS = list(itertools.product(("NHWC", "NCHW"), ("HWIO", "OIHW"), ("NHWC", "NCHW")))
GRID = [
    dict(window_strides=(1, 1), padding="VALID"),
    dict(window_strides=(2, 1), padding="SAME", rhs_dilation=(1, 2)),
    dict(window_strides=(1, 2), padding=((1, 0), (-1, 2)), lhs_dilation=(2, 1)),
    dict(window_strides=(2, 2), padding="SAME_LOWER", feature_group_count=2),
    dict(window_strides=(1, 1), padding=((2, 1), (0, 1)), batch_group_count=2),
]


@pytest.mark.parametrize("grid_index", range(len(GRID)))
@pytest.mark.parametrize("dimension_numbers", LAYOUT_COMBOS, ids="-".join)
def test_common_layouts_exhaustive(dimension_numbers, grid_index):
    run_case(grid_index, dimension_numbers, **GRID[grid_index])


# --- a seeded sample over all 24 permutations of each 2-d spec ---------------------------------


def _permutation_sample():
    lhs = ["".join(p) for p in itertools.permutations("NCHW")]
    rhs = ["".join(p) for p in itertools.permutations("OIHW")]
    out = list(lhs)
    rng = np.random.default_rng(24)
    rng.shuffle(rhs)
    rng.shuffle(out)
    # Each of the 24 permutations of every spec appears exactly once.
    return list(zip(lhs, rhs, out, strict=True))


PERMUTATION_GRID = [
    dict(window_strides=(1, 2), padding="SAME"),
    dict(window_strides=(2, 1), padding=((1, -1), (2, 0)), rhs_dilation=(2, 1)),
    dict(window_strides=(1, 1), padding="VALID", feature_group_count=2),
]


@pytest.mark.parametrize(
    "index, dimension_numbers", list(enumerate(_permutation_sample())), ids=lambda v: str(v)
)
def test_all_spec_permutations_sampled(index, dimension_numbers):
    run_case(
        100 + index,
        dimension_numbers,
        in_spatial=(5 + index % 3, 6),
        **PERMUTATION_GRID[index % len(PERMUTATION_GRID)],
    )


def test_permutation_sample_covers_every_permutation():
    sample = _permutation_sample()
    for position, letters in enumerate(("NCHW", "OIHW", "NCHW")):
        seen = {dn[position] for dn in sample}
        assert seen == {"".join(p) for p in itertools.permutations(letters)}


# --- ranks 1 to 3 -------------------------------------------------------------------------------


def _layouts(num_spatial, kind):
    s = spatial_letters(num_spatial)
    if kind == "last":
        return ("N" + s + "C", s + "IO", "N" + s + "C")
    if kind == "first":
        return ("NC" + s, "OI" + s, "NC" + s)
    # mixed: channels-first input, kernel spatial order reversed, channels-last output
    return ("NC" + s, "IO" + s[::-1], "N" + s + "C")


RANK_CASES = [
    (1, "last", dict(in_spatial=(9,), kernel=(3,), window_strides=(2,), padding="SAME")),
    (1, "first", dict(in_spatial=(8,), kernel=(4,), window_strides=(1,), padding=((2, -1),))),
    (
        1,
        "mixed",
        dict(
            in_spatial=(7,),
            kernel=(2,),
            window_strides=(3,),
            padding="VALID",
            rhs_dilation=(3,),
            feature_group_count=2,
        ),
    ),
    (2, "mixed", dict(in_spatial=(6, 8), kernel=(2, 3), window_strides=(1, 2), padding="SAME")),
    (
        3,
        "last",
        dict(in_spatial=(5, 6, 4), kernel=(2, 3, 1), window_strides=(1, 2, 1), padding="SAME"),
    ),
    (
        3,
        "first",
        dict(
            in_spatial=(4, 5, 5),
            kernel=(2, 2, 2),
            window_strides=(2, 1, 1),
            padding=((1, 0), (0, 1), (-1, 1)),
            rhs_dilation=(1, 2, 1),
        ),
    ),
    (
        3,
        "mixed",
        dict(
            in_spatial=(3, 4, 5),
            kernel=(1, 2, 2),
            window_strides=(1, 1, 2),
            padding="SAME_LOWER",
            feature_group_count=2,
        ),
    ),
]


@pytest.mark.parametrize("num_spatial, kind, kw", RANK_CASES)
def test_ranks(num_spatial, kind, kw):
    run_case(num_spatial, _layouts(num_spatial, kind), **kw)


# --- strides, every padding kind, dilations, groups --------------------------------------------

NHWC = ("NHWC", "HWIO", "NHWC")
NCHW = ("NCHW", "OIHW", "NCHW")
PADDINGS = [
    "VALID",
    "SAME",
    "SAME_LOWER",
    ((0, 0), (0, 0)),
    ((1, 2), (3, 0)),
    ((-1, 0), (0, -2)),
    ((-2, 3), (2, -1)),
]


@pytest.mark.parametrize("strides", [(1, 1), (2, 3)])
@pytest.mark.parametrize("padding", PADDINGS, ids=str)
def test_padding_kinds_and_strides(padding, strides):
    # An even kernel size makes SAME and SAME_LOWER differ.
    run_case(7, NHWC, kernel=(4, 3), in_spatial=(8, 7), window_strides=strides, padding=padding)


@pytest.mark.parametrize(
    "lhs_dilation, rhs_dilation, padding",
    [
        ((2, 2), None, ((1, 1), (0, 2))),
        ((3, 1), (1, 2), ((2, 2), (1, -1))),
        (None, (2, 3), "SAME"),
        (None, (3, 1), ((0, 1), (1, 0))),
        ((1, 2), (2, 2), ((-1, 2), (2, 2))),
    ],
    ids=str,
)
@pytest.mark.parametrize("dimension_numbers", [NHWC, NCHW], ids="-".join)
def test_dilations(dimension_numbers, lhs_dilation, rhs_dilation, padding):
    run_case(
        11,
        dimension_numbers,
        window_strides=(1, 2),
        padding=padding,
        lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation,
    )


GROUP_CASES = [
    dict(in_features=4, out_features=6, feature_group_count=2),
    dict(in_features=6, out_features=3, feature_group_count=3),
    dict(in_features=4, out_features=4, feature_group_count=4),  # depthwise
    dict(in_features=3, out_features=6, feature_group_count=3),  # depthwise, multiplier 2
    dict(batch=4, in_features=3, out_features=4, batch_group_count=2),
    dict(batch=3, in_features=2, out_features=6, batch_group_count=3),
]


@pytest.mark.parametrize("kw", GROUP_CASES, ids=str)
@pytest.mark.parametrize("dimension_numbers", [NHWC, ("NCHW", "HWIO", "NHWC")], ids="-".join)
def test_groups(dimension_numbers, kw):
    run_case(13, dimension_numbers, window_strides=(2, 1), padding="SAME", **kw)


# --- dtypes and preferred_element_type ---------------------------------------------------------

DTYPES = [np.float32, jnp.bfloat16, np.float16, np.int32, np.complex64]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(
    "kw",
    [
        dict(window_strides=(2, 1), padding="SAME"),
        dict(window_strides=(1, 1), padding=((1, 0), (2, 1)), rhs_dilation=(1, 2)),
        dict(window_strides=(1, 2), padding="VALID", feature_group_count=2),
    ],
    ids=str,
)
def test_dtypes(dtype, kw):
    out = run_case(17, NHWC, dtype=dtype, **kw)
    assert out.dtype == np.dtype(dtype)


@pytest.mark.parametrize(
    "dtype, preferred",
    [
        (np.int32, np.float32),
        (np.int32, np.int32),
        (jnp.bfloat16, np.float32),
        (np.float16, np.float32),
        (np.float32, np.float32),
        (np.complex64, np.complex64),
    ],
    ids=str,
)
def test_preferred_element_type(dtype, preferred):
    out = run_case(
        19,
        NCHW,
        dtype=dtype,
        window_strides=(1, 2),
        padding="SAME",
        feature_group_count=2,
        preferred_element_type=preferred,
    )
    assert out.dtype == np.dtype(preferred)


# --- every strategy on the shapes it accepts ---------------------------------------------------

STEM = dict(
    in_features=3,
    in_spatial=(13, 14),
    kernel=(7, 7),
    window_strides=(2, 2),
    padding=((3, 3), (3, 2)),
)
STRATEGY_CASES = {
    "plain": dict(window_strides=(1, 1), padding="SAME"),
    "strided_cropped": dict(window_strides=(2, 3), padding=((-1, 1), (2, -1))),
    "grouped": dict(window_strides=(1, 2), padding="VALID", feature_group_count=2),
    "depthwise": dict(
        in_features=4, out_features=8, feature_group_count=4, window_strides=(2, 1), padding="SAME"
    ),
    "batch_grouped": dict(batch=4, window_strides=(1, 1), padding="SAME", batch_group_count=2),
    "dilated": dict(
        window_strides=(1, 1), padding=((1, 2), (0, 1)), lhs_dilation=(2, 1), rhs_dilation=(1, 2)
    ),
    # a stem: three features, a large strided kernel ('auto' runs banded)
    "stem": STEM,
    # the same with eight features ('auto' runs space_to_depth)
    "stem_wide": {**STEM, "in_features": 8},
    # a spectrogram: one feature, a wide dilated strided kernel ('auto' runs banded, whose
    # windows span two blocks of the input and whose last block is cropped)
    "spectrogram": dict(
        in_features=1,
        out_features=8,
        in_spatial=(9, 40),
        kernel=(4, 9),
        window_strides=(2, 2),
        padding=((1, 1), (4, 3)),
        rhs_dilation=(1, 2),
    ),
    # a kernel dilated along the last dim at stride 1 there (banded runs it on its phases:
    # 7 outputs in 3 phases of 3, the last cropped; the padding crops the input's end)
    "dilated_phases": dict(
        in_spatial=(7, 11),
        kernel=(3, 3),
        window_strides=(2, 1),
        padding=((1, 0), (3, -1)),
        rhs_dilation=(2, 3),
    ),
    # a 3x3 layer whose tiles outweigh its kernel ('auto' runs winograd on NHWC); an odd
    # output height crops the last tile row, negative padding crops the input
    "winograd": dict(
        in_features=16,
        out_features=24,
        in_spatial=(9, 11),
        kernel=(3, 3),
        window_strides=(1, 1),
        padding=((1, 1), (2, -1)),
    ),
    # a thin output ('auto' runs col2im)
    "thin_output": dict(out_features=2, in_features=16, window_strides=(1, 1), padding="SAME"),
    # a transposed layer whose kernel outweighs its activations ('auto' runs polyphase)
    "transposed_wide": dict(
        batch=1,
        in_features=64,
        out_features=64,
        in_spatial=(3, 3),
        kernel=(4, 4),
        window_strides=(1, 1),
        padding=((2, 2), (1, 2)),
        lhs_dilation=(2, 2),
    ),
    # the same with stride 2 over the input dilation: half the taps meet no input
    "dilated_strided_wide": dict(
        batch=1,
        in_features=64,
        out_features=64,
        in_spatial=(4, 3),
        kernel=(4, 2),
        window_strides=(2, 1),
        padding=((1, 1), (0, 1)),
        lhs_dilation=(2, 1),
    ),
    # kernels no wider than their strides: space_to_depth keeps only the phases they reach
    "narrow_kernel": dict(
        in_spatial=(11, 13), kernel=(2, 3), window_strides=(3, 4), padding=((1, 2), (2, -1))
    ),
    "narrow_and_wide": dict(
        in_spatial=(11, 13), kernel=(2, 5), window_strides=(3, 3), padding="SAME"
    ),
    "strided_pointwise": dict(
        in_spatial=(11, 13), kernel=(1, 1), window_strides=(2, 3), padding="VALID"
    ),
}


def _plan_for(case):
    kw = dict(STRATEGY_CASES[case])
    sizes = dict(batch=2, in_features=4, out_features=6, in_spatial=(6, 7), kernel=(3, 2))
    for key in sizes:
        sizes[key] = kw.pop(key, sizes[key])
    fg = kw.get("feature_group_count", 1)
    lhs_shape = (sizes["batch"], *sizes["in_spatial"], sizes["in_features"])
    rhs_shape = (*sizes["kernel"], sizes["in_features"] // fg, sizes["out_features"])
    dn = conv_dimension_numbers(4, NHWC)
    plan = make_plan(
        lhs_shape,
        rhs_shape,
        kw["window_strides"],
        kw["padding"],
        kw.get("lhs_dilation"),
        kw.get("rhs_dilation"),
        dn,
        fg,
        kw.get("batch_group_count", 1),
    )
    return plan, sizes, kw


@pytest.mark.parametrize("case", list(STRATEGY_CASES))
@pytest.mark.parametrize("strategy", ["auto", *jaxconv.STRATEGIES])
def test_every_strategy(strategy, case):
    plan, sizes, kw = _plan_for(case)
    if strategy == "auto" or _strategies.accepts(strategy, plan):
        run_case(23, NHWC, strategy=strategy, **sizes, **kw)
    else:
        rng = np.random.default_rng(0)
        lhs, rhs = random_conv_operands(rng, NHWC, **sizes, feature_group_count=plan.feature_groups)
        with pytest.raises(ValueError, match="strategy"):
            jaxconv.conv_general_dilated(lhs, rhs, **kw, dimension_numbers=NHWC, strategy=strategy)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("stem", "banded"),
        ("stem_wide", "space_to_depth"),
        ("spectrogram", "banded"),
        ("winograd", "winograd"),
    ],
)
def test_hand_rules_reach_each_form(case, expected, hand_rules):
    # The forms are tested against lax above; this checks that those cases reach them.
    plan = _plan_for(case)[0]
    assert _policy.choose(plan) == expected
    if expected == "banded":
        out_w = plan.out_spatial[-1]
        assert 1 < _strategies.band_width(plan) < out_w and out_w % _strategies.band_width(plan)


@pytest.mark.parametrize("strategy", ["auto", "winograd"])
@pytest.mark.parametrize("dn", [NCHW, ("NCHW", "HWIO", "NCHW")], ids="-".join)
def test_winograd_runs_channels_first_on_nchw_data(dn, strategy, hand_rules):
    # Moved features-last, NCHW data's layout transposes fuse into the tile transforms and
    # winograd would lose (see _winograd_pays): it computes in (N, C, H, W) instead.
    nhwc, sizes, kw = _plan_for("winograd")
    nchw = make_plan((2, 16, 9, 11), (24, 16, 3, 3), **kw, dimension_numbers=NCHW)
    assert nchw.out_spatial == nhwc.out_spatial
    assert _policy.in_layout(nchw, "winograd").channels_first
    assert not _policy.in_layout(nchw, "taps").channels_first
    shapes = dict(dimension_numbers=dn, window_strides=(1, 1), padding=kw["padding"])
    lhs = jax.ShapeDtypeStruct((2, 16, 9, 11), np.float32)
    rhs = jax.ShapeDtypeStruct((24, 16, 3, 3) if dn[1] == "OIHW" else (3, 3, 16, 24), np.float32)
    assert jaxconv.chosen_strategy(lhs, rhs, **shapes) == "winograd"
    run_case(29, dn, strategy=strategy, **sizes, **kw)


def test_depthwise_strategy_accepts_only_depthwise():
    assert _strategies.accepts("depthwise", _plan_for("depthwise")[0])
    for case in ("plain", "grouped", "batch_grouped"):
        assert not _strategies.accepts("depthwise", _plan_for(case)[0])


# --- property-based cases on top of the fixed grid ---------------------------------------------


@st.composite
def conv_problems(draw):
    num_spatial = draw(st.sampled_from([1, 2, 2, 3]))
    s = spatial_letters(num_spatial)
    perm = lambda letters: "".join(draw(st.permutations(letters)))  # noqa: E731
    dimension_numbers = (perm("NC" + s), perm("OI" + s), perm("NC" + s))
    small = 2 if num_spatial == 3 else 3
    kernel = tuple(draw(st.integers(1, small)) for _ in s)
    in_spatial = tuple(draw(st.integers(1, 9 if num_spatial < 3 else 5)) for _ in s)
    strides = tuple(draw(st.integers(1, 3)) for _ in s)
    rhs_dilation = tuple(draw(st.integers(1, 2)) for _ in s)
    lhs_dilation = tuple(draw(st.integers(1, 2)) for _ in s)
    padding = draw(st.sampled_from(["VALID", "SAME", "SAME_LOWER", "pairs"]))
    if padding == "pairs":
        padding = tuple((draw(st.integers(-2, 3)), draw(st.integers(-2, 3))) for _ in s)
    else:
        lhs_dilation = (1,) * num_spatial
    groups = draw(st.sampled_from(["none", "feature", "batch"]))
    g = draw(st.integers(1, 3))
    fg = g if groups == "feature" else 1
    bg = g if groups == "batch" else 1
    in_features = fg * draw(st.integers(1, 2))
    out_features = fg * bg * draw(st.integers(1, 2))
    batch = bg * draw(st.integers(1, 2))
    if not isinstance(padding, str):
        # Keep to paddings that lax accepts (negative padding no larger than the input).
        for n, d, (lo, hi) in zip(in_spatial, lhs_dilation, padding, strict=True):
            if (n - 1) * d + 1 + lo + hi < 0:
                padding = "VALID"
                lhs_dilation = (1,) * num_spatial
                break
    return dict(
        dimension_numbers=dimension_numbers,
        batch=batch,
        in_features=in_features,
        out_features=out_features,
        in_spatial=in_spatial,
        kernel=kernel,
        window_strides=strides,
        padding=padding,
        lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation,
        feature_group_count=fg,
        batch_group_count=bg,
    )


@settings(max_examples=30, deadline=None, derandomize=True)
@given(problem=conv_problems(), seed=st.integers(0, 2**16))
def test_hypothesis_against_lax(problem, seed):
    problem = dict(problem)
    run_case(seed, problem.pop("dimension_numbers"), **problem)


def _dilated_conv_reference(x, w, lhs_dilation, rhs_dilation, pads, strides=None):
    """``x (N, *S, C)`` with ``w (*K, I, O)`` in float64, by hand: dilate the input with
    zeros, pad (or crop), sum every tap's shifted slice times its matrix, then keep every
    ``strides``-th output (stride 1 by default)."""
    nd = len(pads)
    shape = [(s - 1) * d + 1 for s, d in zip(x.shape[1:-1], lhs_dilation, strict=True)]
    xd = np.zeros((x.shape[0], *shape, x.shape[-1]))
    xd[(slice(None), *(slice(None, None, d) for d in lhs_dilation))] = x
    for axis, (lo, hi) in enumerate(pads, start=1):
        xd = np.moveaxis(xd, axis, 0)
        xd = np.concatenate(
            [np.zeros((max(lo, 0), *xd.shape[1:])), xd, np.zeros((max(hi, 0), *xd.shape[1:]))]
        )
        xd = xd[max(-lo, 0) : len(xd) - max(-hi, 0)]
        xd = np.moveaxis(xd, 0, axis)
    window = [(k - 1) * r + 1 for k, r in zip(w.shape[:nd], rhs_dilation, strict=True)]
    out = [p - win + 1 for p, win in zip(xd.shape[1:-1], window, strict=True)]
    y = np.zeros((x.shape[0], *out, w.shape[-1]))
    for tap in itertools.product(*(range(k) for k in w.shape[:nd])):
        index = tuple(
            slice(t * r, t * r + o) for t, r, o in zip(tap, rhs_dilation, out, strict=True)
        )
        y += xd[(slice(None), *index)] @ w[tap].astype(np.float64)
    return y[(slice(None), *(slice(None, None, s) for s in strides or ()))]


@st.composite
def col2im_problems(draw):
    nd = draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    in_spatial = tuple(draw(st.integers(1, 6)) for _ in range(nd))
    lhs_dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    rhs_dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    # Window strides where the input is not dilated (the input phases of _col2im_strided).
    undilated = all(d == 1 for d in lhs_dilation)
    strides = tuple(draw(st.integers(1, 3)) if undilated else 1 for _ in range(nd))
    pads = []
    for k, n, ld, rd in zip(kernel, in_spatial, lhs_dilation, rhs_dilation, strict=True):
        lo, hi = draw(st.integers(-2, 4)), draw(st.integers(-2, 4))
        # Widen the high side where the window would not fit: no empty outputs.
        hi += max(0, (k - 1) * rd + 1 - ((n - 1) * ld + 1 + lo + hi))
        pads.append((lo, hi))
    features_first, per_image = draw(st.booleans()), draw(st.booleans())
    return kernel, in_spatial, strides, lhs_dilation, rhs_dilation, pads, features_first, per_image


@settings(max_examples=60, deadline=None, derandomize=True)
@given(problem=col2im_problems(), seed=st.integers(0, 2**16))
def test_col2im_phases_against_a_hand_reference(problem, seed):
    # col2im sums each output phase's taps as shifted copies (shifts past either end, taps
    # that reach no output, phases no tap reaches), and with window strides the stride-1
    # convolutions of the input's phases (phases that meet no tap): checked against a
    # float64 reference, since XLA:CPU's float32 convolution is wrong on some of these
    # paddings. On channels-first data col2im computes channels-first (its GEMM's output
    # (K, O, N, *S)), or one GEMM per image (N, K, O, *S) where it holds per_image (drawn here
    # whatever the positions).
    kernel, in_spatial, strides, lhs_dilation, rhs_dilation, pads, features_first, per_image = (
        problem
    )
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, *in_spatial, 3)).astype(np.float32)
    w = rng.standard_normal((*kernel, 3, 2)).astype(np.float32)
    s = spatial_letters(len(kernel))
    expected = _dilated_conv_reference(x, w, lhs_dilation, rhs_dilation, pads, strides)
    dn = ("N" + s + "C", s + "IO", "N" + s + "C")
    if features_first:
        dn = ("NC" + s, s + "IO", "NC" + s)
        x, expected = np.moveaxis(x, -1, 1), np.moveaxis(expected, -1, 1)
    plan = make_plan(x.shape, w.shape, strides, pads, lhs_dilation, rhs_dilation, dn)
    # Small inputs too (below the positions it needs by default); where it stacks the last
    # dim's taps, channels-last.
    stacked = _strategies.stacks_rows(plan._replace(channels_first=False))
    stacked = stacked and plan.taps > _policy.COL2IM_CHANNELS_FIRST_TAPS
    with (
        mock.patch.object(_policy, "COL2IM_CHANNELS_FIRST_POSITIONS", 0),
        mock.patch.object(_strategies, "COL2IM_PER_IMAGE", 0 if per_image else 10**9),
    ):
        assert _policy.in_layout(plan, "col2im").channels_first == (features_first and not stacked)
        actual = jax.jit(
            lambda x, w: jaxconv.conv_general_dilated(
                x, w, strides, pads, lhs_dilation, rhs_dilation, dn, strategy="col2im"
            )
        )(x, w)
    assert_close(actual, expected.astype(np.float32))


@pytest.mark.parametrize(
    "kernel, lhs_dilation, pads",
    [
        ((2, 2), (2, 2), ((1, 1), (1, 1))),  # a U-Net's 2x2/2 up-convolution
        ((4, 4), (4, 4), ((3, 3), (2, 4))),  # 4x4/4, one dim shifted
        ((3, 2), (4, 3), ((2, 2), (0, 1))),  # kernels narrower than the dilation: zero gaps
        ((3,), (3,), ((-1, 3),)),  # negative padding: crops the blocks
        ((2, 1, 2), (2, 2, 3), ((1, 0), (0, 0), (4, -1))),  # a volume
        # kernels a multiple of the dilation: blocks overlap, summed shifted
        ((4, 4), (2, 2), ((2, 2), (2, 2))),  # DCGAN's 4x4/2
        ((8, 2), (4, 1), ((5, 6), (1, 0))),  # 8/4 beside an undilated dim
        ((6, 3), (2, 3), ((-1, 6), (2, 0))),  # three blocks overlap; negative padding
        ((4, 2, 3), (2, 2, 1), ((3, 1), (1, 1), (0, 2))),  # a volume
    ],
)
def test_col2im_writes_blocks_where_each_output_meets_one_tap(kernel, lhs_dilation, pads):
    # Input dilation no smaller than the kernel, or a kernel that is a multiple of it: one
    # GEMM laid out as the output's blocks, summed shifted where they overlap, and cropped
    # (_strategies._col2im_blocks), against a float64 reference by hand
    # (XLA:CPU's float32 convolution is wrong on negative-low padding); and the gradients
    # through it against lax's in float64.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *(5, 4, 3)[: len(kernel)], 6)).astype(np.float32)
    w = rng.standard_normal((*kernel, 6, 5)).astype(np.float32)
    s = spatial_letters(len(kernel))
    dn = ("N" + s + "C", s + "IO", "N" + s + "C")
    ones = (1,) * len(kernel)
    plan = make_plan(x.shape, w.shape, ones, pads, lhs_dilation, ones, dn)
    assert _strategies.col2im_in_blocks(plan, 4)
    calls = []
    blocks = _strategies._col2im_blocks

    def spy(*args):
        calls.append(1)
        return blocks(*args)

    def conv(x, w):
        return jaxconv.conv_general_dilated(
            x, w, ones, pads, lhs_dilation, None, dn, strategy="col2im", precision=HIGHEST
        )

    with mock.patch.object(_strategies, "_col2im_blocks", spy):
        actual = jax.jit(conv)(x, w)
    assert calls
    expected = _dilated_conv_reference(x, w, lhs_dilation, ones, pads)
    assert_close(actual, expected.astype(np.float32))

    def loss(f, x, w):
        return jnp.sum(jnp.sin(f(x, w)))

    got = jax.grad(functools.partial(loss, conv), (0, 1))(x, w)
    with jax.enable_x64():
        ref = functools.partial(lax.conv_general_dilated, window_strides=ones, padding=pads,
                                lhs_dilation=lhs_dilation, dimension_numbers=dn)  # fmt: skip
        want = jax.grad(functools.partial(loss, ref), (0, 1))(
            x.astype(np.float64), w.astype(np.float64)
        )
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


def test_col2im_keeps_its_scatter_where_blocks_do_not_fit_or_channels_first():
    ones = (1, 1)
    wide = make_plan((2, 5, 4, 6), (3, 3, 6, 5), ones, ((1, 1), (1, 1)), (2, 2), ones, NHWC)
    assert not _strategies.col2im_in_blocks(wide, 4)  # 3x3 over a dilation of 2
    # 4x4 over a dilation of 2: overlapping blocks, channels-last in 2-d and 3-d only
    over = make_plan((2, 5, 4, 6), (4, 4, 6, 5), ones, ((1, 1), (1, 1)), (2, 2), ones, NHWC)
    assert _strategies.col2im_in_blocks(over, 4)
    nchw = make_plan((2, 6, 5, 4), (5, 6, 4, 4), ones, ((1, 1), (1, 1)), (2, 2), ones, NCHW)
    assert not _strategies.col2im_in_blocks(nchw._replace(channels_first=False), 4)
    line = make_plan((2, 9, 6), (4, 6, 5), (1,), ((1, 1),), (2,), (1,), ("NWC", "WIO", "NWC"))
    assert not _strategies.col2im_in_blocks(line, 4)
    # fewer input positions (12) than taps, a kernel outweighing the GEMM's output: blocks
    # forward, the scatter per input where differentiated
    heavy = make_plan((1, 3, 4, 64), (4, 4, 64, 5), ones, ((1, 1), (1, 1)), (2, 2), ones, NHWC)
    assert _strategies.col2im_by_input(heavy) and _strategies.col2im_in_blocks(heavy, 4)
    with _strategies.differentiated():
        assert not _strategies.col2im_in_blocks(heavy, 4)
        assert _strategies.col2im_in_blocks(over, 4)
    blocks = make_plan((2, 5, 4, 6), (2, 2, 6, 5), ones, ((1, 1), (1, 1)), (2, 2), ones, NHWC)
    assert _strategies.col2im_in_blocks(blocks, 4)
    # computed channels-first (its GEMM (K·O, C) @ (C, N·S)), the scatter stays
    assert not _strategies.col2im_in_blocks(blocks._replace(channels_first=True), 4)
    strided = make_plan((2, 5, 4, 6), (2, 2, 6, 5), (2, 2), ((1, 1), (1, 1)), (2, 2), ones, NHWC)
    assert not _strategies.col2im_in_blocks(strided, 4)


@pytest.mark.parametrize(
    "lhs, rhs, kernel, dilation, in_spatial, batch",
    [
        ("NCHW", "OIHW", (2, 2), (2, 2), (2, 3), 1),  # a U-Net's 2x2/2 from PyTorch
        ("NHWC", "OIHW", (3, 3), (2, 2), (3, 2), 2),  # channels-last data, PyTorch's kernel
        ("NHWC", "OIHW", (2, 2), (2, 2), (3, 3), 1),  # ... written as blocks (_col2im_blocks)
        ("NCDHW", "OIDHW", (2, 2, 2), (2, 2, 2), (2, 2, 1), 1),  # a volume
        ("NHWC", "OHWI", (4, 4), (2, 2), (2, 2), 2),  # OHWI: any number of taps
        ("NCW", "OWI", (16,), (8,), (3,), 1),  # a vocoder's 1-d upsampling
    ],
)
def test_col2im_copies_a_heavy_output_major_kernel_with_its_features_last(
    lhs, rhs, kernel, dilation, in_spatial, batch
):
    # A kernel that outweighs the GEMM's output (32 input features, at most 6 positions),
    # given output-major: col2im copies it (K, O, C) and reads it transposed, where the
    # (C, K, O) copy gathers across the whole kernel; checked against a float64 reference.
    rng = np.random.default_rng(1)
    x = rng.standard_normal((batch, *in_spatial, 32)).astype(np.float32)
    w = rng.standard_normal((*kernel, 32, 24)).astype(np.float32)
    pads = tuple((k - 1, k - 1) for k in kernel)
    ones = (1,) * len(kernel)
    expected = _dilated_conv_reference(x, w, dilation, ones, pads)
    if lhs.index("C") == 1:
        x, expected = np.moveaxis(x, -1, 1), np.moveaxis(expected, -1, 1)
    nd, spatial = len(kernel), rhs.replace("O", "").replace("I", "")
    w = np.transpose(w, [nd + 1 if a == "O" else nd if a == "I" else spatial.index(a) for a in rhs])
    dn = (lhs, rhs, lhs)
    plan = make_plan(x.shape, w.shape, ones, pads, dilation, ones, dn)
    assert _strategies._gemm_kernel(jnp.zeros((*kernel, 32, 24)), plan)[0] == "koc"
    actual = jax.jit(
        lambda x, w: jaxconv.conv_general_dilated(
            x, w, ones, pads, dilation, None, dn, strategy="col2im", precision=HIGHEST
        )
    )(x, w)
    assert_close(actual, expected.astype(np.float32))


def test_col2im_copies_other_kernels_with_their_output_features_last():
    def spec(lhs, rhs, x_shape, w_shape, dilation):
        ones = (1,) * (len(x_shape) - 2)
        pads = ((1, 1),) * len(ones)
        plan = make_plan(x_shape, w_shape, ones, pads, dilation, ones, (lhs, rhs, lhs))
        canonical = jnp.zeros((*plan.kernel, plan.in_features, plan.out_features))
        return _strategies._gemm_kernel(canonical, plan)[0]

    assert spec("NCHW", "OIHW", (1, 64, 3, 3), (32, 64, 2, 2), (2, 2)) == "koc"
    assert spec("NCHW", "HWIO", (1, 64, 3, 3), (2, 2, 64, 32), (2, 2)) == "cko"  # HWIO
    assert spec("NCHW", "OIHW", (1, 64, 3, 3), (32, 64, 4, 4), (2, 2)) == "cko"  # 16 taps
    assert spec("NCW", "OIW", (1, 64, 3), (32, 64, 4), (2,)) == "cko"  # 1-d
    assert spec("NCHW", "OIHW", (4, 64, 8, 8), (32, 64, 2, 2), (2, 2)) == "cko"  # positions
    with _strategies.differentiated():  # a differentiated layer keeps (C, K, O)
        assert spec("NCHW", "OIHW", (1, 64, 3, 3), (32, 64, 2, 2), (2, 2)) == "cko"


@pytest.mark.parametrize(
    "shape, kernel, o, pads, per_image",
    [
        ((3, 8, 64, 64), (3, 3), 4, "SAME", True),  # 4096 positions >= 80 * 9 * 4
        ((3, 8, 32, 32), (3, 3), 6, "SAME", False),  # fewer than 80 * 9 * 6
        ((4, 16, 700), (1,), 8, "VALID", True),  # pointwise
        ((5, 6, 30, 40), (2, 3), 2, ((1, 0), (-1, 2)), True),  # negative padding
        ((1, 8, 32, 32), (3, 3), 4, "SAME", False),  # one image: the one GEMM as it is
    ],
)
def test_col2im_multiplies_each_image_on_its_own_on_enough_positions(
    shape, kernel, o, pads, per_image
):
    # Per image, (K·O, C) @ (C, S) batched over the images: no copies of the input and the
    # output to and from (C, N·S). Checked against a float64 reference by hand (XLA:CPU's
    # float32 convolution is wrong on negative-low padding).
    s = spatial_letters(len(kernel))
    dn = ("NC" + s, "OI" + s, "NC" + s)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((o, shape[1], *kernel)).astype(np.float32)
    ones = (1,) * len(kernel)
    plan = make_plan(x.shape, w.shape, ones, pads, dimension_numbers=dn)
    assert _policy.in_layout(plan, "col2im").channels_first
    assert _strategies.col2im_per_image(_policy.in_layout(plan, "col2im")) == per_image
    actual = jaxconv.conv_general_dilated(x, w, ones, pads, dimension_numbers=dn, strategy="col2im")
    pairs = lax.padtype_to_pads(shape[2:], kernel, ones, pads) if isinstance(pads, str) else pads
    x_last, w_last = np.moveaxis(x, 1, -1), np.moveaxis(w, (0, 1), (-1, -2))
    expected = _dilated_conv_reference(x_last, w_last, ones, ones, pairs)
    assert_close(actual, np.moveaxis(expected, -1, 1).astype(np.float32))


def test_col2im_runs_channels_first_data_as_it_is_on_enough_positions():
    # Below COL2IM_CHANNELS_FIRST_POSITIONS its channels-first GEMM's long side is short and
    # the features-last form (with the transposes) measured faster. (A layer on which it
    # stacks the last dim's taps runs channels-last: the test after this one.)
    c, o = _strategies.STACK_ROWS_FEATURES + 1, 4

    def plan(hw, dn):
        return make_plan((2, c, hw, hw), (o, c, 3, 3), (1, 1), "SAME", dimension_numbers=dn)

    side = math.isqrt(_policy.COL2IM_CHANNELS_FIRST_POSITIONS - 1) + 1  # side² >= the bound
    assert _policy.in_layout(plan(side, NCHW), "col2im").channels_first
    assert not _policy.in_layout(plan(side - 1, NCHW), "col2im").channels_first
    nhwc = make_plan((2, side, side, c), (3, 3, c, o), (1, 1), "SAME", dimension_numbers=NHWC)
    assert not _policy.in_layout(nhwc, "col2im").channels_first


@pytest.mark.parametrize(
    "kernel, rhs_dilation, pads, c, o",
    [
        ((3, 3), (1, 1), ((1, 1), (1, 1)), 16, 16),  # ResNet's 3x3 on 16 features
        ((7, 7), (1, 2), ((3, 2), (-1, 6)), 8, 24),  # crops and pads past the taps
        ((2, 3, 3), (2, 1, 1), ((0, 2), (1, 1), (2, 0)), 4, 8),  # a volume
        ((5, 1), (1, 1), ((2, 2), (0, 0)), 8, 8),  # one tap along the last dim: col2im as was
    ],
)
@pytest.mark.parametrize("features_first", [False, True])
def test_col2im_stacks_the_last_dims_taps_where_few_features_make_it_move_less(
    kernel, rhs_dilation, pads, c, o, features_first
):
    # Stacking the last dim's kw taps beside the features (as rows does) turns col2im's
    # K·O columns per position into kw·C inputs and (K / kw)·O columns: channels-last (a
    # channels-first 3x3 layer keeps its form), against a float64 reference.
    rng = np.random.default_rng(sum(kernel) + c)
    x = rng.standard_normal((2, *(9,) * len(kernel), c)).astype(np.float32)
    w = rng.standard_normal((*kernel, c, o)).astype(np.float32)
    ones = (1,) * len(kernel)
    expected = _dilated_conv_reference(x, w, ones, rhs_dilation, pads)
    s = spatial_letters(len(kernel))
    dn = ("N" + s + "C", s + "IO", "N" + s + "C")
    if features_first:
        dn = ("NC" + s, s + "IO", "NC" + s)
        x, expected = np.moveaxis(x, -1, 1), np.moveaxis(expected, -1, 1)
    plan = make_plan(x.shape, w.shape, ones, pads, ones, rhs_dilation, dn)
    stacks = kernel[-1] > 1
    assert _strategies.stacks_rows(plan._replace(channels_first=False)) == stacks
    # Channels-first data stays so on small kernels (the transposes cost more there).
    last = stacks and plan.taps > _policy.COL2IM_CHANNELS_FIRST_TAPS
    with mock.patch.object(_policy, "COL2IM_CHANNELS_FIRST_POSITIONS", 0):
        assert _policy.in_layout(plan, "col2im").channels_first == (features_first and not last)
    actual = jax.jit(
        lambda x, w: jaxconv.conv_general_dilated(
            x, w, ones, pads, rhs_dilation=rhs_dilation, dimension_numbers=dn, strategy="col2im"
        )
    )(x, w)
    assert_close(actual, expected.astype(np.float32))


def test_col2im_stacks_rows_only_on_few_features_and_undilated_inputs():
    def stacks(xs, ws, lhs_dilation=(1, 1)):
        plan = make_plan(xs, ws, (1, 1), ((1, 1),) * 2, lhs_dilation, dimension_numbers=NHWC)
        return _strategies.stacks_rows(plan)

    many = _strategies.STACK_ROWS_FEATURES + 1
    assert stacks((2, 8, 8, 16), (3, 3, 16, 16))
    assert not stacks((2, 8, 8, many), (3, 3, many, many))  # a GEMM deep enough already
    assert not stacks((2, 8, 8, 16), (3, 3, 16, 1))  # kw·C + 3·O > 9·O: more to move
    assert not stacks((2, 8, 8, 16), (3, 3, 16, 16), (2, 2))  # a transposed convolution
    assert not stacks((2, 8, 8, 16), (3, 1, 16, 16))  # one tap along the last dim


NWC = ("NWC", "WIO", "NWC")
# 1-d channels-last plans whose im2col patches are windows: (x, w, strides, padding, groups)
WINDOW_CASES = [
    ((2, 40, 5), (17, 5, 6), (1,), "SAME", 1),
    ((1, 50, 4), (31, 4, 3), (3,), ((20, -2),), 1),  # strided, the high end cropped
    ((3, 33, 6), (16, 2, 6), (2,), "VALID", 3),  # groups
    ((1, 20, 3), (20, 3, 4), (1,), ((19, 19),), 1),  # a kernel as long as the signal
]  # fmt: skip


@pytest.mark.parametrize("xs, ws, strides, padding, groups", WINDOW_CASES)
def test_im2col_builds_a_long_1d_kernels_patches_as_windows(xs, ws, strides, padding, groups):
    plan = make_plan(xs, ws, strides, padding, None, None, NWC, groups, 1, "zeros")
    assert _taps.builds_windows(plan)
    rng = np.random.default_rng(0)
    x, w = (rng.standard_normal(s).astype(np.float32) for s in (xs, ws))
    # The windows are the stacked taps, element for element.
    stacked = jnp.stack(list(_taps.taps_of(jnp.asarray(x), plan)), axis=-2)
    np.testing.assert_array_equal(jax.jit(_taps.windows_of, static_argnums=1)(x, plan), stacked)
    kw = dict(window_strides=strides, padding=padding, dimension_numbers=NWC,
              feature_group_count=groups)  # fmt: skip
    got = jax.jit(lambda x, w: jaxconv.conv_general_dilated(x, w, **kw, strategy="im2col"))(x, w)
    with jax.enable_x64():  # lax in float64: XLA:CPU's float32 is wrong on cropped pads
        want = lax.conv_general_dilated(x.astype(np.float64), w.astype(np.float64), **kw)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_short_dilated_or_channels_first_1d_kernels_stack_their_taps():
    def builds(ws, rhs_dilation=None, channels_first=False):
        plan = make_plan((1, 64, 4), ws, (1,), "SAME", None, rhs_dilation, NWC, 1, 1, "zeros")
        return _taps.builds_windows(plan._replace(channels_first=channels_first))

    assert builds((_taps.WINDOW_TAPS, 4, 4))
    assert not builds((_taps.WINDOW_TAPS - 1, 4, 4))
    assert not builds((17, 4, 4), rhs_dilation=(2,))
    assert not builds((17, 4, 4), channels_first=True)
