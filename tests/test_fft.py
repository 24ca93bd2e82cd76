"""The ``fft`` strategy against lax.conv_general_dilated: forward, vjp, jvp, second order.

An FFT rounds every output by up to ``eps·log2(F)·max|x|·||w||_1`` (``F`` the transform
size, ``||w||_1`` the largest sum of ``|w|`` over one output feature; see
``jaxconv._strategies.fft``), not by ``eps`` times each output's own sum as a direct sum
does, so every comparison here states its tolerance relative to that scale, per dtype
(:data:`FFT_EPS`), for each bilinear form compared (output, vjp, jvp, second order).
"""

from __future__ import annotations

import math
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import HIGHEST, assert_close, random_array
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import lax

import jaxconv
from jaxconv import _grad, _policy, _strategies
from jaxconv._plan import make_plan

FFT_EPS: dict[np.dtype, float] = {
    np.dtype(np.float32): float(jnp.finfo(jnp.float32).eps),
    np.dtype(np.float16): float(jnp.finfo(jnp.float16).eps),
    np.dtype(jnp.bfloat16): float(jnp.finfo(jnp.bfloat16).eps),
}
"""Per input dtype, the ``eps`` of the documented bound ``eps·log2(F)·max|x|·||w||_1``: the
transform's (float32) for float32, the output's own rounding for narrower floats (which are
transformed in float32 and rounded once at the end, an error that dominates)."""

LAYOUTS = {
    1: [("NWC", "WIO", "NWC"), ("NCW", "OIW", "NCW"), ("WCN", "IWO", "CNW")],
    2: [("NHWC", "HWIO", "NHWC"), ("NCHW", "OIHW", "NCHW"), ("HNCW", "WHOI", "CWHN")],
    3: [("NDHWC", "DHWIO", "NDHWC"), ("NCDHW", "OIDHW", "NCDHW")],
}


def _operands(rng, dn, batch, cin, cout, spatial, kernel, groups, dtype=np.float32):
    """Random ``(lhs, rhs)`` in the layouts ``dn`` (spatial sizes in the kernel's order)."""
    lhs_spec, rhs_spec, _ = dn
    letters = [c for c in rhs_spec if c not in "OI"]
    lhs_sizes = {"N": batch, "C": cin, **dict(zip(letters, spatial, strict=True))}
    rhs_sizes = {"O": cout, "I": cin // groups, **dict(zip(letters, kernel, strict=True))}
    x = random_array(rng, [lhs_sizes[c] for c in lhs_spec], dtype)
    w = random_array(rng, [rhs_sizes[c] for c in rhs_spec], dtype)
    return x, w


def _log2_size(x, w, kw) -> float:
    """log2 of the largest transform size of the convolution and of its gradients (the
    input gradient transforms the dilated cotangent, padded by a window)."""
    plan = make_plan(x.shape, w.shape, **kw)
    sizes = _strategies.fft_blocks(plan).size
    grad = _grad.input_grad_plan(plan)
    if not grad.is_empty:
        sizes = sizes + _strategies.fft_blocks(grad).size
    return math.log2(max(sizes))


def _lax(kw):
    def f(x, w):
        return lax.conv_general_dilated(x, w, precision=HIGHEST, **kw)

    return f


def _fft(kw):
    def f(x, w):
        return jaxconv.conv_general_dilated(x, w, precision=HIGHEST, strategy="fft", **kw)

    return f


def assert_fft_close(actual, expected, scale, log2_size, dtype=np.float32, factor=1.0):
    """``|actual - expected| <= factor·eps·log2(F)·scale`` elementwise, ``scale`` the
    bound's ``max|x|·||w||_1`` for the computation compared."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    bound = factor * FFT_EPS[np.dtype(dtype)] * max(log2_size, 1.0) * float(scale)
    err = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    assert float(err.max(initial=0.0)) <= bound, (float(err.max()), bound)


def _derivatives(f, order2):
    """``f``'s output, vjp, jvp and (``order2``) a second derivative, as one jitted program:
    ``(x, w, ct, tx, tw, v) -> (y, dx, dw, ty, d2)``."""

    def all_of(x, w, ct, tx, tw, v):
        y, vjp = jax.vjp(f, x, w)
        dx, dw = vjp(ct)
        ty = jax.jvp(f, (x, w), (tx, tw))[1]
        d2 = None
        if order2:
            # d/dw <d/dx <y, ct>, v>: the input gradient's kernel gradient.
            def inner(w):
                _, pullback = jax.vjp(lambda x: f(x, w), x)
                return jnp.vdot(pullback(ct)[0], v)

            d2 = jax.grad(inner)(w)
        return y, dx, dw, ty, d2

    return jax.jit(all_of)


def _l1_max(a, spec: str, keep: str) -> float:
    """The largest sum of ``|a|`` over every axis but the one ``spec`` names ``keep``."""
    axes = tuple(j for j, c in enumerate(spec) if c != keep)
    return float(np.max(np.sum(np.abs(np.asarray(a, np.float64)), axis=axes)))


def _amax(a) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64))))


def check_forward_and_gradients(x, w, kw, rng, order2=False):
    """Output, vjp, jvp (and a second derivative) of ``fft`` against lax, each within the
    documented bound ``eps·log2(F)·max|a|·||b||_1`` of its own bilinear form ``(a, b)``."""
    lhs_spec, rhs_spec, out_spec = kw["dimension_numbers"]
    plan = make_plan(x.shape, w.shape, **kw)
    ct = random_array(rng, plan.out_shape)
    tx, tw, v = random_array(rng, x.shape), random_array(rng, w.shape), random_array(rng, x.shape)
    args = (x, w, ct, tx, tw, v)
    got = _derivatives(_fft(kw), order2)(*args)
    # lax in float64: its float32 convolution is wrong where a padding pair has a negative
    # low and a positive high side (openxla/xla#48713); hypothesis draws such pairs.
    with jax.enable_x64(True):
        want = _derivatives(_lax(kw), order2)(*(np.asarray(a, np.float64) for a in args))
        want = [None if b is None else np.asarray(b) for b in want]
    w_out, w_in = _l1_max(w, rhs_spec, "O"), _l1_max(w, rhs_spec, "I")
    ct_out = _l1_max(ct, out_spec, "C")
    scales = (
        _amax(x) * w_out,  # y = x ⋆ w
        _amax(ct) * w_in,  # dx: ct with the flipped kernel
        _amax(x) * ct_out,  # dw: x with ct
        _amax(tx) * w_out + _amax(x) * _l1_max(tw, rhs_spec, "O"),  # jvp
        _amax(v) * ct_out,  # d2: v with ct
    )
    log2_size = _log2_size(x, w, kw)
    for a, b, scale in zip(got, want, scales, strict=True):
        if a is not None:
            assert_fft_close(a, b.astype(a.dtype), scale, log2_size)


# --- a grid across ranks, layouts, strides, dilations, groups and paddings --------------------


def _case(spatial, kernel, channels, strides, padding, **kw):
    """One grid case: sizes, ``(in, out, groups)`` features and the conv keywords."""
    return spatial, kernel, channels, dict(window_strides=strides, padding=padding, **kw)


GRID = [
    _case((40,), (9,), (3, 5, 1), (1,), "SAME"),
    _case((37,), (31,), (4, 4, 4), (1,), ((30, 0),)),  # causal depthwise
    _case((50,), (7,), (4, 6, 2), (3,), ((-2, 4),), rhs_dilation=(3,)),
    _case((21,), (5,), (3, 4, 1), (2,), ((3, 2),), lhs_dilation=(2,)),
    _case((13, 11), (5, 4), (4, 6, 1), (1, 1), "VALID"),
    _case((12, 15), (3, 5), (4, 8, 4), (2, 3), ((1, -1), (4, 2))),
    _case((9, 10), (3, 3), (6, 6, 3), (1, 2), "SAME", rhs_dilation=(2, 3)),
    _case((6, 7), (4, 3), (2, 3, 1), (1, 1), ((3, 3), (1, 2)), lhs_dilation=(2, 3)),
    _case((6, 7, 5), (3, 4, 2), (2, 4, 2), (1, 2, 1), "SAME"),
    _case((5, 6, 7), (2, 3, 3), (3, 3, 3), (2, 1, 1), "VALID", rhs_dilation=(1, 2, 1)),
]


@pytest.mark.parametrize(
    "index, layout",
    [(i, j) for i, case in enumerate(GRID) for j in range(len(LAYOUTS[len(case[0])]))],
)
def test_grid_against_lax(index, layout):
    spatial, kernel, (cin, cout, groups), kw = GRID[index]
    layouts = LAYOUTS[len(spatial)]
    rng = np.random.default_rng(index)
    dn = layouts[layout]
    x, w = _operands(rng, dn, 2, cin, cout, spatial, kernel, groups)
    kw = dict(kw, dimension_numbers=dn, feature_group_count=groups)
    check_forward_and_gradients(x, w, kw, rng, order2=layout == 0)


def test_long_causal_depthwise_and_dense_kernels():
    # The long kernels, smaller: a causal depthwise filter of 255 taps on 1024
    # positions, a dense one of 129 taps, and a 31x31 depthwise 2-d kernel.
    rng = np.random.default_rng(3)
    cases = [
        ((2, 1024, 8), (255, 1, 8), dict(window_strides=(1,), padding=((254, 0),)), 8),
        ((1, 512, 6), (129, 6, 6), dict(window_strides=(1,), padding="SAME"), 1),
        ((1, 40, 40, 4), (31, 31, 1, 4), dict(window_strides=(1, 1), padding="SAME"), 4),
    ]
    for xs, ws, kw, groups in cases:
        dn = ("NWC", "WIO", "NWC") if len(xs) == 3 else ("NHWC", "HWIO", "NHWC")
        x, w = random_array(rng, xs), random_array(rng, ws)
        kw = dict(kw, dimension_numbers=dn, feature_group_count=groups)
        check_forward_and_gradients(x, w, kw, rng)


def test_error_is_well_within_the_documented_bound():
    # The docstring promises eps·log2(F)·max|x|·||w||_1 and reports a tenth of it measured.
    rng = np.random.default_rng(5)
    x, w = random_array(rng, (2, 4096, 16)), random_array(rng, (255, 16, 16))
    kw = dict(window_strides=(1,), padding="SAME", dimension_numbers=("NWC", "WIO", "NWC"))
    y = _fft(kw)(x, w)
    y_ref = _lax(kw)(x, w)
    scale = _amax(x) * _l1_max(w, "WIO", "O")
    assert_fft_close(y, y_ref, scale, _log2_size(x, w, kw), factor=0.1)


@pytest.mark.parametrize("dtype", [np.float16, jnp.bfloat16])
def test_narrow_floats(dtype):
    # Transformed in float32, rounded once to the input's dtype; lax's own result in that
    # dtype is rounded too (twice the eps covers both).
    rng = np.random.default_rng(7)
    x, w = random_array(rng, (2, 64, 4), dtype), random_array(rng, (33, 4, 4), dtype)
    kw = dict(window_strides=(1,), padding="SAME", dimension_numbers=("NWC", "WIO", "NWC"))
    y = _fft(kw)(x, w)
    assert y.dtype == jnp.dtype(dtype)
    x32, w32 = np.asarray(x, np.float32), np.asarray(w, np.float32)
    want = _lax(kw)(x32, w32)
    scale = _amax(x32) * _l1_max(w32, "WIO", "O")
    assert_fft_close(np.asarray(y, np.float32), want, scale, _log2_size(x, w, kw), dtype, 2.0)


def test_preferred_element_type_float64_is_refused_without_x64():
    # With x64 off, float64 cannot be asked for; float32 from float16 can.
    rng = np.random.default_rng(8)
    x, w = random_array(rng, (1, 20, 2), np.float16), random_array(rng, (9, 2, 3), np.float16)
    kw = dict(window_strides=(1,), padding="SAME", dimension_numbers=("NWC", "WIO", "NWC"))
    y = jaxconv.conv_general_dilated(x, w, **kw, preferred_element_type=jnp.float32, strategy="fft")
    want = lax.conv_general_dilated(x, w, **kw, preferred_element_type=jnp.float32)
    assert y.dtype == jnp.float32
    scale = _amax(x) * _l1_max(w, "WIO", "O")
    assert_fft_close(y, want, scale, _log2_size(x, w, kw), np.float32, 4.0)


# --- sampled cases across ranks ----------------------------------------------------------------


@st.composite
def problems(draw):
    rank = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 6 if rank < 3 else 3)) for _ in range(rank))
    rhs_dil = tuple(draw(st.integers(1, 2)) for _ in range(rank))
    lhs_dil = tuple(draw(st.sampled_from([1, 1, 2])) for _ in range(rank))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    spatial = tuple(draw(st.integers(1, 12 if rank < 3 else 6)) for _ in range(rank))
    pads = []
    for s, k, ld, rd in zip(spatial, kernel, lhs_dil, rhs_dil, strict=True):
        window = (k - 1) * rd + 1
        dilated = (s - 1) * ld + 1
        lo = draw(st.integers(-min(2, dilated - 1), window))
        hi = draw(st.integers(max(-2, window - dilated - lo), window))
        pads.append((lo, hi))
    groups = draw(st.sampled_from([1, 2, 3]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    layout = draw(st.integers(0, len(LAYOUTS[rank]) - 1))
    return rank, spatial, kernel, strides, tuple(pads), lhs_dil, rhs_dil, groups, cin, cout, layout


@settings(max_examples=15, deadline=None)
@given(problems(), st.integers(0, 2**16))
def test_hypothesis_against_lax(problem, seed):
    rank, spatial, kernel, strides, pads, lhs_dil, rhs_dil, groups, cin, cout, layout = problem
    rng = np.random.default_rng(seed)
    dn = LAYOUTS[rank][layout]
    x, w = _operands(rng, dn, 2, cin, cout, spatial, kernel, groups)
    kw = dict(
        window_strides=strides,
        padding=pads,
        lhs_dilation=lhs_dil,
        rhs_dilation=rhs_dil,
        dimension_numbers=dn,
        feature_group_count=groups,
    )
    plan = make_plan(x.shape, w.shape, **kw)
    if plan.is_empty:
        return
    check_forward_and_gradients(x, w, kw, rng)


# --- integers never ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32])
def test_auto_never_picks_fft_for_integers(dtype):
    # A kernel long enough that auto runs fft on floats.
    rng = np.random.default_rng(9)
    x, w = random_array(rng, (2, 2048, 16), dtype), random_array(rng, (255, 16, 16), dtype)
    kw = dict(window_strides=(1,), padding="SAME", dimension_numbers=("NWC", "WIO", "NWC"))
    floats = (x.astype(np.float32), w.astype(np.float32))
    assert jaxconv.chosen_strategy(*floats, **kw) == "fft"
    assert jaxconv.chosen_strategy(x, w, **kw) != "fft"
    plan = make_plan(x.shape, w.shape, **kw)
    assert _policy.choose(plan, dtype) != "fft"
    assert not _strategies.accepts("fft", plan, dtype)
    with pytest.raises(ValueError, match="floating-point"):
        jaxconv.conv_general_dilated(x, w, **kw, strategy="fft")


def test_auto_runs_col2im_where_a_long_kernel_meets_few_input_positions():
    # The input gradient of a 255-tap kernel on one output position: lax's direct count is
    # the kernel's padding, so fft pays against it, but col2im computes one column per tap.
    dn = ("NWC", "WIO", "NWC")
    grad_plan = make_plan((4, 1, 64), (255, 64, 32), (1,), ((254, 254),), None, None, dn)
    assert _policy.fft_pays(grad_plan, "im2col")
    assert _strategies.col2im_by_input(grad_plan)
    assert _policy.choose(grad_plan, np.float32) == "col2im"
    # On a long input fft keeps it.
    long_plan = make_plan((2, 2048, 16), (255, 16, 16), (1,), "SAME", None, None, dn)
    assert _policy.choose(long_plan, np.float32) == "fft"
    rng = np.random.default_rng(10)
    x, w = random_array(rng, (4, 1, 64)), random_array(rng, (255, 64, 32))
    kw = dict(window_strides=(1,), padding=((254, 254),), dimension_numbers=dn, precision=HIGHEST)
    assert jaxconv.chosen_strategy(x, w, **kw) == "col2im"
    with jax.enable_x64(True):
        x, w = x.astype(np.float64), w.astype(np.float64)
        assert jaxconv.chosen_strategy(x, w, **kw) == "col2im"
        got = jaxconv.conv_general_dilated(x, w, **kw)
        assert_close(got, lax.conv_general_dilated(x, w, **kw))


def _fft_ratio(plan):
    """The direct algorithm's multiply-adds over ``fft_cost``: what ``fft_pays`` compares
    with its thresholds."""
    return plan.flops / 2 / _strategies.fft_cost(plan, _strategies.fft_blocks(plan))


def _assert_auto_runs_fft(xs, ws, kw, seed):
    """``auto`` runs ``fft`` on arrays of shapes ``xs`` and ``ws`` under ``kw`` in float32
    and float64, and in float64 its output matches lax's."""
    rng = np.random.default_rng(seed)
    x, w = random_array(rng, xs), random_array(rng, ws)
    assert jaxconv.chosen_strategy(x, w, **kw) == "fft"
    with jax.enable_x64(True):
        x, w = x.astype(np.float64), w.astype(np.float64)
        assert jaxconv.chosen_strategy(x, w, **kw) == "fft"
        got = jaxconv.conv_general_dilated(x, w, **kw)
        assert_close(got, lax.conv_general_dilated(x, w, **kw, precision=HIGHEST))


def test_auto_runs_fft_on_groups_of_8_from_their_own_threshold():
    # Seed 4004's r003: a 255-tap kernel in 32 groups of 8 features. Against grouped GEMMs
    # that shallow fft pays from FFT_PAYS_GROUPS_OF_8, not from FFT_PAYS_GEMM.
    dn = ("NCW", "OIW", "NCW")
    kw = dict(window_strides=(1,), padding=((127, 127),), dimension_numbers=dn,
              feature_group_count=32)  # fmt: skip
    plan = make_plan((1, 256, 292), (128, 8, 255), **kw)
    ratio = _fft_ratio(plan)
    assert _policy.FFT_PAYS_GROUPS_OF_8 <= ratio < _policy.FFT_PAYS_GEMM
    assert _policy.fft_pays(plan, "grouped")
    _assert_auto_runs_fft((1, 256, 292), (128, 8, 255), kw, seed=11)
    # 16 features per group, at about the same ratio: the GEMMs' threshold keeps grouped.
    wide = make_plan((1, 512, 292), (128, 16, 255), **kw)
    assert not _policy.fft_pays(wide, "grouped")
    # A 5x5 kernel in groups of 8 stays grouped.
    nhwc = ("NHWC", "HWIO", "NHWC")
    small = make_plan((2, 24, 24, 256), (5, 5, 8, 256), (1, 1), "SAME", None, None, nhwc, 32)
    assert not _policy.fft_pays(small, "grouped")


def test_a_dense_layers_fused_loop_keeps_the_gemms_threshold():
    # A 9-tap 4 -> 64 1-d layer on 5x5407 (seed 9881's r317): the rules run `direct`, whose
    # few products per output run as fast as a GEMM's; at the fused loops' threshold fft
    # ran it at 4.2x lax, direct at 1.2x. (Forward, auto now runs im2col in direct's place,
    # _policy._gemm_over_direct: 0.7x direct's time here.) The same ratio on a depthwise
    # layer runs fft.
    dn = ("NWC", "WIO", "NWC")
    plan = make_plan((5, 5407, 4), (9, 4, 64), (1,), "SAME", None, None, dn)
    ratio = _fft_ratio(plan)
    assert _policy.FFT_PAYS_FUSED <= ratio < _policy.FFT_PAYS_GEMM
    assert not _policy.fft_pays(plan, "direct")
    rng = np.random.default_rng(12)
    x, w = random_array(rng, (5, 5407, 4)), random_array(rng, (9, 4, 64))
    kw = dict(window_strides=(1,), padding="SAME", dimension_numbers=dn)
    assert jaxconv.chosen_strategy(x, w, **kw) == "im2col"
    assert _policy._gemm_over_direct(plan, "direct", bool) == "im2col"
    assert_close(jaxconv.conv_general_dilated(x, w, **kw, precision=HIGHEST),
                 lax.conv_general_dilated(x, w, **kw, precision=HIGHEST))  # fmt: skip
    # A 127-tap depthwise layer at a ratio under the GEMMs' threshold: its fused loop's.
    depthwise = make_plan((1, 4096, 64), (127, 1, 64), (1,), "SAME", None, None, dn, 64)
    ratio = _fft_ratio(depthwise)
    assert _policy.FFT_PAYS_FUSED <= ratio < _policy.FFT_PAYS_GEMM
    assert _policy.fft_pays(depthwise, "depthwise")


def test_channels_first_groups_of_2_to_4_features_keep_direct_below_1_2():
    # Seed 8183's r007: a 5x5 dilated 16 -> 32 layer in 4 groups on 1x16x160x160 NCHW data,
    # at a ratio of 0.63, where the tree's direct took 0.38x fft's time: on channels-first
    # groups this shallow fft pays against direct from FFT_PAYS_CHANNELS_FIRST_DIRECT.
    # Channels-last, the same layer keeps the fused loops' threshold.
    kw = dict(window_strides=(1, 1), padding="SAME", rhs_dilation=(2, 2), feature_group_count=4)
    nchw, nhwc = ("NCHW", "OIHW", "NCHW"), ("NHWC", "HWIO", "NHWC")
    plan = make_plan((1, 16, 160, 160), (32, 4, 5, 5), dimension_numbers=nchw, **kw)
    ratio = _fft_ratio(plan._replace(channels_first=False))
    assert _policy.FFT_PAYS_FUSED <= ratio < _policy.FFT_PAYS_CHANNELS_FIRST_DIRECT
    assert not _policy.fft_pays(plan, "direct")
    with mock.patch.object(_policy, "FFT_PAYS_CHANNELS_FIRST_DIRECT", _policy.FFT_PAYS_FUSED):
        assert _policy.choose(plan, jnp.float32, decide_layout=True) == "fft"
    assert _policy.choose(plan, jnp.float32, decide_layout=True) == "direct"
    last = make_plan((1, 160, 160, 16), (5, 5, 4, 32), dimension_numbers=nhwc, **kw)
    assert _policy.fft_pays(last, "direct")
    # Values against lax, on a smaller map.
    rng = np.random.default_rng(15)
    x, w = random_array(rng, (1, 16, 40, 40)), random_array(rng, (32, 4, 5, 5))
    kw = dict(kw, dimension_numbers=nchw, precision=HIGHEST)
    assert jaxconv.chosen_strategy(x, w, **kw) == "direct"
    assert_close(jaxconv.conv_general_dilated(x, w, **kw), lax.conv_general_dilated(x, w, **kw))


def test_shallow_1d_layers_run_fft_from_their_own_threshold():
    # Seed 7474's r295: a 63-tap 12 -> 8 layer at stride 2 on 1x12x12574 NCW data, where
    # col2im's GEMM is 12 deep: forced, it ran 2.4x im2col's time and fft 0.41x col2im's.
    dn = ("NCW", "OIW", "NCW")
    kw = dict(window_strides=(2,), padding="SAME", dimension_numbers=dn)
    plan = make_plan((1, 12, 12574), (8, 12, 63), **kw)
    ratio = _fft_ratio(plan._replace(channels_first=False))
    assert _policy.FFT_PAYS_SHALLOW_1D <= ratio < _policy.FFT_PAYS_GEMM
    assert _policy.fft_pays(plan, "col2im") and _policy.fft_pays(plan, "im2col")
    _assert_auto_runs_fft((1, 12, 12574), (8, 12, 63), kw, seed=13)
    # 32 input features at a like ratio keep the GEMMs' threshold, as do 2-d layers and
    # shallow layers run as direct or banded.
    deep = make_plan((1, 32, 1000), (32, 32, 63), **kw)
    deep_ratio = _fft_ratio(deep._replace(channels_first=False))
    assert _policy.FFT_PAYS_SHALLOW_1D <= deep_ratio < _policy.FFT_PAYS_GEMM
    assert not _policy.fft_pays(deep, "col2im")
    assert not _policy.fft_pays(plan, "banded")
    assert not _policy.shallow_1d_gemm(
        make_plan((1, 12, 64, 64), (8, 12, 9, 9), (1, 1), "SAME", None, None,
                  ("NCHW", "OIHW", "NCHW")), "col2im")  # fmt: skip


def test_strided_long_depthwise_kernels_on_few_features_run_fft_over_taps():
    # Seed 9824's layers: a 154-tap stride-2 depthwise layer of 24 features, where the tree
    # runs one pass per tap and fft took 0.38x its time; at its ratio, under the fused
    # loops' threshold, fft pays from FFT_PAYS_DEPTHWISE_TAPS. On 64 features (where
    # depthwise_taps_pay puts taps in depthwise's place) taps stay.
    dn = ("NWC", "WIO", "NWC")
    kw = dict(window_strides=(2,), padding="VALID", dimension_numbers=dn, feature_group_count=24)
    plan = make_plan((1, 878, 24), (154, 1, 24), **kw)
    ratio = _fft_ratio(plan)
    assert _policy.FFT_PAYS_DEPTHWISE_TAPS <= ratio < _policy.FFT_PAYS_FUSED
    assert _policy.fft_pays(plan, "taps") and not _policy.fft_pays(plan, "depthwise")
    with mock.patch.object(_policy, "FFT_PAYS_DEPTHWISE_TAPS", _policy.FFT_PAYS_FUSED):
        assert _policy.choose(plan, jnp.float32, decide_layout=True) == "taps"
    _assert_auto_runs_fft((1, 878, 24), (154, 1, 24), kw, seed=14)
    wide_kw = dict(kw, feature_group_count=64)
    wide = make_plan((1, 878, 64), (154, 1, 64), **wide_kw)
    assert _policy.FFT_PAYS_DEPTHWISE_TAPS <= _fft_ratio(wide) < _policy.FFT_PAYS_FUSED
    assert not _policy.fft_pays(wide, "taps")


def test_refuses_batch_groups():
    plan = make_plan((4, 5, 2), (3, 2, 4), (1,), "SAME", None, None, ("NWC", "WIO", "NWC"), 1, 2)
    assert not _strategies.accepts("fft", plan)


def test_fast_sizes():
    assert [_strategies.fast_size(n) for n in (1, 11, 13, 17, 97, 1024, 1025)] == [
        1,
        12,
        14,
        18,
        98,
        1024,
        1029,
    ]


def test_compiled_program_has_ffts_and_no_convolution():
    rng = np.random.default_rng(10)
    x, w = random_array(rng, (1, 256, 4)), random_array(rng, (63, 4, 4))
    kw = dict(window_strides=(1,), padding="SAME", dimension_numbers=("NWC", "WIO", "NWC"))

    def loss(x, w):
        return _fft(kw)(x, w).sum()

    text = jax.jit(jax.grad(loss, (0, 1))).lower(x, w).as_text()
    assert "fft" in text
    assert "convolution" not in text
