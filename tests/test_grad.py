"""The fast gradients (jaxconv._grad) against lax's, in both modes and to second order."""

from __future__ import annotations

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import (
    HIGHEST,
    assert_close,
    assert_second_order_matches,
    random_array,
    random_tangents,
)
from jax import lax

import jaxconv
from jaxconv import _grad, _policy, _strategies, _taps, _tune
from jaxconv._plan import make_plan

NHWC = ("NHWC", "HWIO", "NHWC")

CASES = {
    "same": dict(x=(2, 7, 6, 3), w=(3, 3, 3, 4), window_strides=(1, 1), padding="SAME"),
    "strided_uneven": dict(
        x=(2, 9, 8, 4), w=(3, 2, 4, 6), window_strides=(2, 3), padding=((1, 2), (0, 1))
    ),
    "negative_pad_dilated": dict(
        x=(1, 9, 8, 4),
        w=(3, 2, 4, 6),
        window_strides=(2, 1),
        padding=((-1, 2), (2, -1)),
        rhs_dilation=(2, 1),
    ),
    "grouped": dict(
        x=(2, 7, 7, 8), w=(3, 3, 2, 8), window_strides=(1, 2), padding="SAME", feature_group_count=4
    ),
    "depthwise_multiplier": dict(
        x=(2, 7, 7, 4), w=(3, 3, 1, 8), window_strides=(2, 2), padding="SAME", feature_group_count=4
    ),
    # 'auto' runs winograd for the forward pass and the input gradient (16 features)
    "winograd": dict(x=(2, 8, 7, 16), w=(3, 3, 16, 16), window_strides=(1, 1), padding="SAME"),
    "input_dilated": dict(
        x=(2, 5, 4, 3),
        w=(3, 4, 3, 5),
        window_strides=(1, 2),
        padding=((2, 1), (3, 0)),
        lhs_dilation=(2, 3),
    ),
    "input_dilated_grouped": dict(
        x=(2, 5, 4, 4),
        w=(3, 3, 2, 6),
        window_strides=(1, 1),
        padding=((2, 2), (1, 1)),
        lhs_dilation=(2, 2),
        feature_group_count=2,
    ),
}


def _operands(case, seed=0):
    rng = np.random.default_rng(seed)
    kw = {k: v for k, v in case.items() if k not in ("x", "w")}
    x, w = random_array(rng, case["x"]), random_array(rng, case["w"])
    return x, w, kw, rng


def _pair(kw, strategy="auto"):
    def ours(x, w):
        return jaxconv.conv_general_dilated(
            x, w, dimension_numbers=NHWC, precision=HIGHEST, strategy=strategy, **kw
        )

    def ref(x, w):
        return lax.conv_general_dilated(x, w, dimension_numbers=NHWC, precision=HIGHEST, **kw)

    # Jitted: the tests that transform them eagerly (a Hessian-vector product) then compile
    # each transformation once instead of dispatching jaxconv's many small ops one at a time.
    return jax.jit(ours), jax.jit(ref)


def _strategies_for(x, w, kw):
    dn = jaxconv.conv_dimension_numbers(4, NHWC)
    p = make_plan(
        x.shape,
        w.shape,
        kw["window_strides"],
        kw["padding"],
        kw.get("lhs_dilation"),
        kw.get("rhs_dilation"),
        dn,
        kw.get("feature_group_count", 1),
    )
    return [s for s in _strategies.STRATEGIES if _strategies.accepts(s, p)]


@pytest.fixture(autouse=True)
def _pinned_rules(hand_rules):
    """The cases below were built to reach given strategies and layouts under the hand
    rules; pinned, a refit of auto's rules cannot move them (see conftest.hand_rules)."""


def test_winograd_case_runs_winograd_both_ways():
    # So that the tests below transpose winograd itself (the input gradient's tangent map).
    x, w, kw, _ = _operands(CASES["winograd"])
    p = make_plan(x.shape, w.shape, **kw, dimension_numbers=NHWC)
    assert _policy.choose(p) == "winograd"
    assert _policy.choose(_grad.input_grad_plan(p)) == "winograd"


@pytest.mark.parametrize("name", list(CASES))
def test_vjp_and_jvp_match_lax_for_every_strategy(name):
    x, w, kw, rng = _operands(CASES[name])
    _, ref = _pair(kw)
    tangents = random_tangents(ref, x, w, rng)
    want = _derivatives(ref, x, w, *tangents, alone=True)
    for i, strategy in enumerate(_strategies_for(x, w, kw)):
        ours, _ = _pair(kw, strategy)
        got = _derivatives(ours, x, w, *tangents, alone=i == 0)
        assert len(got) == (6 if i == 0 else 4)
        for g, expected in zip(got, want[: len(got)], strict=True):
            assert_close(g, expected)


@functools.partial(jax.jit, static_argnums=0, static_argnames="alone")
def _derivatives(f, x, w, tx, tw, ct, alone=False):
    """``f``'s output, vjp of ``ct``, jvp of ``(tx, tw)``, and (with ``alone``) each
    argument's gradient of its sum alone (one tangent at a time exercises the symbolic-zero
    paths, the same for every strategy), as one jitted program: compiling it costs far less
    than dispatching jaxconv's many small ops eagerly, transformation by transformation."""
    y, vjp = jax.vjp(f, x, w)
    grads = [jax.grad(_summed(f), argnum)(x, w) for argnum in (0, 1)] if alone else []
    return y, *vjp(ct), jax.jvp(f, (x, w), (tx, tw))[1], *grads


def _assert_vjp_jvp_match(ours, ref, x, w, rng):
    """Output, vjp and jvp of ``ours`` equal ``ref``'s (the single-argument gradients are
    checked once per case in :func:`test_vjp_and_jvp_match_lax_for_every_strategy`)."""
    tangents = random_tangents(ref, x, w, rng)
    for got, want in zip(
        _derivatives(ours, x, w, *tangents), _derivatives(ref, x, w, *tangents), strict=True
    ):
        assert_close(got, want)


def _summed(f):
    return lambda x, w: f(x, w).sum()


@pytest.mark.parametrize("name", ["strided_uneven", "depthwise_multiplier", "input_dilated"])
def test_second_order_both_modes(name):
    x, w, kw, rng = _operands(CASES[name])
    assert_second_order_matches(*_pair(kw), x, w, rng)


@pytest.mark.parametrize("name", ["same", "grouped", "depthwise_multiplier"])
def test_hessian_vector_product_matches_lax(name):
    x, w, kw, rng = _operands(CASES[name])
    ours, ref = _pair(kw)
    v = random_array(rng, w.shape)

    def hvp(f):
        loss = lambda w: (f(x, w) ** 2).sum()  # noqa: E731
        return jax.jvp(jax.grad(loss), (w,), (v,))[1]

    assert_close(hvp(ours), hvp(ref))


def test_input_grad_plan_is_lax_transpose_rule():
    # The plan of the input gradient of a strided, padded, dilated convolution has the
    # input's spatial size as its output (checked against lax's own vjp shape).
    x, w, kw, _ = _operands(CASES["negative_pad_dilated"])
    dn = jaxconv.conv_dimension_numbers(4, NHWC)
    plan = make_plan(
        x.shape, w.shape, kw["window_strides"], kw["padding"], None, kw["rhs_dilation"], dn
    )
    tplan = _grad.input_grad_plan(plan)
    assert tplan.out_spatial == plan.in_spatial
    assert tplan.lhs_dilation == plan.strides


@pytest.mark.parametrize(
    "dtype, preferred",
    [
        (jnp.bfloat16, None),
        (jnp.bfloat16, np.float32),
        (np.float16, np.float32),
        (np.complex64, None),
    ],
    ids=str,
)
@pytest.mark.parametrize("name", ["strided_uneven", "grouped", "input_dilated"])
def test_gradients_in_other_dtypes(dtype, preferred, name):
    case = CASES[name]
    rng = np.random.default_rng(1)
    kw = {k: v for k, v in case.items() if k not in ("x", "w")}
    x, w = random_array(rng, case["x"], dtype), random_array(rng, case["w"], dtype)

    def ours(x, w):
        return jaxconv.conv_general_dilated(
            x, w, dimension_numbers=NHWC, preferred_element_type=preferred, **kw
        )

    def ref(x, w):
        return lax.conv_general_dilated(
            x, w, dimension_numbers=NHWC, preferred_element_type=preferred, **kw
        )

    y, vjp = jax.vjp(ours, x, w)
    _, vjp_ref = jax.vjp(ref, x, w)
    ct = random_array(rng, y.shape, y.dtype)
    for got, want in zip(vjp(ct), vjp_ref(ct), strict=True):
        assert_close(got, want, dtype)


# One small layer per form of the kernel gradient (jaxconv._grad.kernel_grad and the
# transposes of _kernel_grad_fn), with the thresholds that keep small layers off it lowered:
# (x, w, dimension numbers, keywords, thresholds, the form's predicate on the plan).
KERNEL_GRADIENT_FORMS = {
    "by_output": ((3, 4, 9), (5, 4, 9), ("NCW", "OIW", "NCW"),
                  dict(window_strides=(2,), padding="VALID"), {}, _grad.kernel_grad_by_output),
    "bound_oihw": ((2, 3, 3, 4), (20, 4, 2, 2), ("NHWC", "OIHW", "NHWC"),
                   dict(padding="VALID"), {"KERNEL_BOUND_ELEMENTS": 1}, _grad.kernel_bound_grad),
    "bound_hwio": ((1, 4, 5, 6), (3, 2, 6, 24), NHWC, dict(padding="VALID"),
                   {"KERNEL_BOUND_ELEMENTS": 1}, _grad.kernel_bound_grad),
    "flat": ((2, 6, 7, 16), (3, 3, 16, 16), NHWC, dict(padding="SAME"),
             {"FLAT_GRAD_ROWS": 1}, _grad.flat_kernel_grad),
    "few_features": ((2, 6, 7, 3), (3, 3, 3, 8), NHWC, dict(padding="SAME"), {},
                     lambda p: p.group_in < 16),
    "grouped": ((2, 6, 7, 8), (3, 3, 2, 8), NHWC, dict(padding="SAME", feature_group_count=4),
                {}, lambda p: p.feature_groups == 4),
    "input_dilated": ((2, 5, 4, 6), (3, 3, 6, 4), NHWC,
                      dict(padding=((1, 1), (2, 1)), lhs_dilation=(2, 2)), {},
                      lambda p: p.lhs_dilation == (2, 2)),
}  # fmt: skip


@pytest.mark.parametrize(
    "dtype, preferred",
    [(jnp.bfloat16, None), (np.float16, None), (jnp.bfloat16, np.float32)],
    ids=str,
)
@pytest.mark.parametrize("form", sorted(KERNEL_GRADIENT_FORMS))
def test_every_kernel_gradient_form_keeps_narrow_dtypes(form, dtype, preferred, monkeypatch):
    # The kernel-bound form once returned its float32 sum: a bfloat16 layer's kernel
    # cotangent then met a float32 one, and differentiating raised in jax.linear_transpose.
    x_shape, w_shape, dn, kw, thresholds, holds = KERNEL_GRADIENT_FORMS[form]
    for name, value in thresholds.items():
        monkeypatch.setattr(_grad, name, value)
    kw = dict(kw, window_strides=kw.get("window_strides", (1,) * (len(x_shape) - 2)))
    assert holds(make_plan(x_shape, w_shape, dimension_numbers=dn, **kw))
    kw["preferred_element_type"] = preferred
    rng = np.random.default_rng(2)
    x, w = random_array(rng, x_shape, dtype), random_array(rng, w_shape, dtype)
    ours = functools.partial(jaxconv.conv_general_dilated, dimension_numbers=dn, **kw)
    ref = functools.partial(lax.conv_general_dilated, dimension_numbers=dn, **kw)
    y, vjp = jax.vjp(jax.jit(ours), x, w)
    _, vjp_ref = jax.vjp(ref, x, w)
    ct = random_array(rng, y.shape, y.dtype)
    for got, want in zip(vjp(ct), vjp_ref(ct), strict=True):
        assert_close(got, want, dtype)


def test_a_differentiated_single_image_pointwise_layer_runs_col2im_as_it_is():
    # One NCHW image, 1x1 1 -> 64: forward alone auto runs direct, which moves the features
    # last and back; differentiated, col2im's one (O, C) @ (C, S) GEMM on the data as it is
    # (a 158x158 image: 0.87x -> 0.49x lax forward and backward, temp 18.3 -> 6.1 MiB).
    xs, ws, dn = (1, 1, 40, 40), (64, 1, 1, 1), ("NCHW", "OIHW", "NCHW")
    kw = dict(window_strides=(1, 1), padding="VALID", dimension_numbers=dn)
    plan = make_plan(xs, ws, (1, 1), "VALID", None, None, dn, 1, 1, "zeros")
    assert _policy.choose(plan, jnp.float32, decide_layout=True) == "direct"
    assert _policy.differentiated_choice(plan, "direct", jnp.float32) == "col2im"
    assert _policy.runs_channels_first(plan, "col2im")
    # Several images, or channels-last data: direct stays.
    for other in (plan._replace(batch=2), make_plan(
        (1, 40, 40, 1), (1, 1, 1, 64), (1, 1), "VALID", None, None,
        ("NHWC", "HWIO", "NHWC"), 1, 1, "zeros",
    )):  # fmt: skip
        assert _policy.differentiated_choice(other, "direct", jnp.float32) == "direct"
    rng = np.random.default_rng(0)
    x, w = random_array(rng, xs), random_array(rng, ws)
    ours = functools.partial(jaxconv.conv_general_dilated, **kw)
    ref = functools.partial(lax.conv_general_dilated, **kw)
    y, vjp = jax.vjp(jax.jit(ours), x, w)
    want, vjp_ref = jax.vjp(ref, x, w)
    ct = random_array(rng, y.shape)
    for got, expected in zip([y, *vjp(ct)], [want, *vjp_ref(ct)], strict=True):
        assert_close(got, expected)


CHANNELS_FIRST = {
    "nchw_strided": dict(
        x=(2, 4, 9, 8),
        w=(4, 1, 3, 2),
        dn=("NCHW", "OIHW", "NCHW"),
        window_strides=(2, 3),
        padding=((1, 2), (0, 1)),
    ),
    "nchw_cropped_dilated": dict(
        x=(1, 3, 9, 8),
        w=(3, 1, 3, 2),
        dn=("NCHW", "OIHW", "NCHW"),
        window_strides=(2, 1),
        padding=((-1, 2), (2, -1)),
        rhs_dilation=(2, 1),
    ),
    "nchw_input_dilated": dict(
        x=(2, 4, 5, 4),
        w=(4, 1, 3, 3),
        dn=("NCHW", "OIHW", "NCHW"),
        window_strides=(1, 1),
        padding=((2, 1), (1, 1)),
        lhs_dilation=(2, 2),
    ),
    "nchw_grouped": dict(
        x=(2, 16, 9, 8),
        w=(32, 2, 3, 3),
        dn=("NCHW", "OIHW", "NCHW"),
        window_strides=(2, 2),
        padding=((1, 1), (1, 0)),
        groups=8,
    ),
    # Unit strides: the taps are slices of the input padded once (cropped here).
    "nchw_grouped_unit_stride": dict(
        x=(1, 8, 6, 7),
        w=(8, 2, 3, 3),
        dn=("NCHW", "OIHW", "NCHW"),
        window_strides=(1, 1),
        padding=((1, 2), (-1, 1)),
        groups=4,
    ),
    # 'auto' runs winograd in (N, C, H, W) for the forward pass and the input gradient.
    "nchw_winograd": dict(
        x=(1, 16, 8, 8),
        w=(16, 16, 3, 3),
        dn=("NCHW", "OIHW", "NCHW"),
        window_strides=(1, 1),
        padding="SAME",
        groups=1,
    ),
    # Winograd forward; the input gradient has too few tiles for it and runs channels-last.
    "nchw_winograd_padded": dict(
        x=(1, 16, 6, 6),
        w=(16, 16, 3, 3),
        dn=("NCHW", "OIHW", "NCHW"),
        window_strides=(1, 1),
        padding=((2, 2), (2, 2)),
        groups=1,
    ),
    "nchw_depthwise_multiplier": dict(
        x=(2, 4, 7, 6),
        w=(8, 1, 3, 3),
        dn=("NCHW", "OIHW", "NCHW"),
        window_strides=(2, 1),
        padding="SAME",
    ),
    "ncw_grouped_input_dilated": dict(
        x=(2, 8, 7),
        w=(8, 4, 3),
        dn=("NCW", "OIW", "NCW"),
        window_strides=(1,),
        padding=((2, 2),),
        lhs_dilation=(2,),
        groups=2,
    ),
    "ncw": dict(
        x=(2, 4, 9), w=(4, 1, 3), dn=("NCW", "OIW", "NCW"), window_strides=(2,), padding="SAME"
    ),
    "ncwh_to_nchw": dict(
        x=(2, 4, 7, 6),
        w=(4, 1, 3, 3),
        dn=("NCWH", "OIWH", "NCHW"),
        window_strides=(2, 1),
        padding="SAME",
    ),
}


def _channels_first_pair(name):
    case = dict(CHANNELS_FIRST[name])
    rng = np.random.default_rng(2)
    x, w = random_array(rng, case.pop("x")), random_array(rng, case.pop("w"))
    dn = case.pop("dn")
    groups = case.pop("groups", x.shape[1])
    kw = dict(dimension_numbers=dn, precision=HIGHEST, feature_group_count=groups, **case)

    def ours(x, w):
        return jaxconv.conv_general_dilated(x, w, **kw)

    def ref(x, w):
        return lax.conv_general_dilated(x, w, **kw)

    return ours, ref, x, w, rng


@pytest.mark.parametrize("name", list(CHANNELS_FIRST))
def test_channels_first_matches_lax_to_second_order(name):
    # Depthwise and small-group convolutions on channels-first data run in (N, C, *spatial)
    # without layout transposes.
    ours, ref, x, w, rng = _channels_first_pair(name)
    _assert_vjp_jvp_match(ours, ref, x, w, rng)
    # In float64: Winograd's transforms round more than a direct sum does, and the second
    # derivatives of sin(f) compound it past float32's tolerance (7e-5 on values of 2).
    with jax.enable_x64(True):
        assert_second_order_matches(ours, ref, x.astype(np.float64), w.astype(np.float64), rng)


def test_channels_first_scanned_kernel_grad_matches_lax(monkeypatch):
    # Past SCAN_TAPS_BYTES a group's kernel gradient takes one tap at a time in a scan.
    monkeypatch.setattr(_taps, "SCAN_TAPS_BYTES", 0)
    ours, ref, x, w, rng = _channels_first_pair("nchw_grouped_unit_stride")
    _assert_vjp_jvp_match(ours, ref, x, w, rng)
    assert "stablehlo.while" in jax.jit(jax.grad(lambda w: ours(x, w).sum())).lower(w).as_text()


@pytest.mark.parametrize("name", ["ncw_input_dilated", "nchw_same", "ncdhw"])
def test_channels_first_col2im_matches_lax(name, monkeypatch):
    # col2im computes channels-first data as it is (here on small inputs too); its kernel
    # gradient moves it channels-last, per tap or, input-dilated, for the polyphase form's
    # transpose.
    monkeypatch.setattr(_policy, "COL2IM_CHANNELS_FIRST_POSITIONS", 0)
    x_shape, w_shape, dn, kw = {
        "ncw_input_dilated": ((2, 6, 9), (4, 6, 3), ("NCW", "OIW", "NCW"),
                              dict(padding=((2, 1),), lhs_dilation=(2,))),
        "nchw_same": ((2, 6, 9, 7), (3, 2, 6, 4), ("NCHW", "HWIO", "NCHW"),
                      dict(padding="SAME", rhs_dilation=(1, 2))),
        "ncdhw": ((1, 3, 5, 4, 6), (2, 3, 2, 3, 2), ("NCDHW", "OIDHW", "NCDHW"),
                  dict(padding=((1, 1), (0, 2), (1, 0)), lhs_dilation=(1, 2, 1))),
    }[name]  # fmt: skip
    rng = np.random.default_rng(3)
    x, w = random_array(rng, x_shape), random_array(rng, w_shape)
    kw = dict(
        window_strides=(1,) * (len(x_shape) - 2), dimension_numbers=dn, precision=HIGHEST, **kw
    )
    plan = make_plan(x_shape, w_shape, **kw)
    assert _policy.in_layout(plan, "col2im").channels_first

    def ours(x, w):
        return jaxconv.conv_general_dilated(x, w, strategy="col2im", **kw)

    def ref(x, w):
        return lax.conv_general_dilated(x, w, **kw)

    _assert_vjp_jvp_match(ours, ref, x, w, rng)


def test_nchw_winograd_cases_run_winograd_channels_first():
    # So that the test above transposes channels-first winograd, and the channels-last
    # fallback of an input gradient that does not pay for it.
    dn = jaxconv.conv_dimension_numbers(4, ("NCHW", "OIHW", "NCHW"))
    for name, grad_choice in (("nchw_winograd", "winograd"), ("nchw_winograd_padded", None)):
        case = CHANNELS_FIRST[name]
        p = make_plan(case["x"], case["w"], (1, 1), case["padding"], dimension_numbers=dn)
        assert _policy.decide(p, "auto")[1].channels_first
        assert _policy.choose(p, decide_layout=True) == "winograd"
        tplan = _grad.input_grad_plan(p._replace(channels_first=True))
        assert _policy.channels_first_choice(tplan) == grad_choice


@pytest.mark.parametrize("k, once", [(3, False), (5, True), (7, True)])
def test_channels_first_depthwise_pads_once_beyond_a_3x3_kernel(k, once):
    # One input feature per group on channels-first data: the fused loop reads each tap
    # padded (no buffer) up to 9 taps, and slices of one padded input beyond (each padded
    # tap costs the loop its own bounds checks: 3-9x slower forward on 5x5 to 9x9 kernels).
    rng = np.random.default_rng(0)
    x = random_array(rng, (2, 8, 12, 12), np.float32)  # NCHW
    w = random_array(rng, (8, 1, k, k), np.float32)  # OIHW, depthwise
    kw = dict(dimension_numbers=("NCHW", "OIHW", "NCHW"), feature_group_count=8)
    ours = jax.jit(
        lambda x, w: jaxconv.conv_general_dilated(x, w, (1, 1), "SAME", strategy="depthwise", **kw)
    )
    want = lax.conv_general_dilated(x, w, (1, 1), "SAME", **kw)
    assert_close(ours(x, w), want)
    hlo = ours.lower(x, w).compile().as_text()
    padded = f"f32[2,8,{12 + k - 1},{12 + k - 1}]"
    assert (padded in hlo) == once


def test_channels_first_depthwise_compiles_without_activation_transposes():
    x = np.ones((2, 8, 12, 12), np.float32)  # NCHW
    w = np.ones((8, 1, 3, 3), np.float32)  # OIHW, depthwise

    def loss(x, w):
        y = jaxconv.conv_general_dilated(
            x, w, (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW"), feature_group_count=8
        )
        return (y**2).sum()

    hlo = jax.jit(jax.grad(loss, (0, 1))).lower(x, w).as_text()
    transposed = [line for line in hlo.splitlines() if "stablehlo.transpose" in line]
    assert transposed, "the kernel is moved to (*K, I, O)"
    assert not any("2x8x12x12" in line for line in transposed), transposed


@pytest.mark.parametrize(
    "x_shape, w_shape, strides, dn, first",
    [
        ((2, 6, 9, 8), (5, 6, 3, 3), (1, 1), ("NCHW", "OIHW", "NCHW"), True),
        ((2, 8, 11), (8, 8, 3), (1,), ("NCW", "OIW", "NCW"), True),
        ((1, 4, 5, 4, 6), (8, 4, 2, 2, 2), (1, 1, 1), ("NCDHW", "OIDHW", "NCDHW"), True),
        ((2, 6, 9, 8), (5, 6, 1, 1), (1, 1), ("NCHW", "OIHW", "NCHW"), False),  # one tap
        ((2, 6, 9, 8), (5, 6, 3, 3), (2, 2), ("NCHW", "OIHW", "NCHW"), False),  # strided
        ((2, 9, 9, 8), (5, 9, 3, 3), (1, 1), ("NCHW", "OIHW", "NCHW"), False),  # 9 features
    ],
)
def test_dense_direct_runs_channels_first_unless_differentiated(
    x_shape, w_shape, strides, dn, first, monkeypatch
):
    # A dense layer of few features on channels-first data: direct's fused loop runs along
    # its contiguous rows, and its derivatives channels-last (faster there, as measured).
    kw = dict(window_strides=strides, padding="SAME", dimension_numbers=dn, precision=HIGHEST)
    assert _policy.in_layout(make_plan(x_shape, w_shape, **kw), "direct").channels_first == first
    rng = np.random.default_rng(4)
    x, w = random_array(rng, x_shape), random_array(rng, w_shape)

    def ours(x, w):
        return jaxconv.conv_general_dilated(x, w, strategy="direct", **kw)

    def ref(x, w):
        return lax.conv_general_dilated(x, w, **kw)

    _assert_vjp_jvp_match(ours, ref, x, w, rng)
    with jax.enable_x64(True):
        assert_second_order_matches(ours, ref, x.astype(np.float64), w.astype(np.float64), rng)
    # The layouts direct ran in: channels-first forward only where not differentiated.
    run, layouts = _policy.run, []

    def recording_run(policy, name, x, w, plan):
        layouts.append((name, plan.channels_first))
        return run(policy, name, x, w, plan)

    monkeypatch.setattr(_policy, "run", recording_run)
    jax.jit(ours).lower(x, w)
    assert layouts == [("direct", first)]
    layouts.clear()
    jax.jit(jax.grad(lambda x, w: ours(x, w).sum(), (0, 1))).lower(x, w)
    assert ("direct", False) in layouts and ("direct", True) not in layouts


WIDE = dict(x=(1, 6, 5, 16), w=(3, 2, 16, 4), window_strides=(2, 1), padding=((1, 2), (-1, 1)))


@pytest.mark.parametrize(
    "name", ["same", "strided_uneven", "negative_pad_dilated", "grouped", "input_dilated", "wide"]
)
def test_scanned_taps_match_lax(name, monkeypatch):
    # Layers whose taps exceed SCAN_TAPS_BYTES run taps and the kernel gradient as a scan;
    # with the threshold at 0 every layer here does.
    monkeypatch.setattr(_taps, "SCAN_TAPS_BYTES", 0)
    # 'wide' has 16 input features: its kernel gradient is the per-tap (scanned) one.
    x, w, kw, rng = _operands(WIDE if name == "wide" else CASES[name])
    ours, ref = _pair(kw, "taps")
    _assert_vjp_jvp_match(ours, ref, x, w, rng)
    if name == "strided_uneven":
        assert_second_order_matches(ours, ref, x, w, rng)
    hlo = jax.jit(ours).lower(x, w).as_text()
    assert "stablehlo.while" in hlo


def test_reverse_mode_saves_no_stacked_taps(monkeypatch):
    # The scanned kernel gradient recomputes each tap of the input in the backward pass (its
    # body is checkpointed); without that, JAX's partial evaluation of the scan saves all K
    # taps between the passes, stacked into one (K, ...) residual.
    monkeypatch.setattr(_taps, "SCAN_TAPS_BYTES", 0)
    x = jnp.ones((2, 12, 12, 32), jnp.float32)
    w = jnp.ones((5, 5, 32, 8), jnp.float32)

    def loss(x, w):
        y = jaxconv.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=NHWC)
        return jnp.sum(y**2)

    hlo = jax.jit(jax.grad(loss, (0, 1))).lower(x, w).compile().as_text()
    assert "while" in hlo
    tap = 2 * 12 * 12 * 32
    stacked = [
        int(np.prod([int(d) for d in dims.split(",")]))
        for dims in re.findall(r"f32\[(25,[\d,]+)\]", hlo)
    ]
    # The (25, 32, 8) kernel gradient is there; no (25, 2, 12, 12, ..., 32) stack of taps.
    assert stacked and max(stacked) < 25 * tap


@pytest.mark.parametrize("channels_first", [False, True])
@pytest.mark.parametrize("features", [8, 16])  # stacked taps, one GEMM per tap (channels-last)
@pytest.mark.parametrize("batch, side, k", [(4, 32, 3), (1, 40, 5)])
def test_kernel_gradient_reads_taps_and_cotangent_in_place(
    channels_first, features, batch, side, k
):
    # An ungrouped layer's kernel gradient with many positions (FLAT_GRAD_ROWS), or enough
    # positions times taps (FLAT_GRAD_TAP_ROWS: a 5x5 kernel on 1600 positions), is plain
    # GEMMs over batch and positions; XLA:CPU had copied the cotangent (and channels-last
    # taps) into a transposed layout first.
    rng = np.random.default_rng(0)
    x = random_array(rng, (batch, side, side, features), np.float32)
    rows = batch * side * side
    many = rows * k * k >= _grad.FLAT_GRAD_TAP_ROWS and rows >= _grad.FLAT_GRAD_FEWEST_ROWS
    assert rows >= _grad.FLAT_GRAD_ROWS or (rows < _grad.FLAT_GRAD_ROWS and many)
    w = random_array(rng, (k, k, features, 8), np.float32)
    dn = jaxconv.conv_dimension_numbers(4, NHWC)
    plan = make_plan(x.shape, w.shape, (1, 1), "SAME", dimension_numbers=dn)
    y, vjp = jax.vjp(
        lambda w: lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=NHWC), w
    )
    ct = random_array(rng, y.shape, np.float32)
    expected = vjp(ct)[0]
    if channels_first:
        plan = plan._replace(channels_first=True)
        x, ct = jnp.moveaxis(x, -1, 1), jnp.moveaxis(ct, -1, 1)
    grad = jax.jit(lambda ct, x: _grad.kernel_grad(ct, x, plan))
    np.testing.assert_allclose(grad(ct, x), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    hlo = grad.lower(ct, x).compile().as_text()
    moved = [
        int(np.prod([int(d) for d in dims.split(",")]))
        for dims in re.findall(r"= f32\[([\d,]+)\]\{[\d,]+\} (?:transpose|copy)\(", hlo)
    ]
    assert not [m for m in moved if m >= ct.size], moved


def _checked_kernel_grad(rng, x, w, plan, dn, groups=1):
    """The compiled HLO of ``_grad.kernel_grad`` of a 3x3 SAME layer (``plan``, ``x`` in its
    compute layout), its result checked against lax's kernel gradient."""
    conv = functools.partial(
        lax.conv_general_dilated, window_strides=(1, 1), padding="SAME", dimension_numbers=dn,
        feature_group_count=groups,
    )  # fmt: skip
    y, vjp = jax.vjp(lambda w: conv(x, w), w)
    ct = random_array(rng, y.shape, np.float32)
    expected = vjp(ct)[0]
    grad = jax.jit(lambda ct, x: _grad.kernel_grad(ct, x, plan))
    np.testing.assert_allclose(grad(ct, x), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    return grad.lower(ct, x).compile().as_text()


def _few_feature_kernel_grad(features, out, batch):
    """A 3x3 NHWC layer of ``features`` -> ``out`` on ``batch`` 64x64 images: its plan, and
    the compiled HLO of its kernel gradient, checked against lax's."""
    rng = np.random.default_rng(0)
    x = random_array(rng, (batch, 64, 64, features), np.float32)
    w = random_array(rng, (3, 3, features, out), np.float32)
    dn = jaxconv.conv_dimension_numbers(4, NHWC)
    plan = make_plan(x.shape, w.shape, (1, 1), "SAME", dimension_numbers=dn)
    return plan, _checked_kernel_grad(rng, x, w, plan, NHWC)


@pytest.mark.parametrize(
    "features, out, batch, per_tap", [(8, 8, 3, True), (2, 8, 12, False), (4, 64, 6, False)]
)
def test_few_feature_kernel_gradient_stacks_taps_only_where_that_pays(
    features, out, batch, per_tap
):
    # Few input features: the kernel gradient is one GEMM on the K stacked taps, unless the
    # taps scan and there are STACKED_GRAD_ROWS positions, 3 features or more and at most 8
    # outputs per feature: then one GEMM per tap, in the scan (per_tap_kernel_grad).
    plan, hlo = _few_feature_kernel_grad(features, out, batch)
    assert _taps.scan_taps(plan, np.float32) and batch * 64 * 64 >= _grad.STACKED_GRAD_ROWS
    stack = re.search(rf"f32\[{batch},64,64,9,1,{features}\]", hlo)
    assert (stack is None) == per_tap
    assert ("while" in hlo) == per_tap


@pytest.mark.parametrize("features, out, batch, per_tap", [(4, 64, 6, True), (2, 8, 12, False)])
def test_few_feature_kernel_gradient_stacks_no_more_than_its_limit(
    features, out, batch, per_tap, monkeypatch
):
    # From 3 input features the taps stack only up to STACKED_TAPS_BYTES (the stack's temp
    # is twice the taps); below, a tap's GEMM would have one or two rows, and they stack
    # up to TILE_SLACK_BYTES. The limit lowered here to 1 MiB, under these taps' 3.4 MiB.
    monkeypatch.setattr(_grad, "STACKED_TAPS_BYTES", 2**20)
    plan, hlo = _few_feature_kernel_grad(features, out, batch)
    nbytes = _taps.taps_bytes(plan, np.float32)
    assert 2**20 < nbytes < _grad.TILE_SLACK_BYTES and not _grad.per_tap_kernel_grad(plan)
    assert _grad.stacks_taps(plan, nbytes) != per_tap
    stack = re.search(rf"f32\[{batch},64,64,9,1,{features}\]", hlo)
    assert (stack is None) == per_tap


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("scan", [True, False])
def test_depthwise_kernel_gradient_reduces_the_taps_unsplit(layout, scan, monkeypatch):
    # One filter per channel: each tap times the cotangent, reduced as they are, never
    # split into (groups, 1) features (in a scan that reduction ran 5-12x slower). The
    # scan's limit lowered here under these taps' 1.7 MiB where scan is asked for.
    monkeypatch.setattr(_grad, "TILE_SLACK_BYTES", 2**20 if scan else 2**30)
    rng = np.random.default_rng(0)
    dn = (layout, "HWIO", layout)
    shape = (3, 40, 40, 12) if layout == "NHWC" else (3, 12, 40, 40)
    x = random_array(rng, shape, np.float32)
    w = random_array(rng, (3, 3, 1, 12), np.float32)
    plan = make_plan(x.shape, w.shape, (1, 1), "SAME", dimension_numbers=
                     jaxconv.conv_dimension_numbers(4, dn), feature_group_count=12)  # fmt: skip
    plan = plan._replace(channels_first=layout == "NCHW")  # x is in the compute layout
    hlo = _checked_kernel_grad(rng, x, w, plan, dn, groups=12)
    assert ("while" in hlo) == scan
    split = "3,40,40,12,1" if layout == "NHWC" else "3,12,1,40,40"
    assert f"f32[{split}]" not in hlo


@pytest.mark.parametrize("taps", [9, 97, 129])
def test_col2im_transposes_under_jit_with_many_taps(taps):
    """jvp evaluates the transpose of the input gradient, which may run ``col2im``; XLA:CPU
    once computed that transpose wrongly under jit from about 97 taps (errors of 10 where
    the values are 1e1). Against lax's input gradient in float64."""
    dn = ("NWC", "WIO", "NWC")
    rng = np.random.default_rng(0)
    w, ct = random_array(rng, (taps, 6, 6)), random_array(rng, (1, 64, 6))
    plan = make_plan((1, 64, 6), w.shape, (1,), "SAME", None, None, dn, 1, 1, "zeros")

    def col2im(x):
        return _strategies.run("col2im", x, w, plan, _policy.choose)

    x = jax.ShapeDtypeStruct((1, 64, 6), jnp.float32)
    got = jax.jit(lambda ct: jax.linear_transpose(col2im, x)(ct)[0])(ct)
    with jax.enable_x64(True):

        def lax_conv(x):
            return lax.conv_general_dilated(
                x, w.astype(np.float64), (1,), "SAME", dimension_numbers=dn
            )

        want = jax.vjp(lax_conv, np.zeros((1, 64, 6)))[1](ct.astype(np.float64))[0]
    assert_close(got, np.asarray(want, np.float32))


# Fewer input positions than taps: col2im scatters per input position (reversed kernel);
# fewer output positions than taps: the kernel gradient takes one GEMM on the stacked windows.
# In float64, against lax: some of these pads are negative low and positive high, which
# XLA:CPU's float32 convolution computes wrongly (openxla/xla#48713).
LONG_KERNELS = {
    "ncw_one_position": ((3, 4, 1), (5, 4, 15), ("NCW", "OIW", "NCW"), dict(padding=((14, 14),))),
    "nwc_dilated": ((2, 3, 5), (9, 5, 4), ("NWC", "WIO", "NWC"),
                    dict(padding=((13, 9),), lhs_dilation=(2,), rhs_dilation=(2,))),
    "nwc_negative_low": ((2, 4, 3), (11, 3, 5), ("NWC", "WIO", "NWC"), dict(padding=((-1, 10),))),
    "nchw_window": ((2, 3, 2, 3), (4, 3, 5, 3), ("NCHW", "OIHW", "NCHW"),
                    dict(padding=((4, 3), (2, 2)), lhs_dilation=(1, 2))),
    "ndhwc": ((1, 1, 2, 2, 3), (3, 3, 3, 3, 2), ("NDHWC", "DHWIO", "NDHWC"),
              dict(padding=((2, 2), (1, 2), (2, 0)))),
}  # fmt: skip


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("name", list(LONG_KERNELS))
def test_col2im_by_input_position_matches_lax(name, batched, monkeypatch):
    x_shape, w_shape, dn, kw = LONG_KERNELS[name]
    if batched:  # the kernel copy too large: the taps as the GEMMs' batch
        monkeypatch.setattr(_strategies, "_col2im_copies_too_much", lambda plan, itemsize: True)
    kw = dict(window_strides=(1,) * (len(x_shape) - 2), dimension_numbers=dn, **kw)
    plan = make_plan(x_shape, w_shape, **kw)
    assert _strategies.col2im_by_input(plan)
    second_order = name == "nwc_dilated" and not batched
    _assert_matches_lax_in_float64(x_shape, w_shape, kw, "col2im", second_order)


def _assert_matches_lax_in_float64(x_shape, w_shape, kw, strategy, second_order):
    """Output, vjp and jvp (and second derivatives) of ``strategy`` equal lax's, in float64."""
    rng = np.random.default_rng(4)
    with jax.enable_x64(True):
        x, w = random_array(rng, x_shape, np.float64), random_array(rng, w_shape, np.float64)

        def ours(x, w):
            return jaxconv.conv_general_dilated(x, w, strategy=strategy, **kw)

        def ref(x, w):
            return lax.conv_general_dilated(x, w, **kw)

        _assert_vjp_jvp_match(jax.jit(ours), jax.jit(ref), x, w, rng)
        if second_order:
            assert_second_order_matches(ours, ref, x, w, rng)


@pytest.mark.parametrize(
    "x_shape, w_shape, dn, kw",
    [
        ((3, 4, 9), (5, 4, 9), ("NCW", "OIW", "NCW"), dict(window_strides=(2,), padding="VALID")),
        ((2, 7, 6, 3), (5, 4, 3, 4), ("NHWC", "HWIO", "NHWC"),
         dict(window_strides=(2, 3), padding=((1, -1), (0, 2)), rhs_dilation=(1, 2))),
    ],
)  # fmt: skip
@pytest.mark.parametrize("strategy", ["auto", "im2col", "col2im"])
def test_kernel_gradient_by_output_position_matches_lax(x_shape, w_shape, dn, kw, strategy):
    kw = dict(dimension_numbers=dn, **kw)
    plan = make_plan(x_shape, w_shape, **kw)
    assert _grad.kernel_grad_by_output(plan)
    _assert_matches_lax_in_float64(x_shape, w_shape, kw, strategy, second_order=True)


@pytest.mark.parametrize(
    "x_shape, w_shape, dn, kw",
    [
        ((2, 5, 4, 3), (24, 5, 3, 3), ("NCHW", "OIHW", "NCHW"), dict(padding="SAME")),
        ((1, 6, 9, 6), (3, 2, 6, 24), ("NHWC", "HWIO", "NHWC"),
         dict(window_strides=(2, 1), padding=((1, -1), (0, 2)), rhs_dilation=(1, 2))),
        ((2, 3, 3, 4), (20, 4, 2, 2), ("NHWC", "OIHW", "NHWC"), dict(padding="VALID")),
        ((1, 3, 4, 5), (24, 3, 3, 3), ("NCHW", "OHWI", "NCHW"), dict(padding="SAME")),
        ((1, 2, 3, 3, 3), (32, 2, 2, 2, 2), ("NCDHW", "OIDHW", "NCDHW"), dict(padding="SAME")),
        ((2, 3, 7), (16, 3, 3), ("NCW", "OIW", "NCW"), dict(window_strides=(3,), padding="SAME")),
    ],
)  # fmt: skip
@pytest.mark.parametrize("strategy", ["auto", "im2col", "col2im", "taps"])
def test_kernel_bound_gradient_matches_lax(x_shape, w_shape, dn, kw, strategy, monkeypatch):
    # The stacked taps in one GEMM written in the user's kernel order; the size limit
    # lowered so that small layers take it.
    monkeypatch.setattr(_grad, "KERNEL_BOUND_ELEMENTS", 1)
    n = len(x_shape) - 2
    kw = dict(dimension_numbers=dn, **{"window_strides": (1,) * n, **kw})
    plan = make_plan(x_shape, w_shape, **kw)
    assert _grad.kernel_bound_grad(plan) and not _grad.kernel_grad_by_output(plan)
    _assert_matches_lax_in_float64(x_shape, w_shape, kw, strategy, second_order=True)


@pytest.mark.parametrize("kernel", ["OIHW", "OHWI", "HWIO"])
def test_kernel_bound_gradient_matches_lax_channels_first(kernel, monkeypatch):
    # Winograd keeps NCHW data channels-first: the taps are stacked there.
    monkeypatch.setattr(_grad, "KERNEL_BOUND_ELEMENTS", 1)
    dn = ("NCHW", kernel, "NCHW")
    x_shape, w_shape = (2, 5, 4, 3), {"OIHW": (24, 5, 3, 3), "OHWI": (24, 3, 3, 5),
                                      "HWIO": (3, 3, 5, 24)}[kernel]  # fmt: skip
    kw = dict(window_strides=(1, 1), padding="SAME", dimension_numbers=dn)
    plan = make_plan(x_shape, w_shape, **kw)
    assert _policy.runs_channels_first(plan, "winograd") and _grad.kernel_bound_grad(plan)
    _assert_matches_lax_in_float64(x_shape, w_shape, kw, "winograd", second_order=True)


def test_kernel_bound_gradient_holds_only_where_the_taps_fit_in_the_kernel():
    dn = ("NCHW", "OIHW", "NCHW")
    plan = make_plan((8, 512, 7, 7), (512, 512, 3, 3), (1, 1), "SAME", dimension_numbers=dn)
    assert _grad.kernel_bound_grad(plan)  # ResNet's last 3x3 layers on a batch of 8
    more = make_plan((16, 512, 7, 7), (512, 512, 3, 3), (1, 1), "SAME", dimension_numbers=dn)
    assert not _grad.kernel_bound_grad(more)  # 784 positions: the taps outgrow the kernel
    small = make_plan((2, 64, 4, 4), (64, 64, 3, 3), (1, 1), "SAME", dimension_numbers=dn)
    assert not _grad.kernel_bound_grad(small)  # a kernel of 36 864 elements


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16, jnp.complex64])
@pytest.mark.parametrize("shape", [(1, 2, 3), (1, 1, 1)])
def test_one_buffer_leaves_every_bit(dtype, shape):
    # -0.0 added at the first and last elements: signed zeros, NaN and infinities intact.
    values = np.array([-0.0, np.nan, -np.inf, 1.5, -2.0, 0.0], np.float32)[-int(np.prod(shape)) :]
    y = jnp.asarray(values, dtype).reshape(shape)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        y = y + 1j * jnp.asarray(values[::-1], jnp.float32).reshape(shape)
    got = jax.jit(_grad._one_buffer)(y)
    assert got.dtype == y.dtype and got.shape == y.shape
    bits = f"uint{8 * jnp.dtype(dtype).itemsize // (2 if jnp.iscomplexobj(y) else 1)}"
    assert np.array_equal(np.asarray(got).view(bits), np.asarray(y).view(bits))


@pytest.mark.parametrize("name", ["col2im", "taps"])
def test_a_deep_chain_keeps_each_layers_output_not_its_terms(name):
    # Both strategies' outputs are sums of K = 9 output-sized terms (col2im's shifted
    # slices of its product, taps' GEMMs). Fused into every user instead of written once,
    # they stayed alive until the backward pass's activation masks: each added layer held
    # 30x (col2im) and 18x (taps) its output. Written once (10.8x and 10.3x), a layer holds
    # its output, its activation, its padded input and the kernel gradient's K - 1 other taps
    # of it, which XLA may compute as early as the forward pass.
    xs, ws = (8, 16, 16, 32), (3, 3, 32, 32)

    def temp(depth):
        def loss(w, x):
            for _ in range(depth):
                x = jax.nn.relu(jaxconv.conv2d(x, w, padding="SAME", strategy=name))
            return jnp.sum(x)

        args = (jax.ShapeDtypeStruct(ws, jnp.float32), jax.ShapeDtypeStruct(xs, jnp.float32))
        compiled = jax.jit(jax.grad(loss)).lower(*args).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    out = 4 * int(np.prod(xs))
    per_layer = (temp(4) - temp(1)) / 3
    assert per_layer <= (3 + 9) * out, per_layer / out


def _kernel_grad_names(monkeypatch) -> list[str]:
    """The strategy names the kernel gradients traced from here on are built from."""
    names = []
    spied = _grad._kernel_grad_fn

    def spy(x, plan, name, *args):
        names.append(name)
        return spied(x, plan, name, *args)

    monkeypatch.setattr(_grad, "_kernel_grad_fn", spy)
    return names


@pytest.mark.parametrize(
    "x_shape, w_shape, dn, kw",
    [
        ((2, 40, 6), (9, 1, 6), ("NWC", "WIO", "NWC"), dict(padding="SAME")),
        ((2, 4, 11, 9), (8, 1, 3, 3), ("NCHW", "OIHW", "NCHW"),
         dict(window_strides=(2, 2), padding="SAME", rhs_dilation=(2, 1))),
        ((1, 9, 8, 8), (3, 3, 2, 8), ("NHWC", "HWIO", "NHWC"),
         dict(padding=((1, -1), (2, 0)))),
        ((1, 3, 5, 6, 4), (3, 1, 3, 3, 3), ("NCDHW", "OIDHW", "NCDHW"), dict(padding="SAME")),
    ],
)  # fmt: skip
@pytest.mark.parametrize("strategy", ["auto", "taps", "tune"])
def test_kernel_gradient_by_fft_matches_lax(
    x_shape, w_shape, dn, kw, strategy, monkeypatch, tmp_path
):
    # The threshold lowered so that small layers take it; whatever runs the forward.
    monkeypatch.setattr(_policy, "FFT_KERNEL_GRAD", 0.0)
    monkeypatch.setenv(_tune.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(_tune, "_CACHE", None)
    names = _kernel_grad_names(monkeypatch)
    n = len(x_shape) - 2
    groups = x_shape[-1 if dn[0][-1] == "C" else 1] // w_shape[-2 if dn[1][-1] == "O" else 1]
    kw = dict(
        dimension_numbers=dn, feature_group_count=groups, **{"window_strides": (1,) * n, **kw}
    )
    assert _policy.fft_kernel_grad_pays(make_plan(x_shape, w_shape, **kw))
    _assert_matches_lax_in_float64(x_shape, w_shape, kw, strategy, second_order=True)
    assert names and set(names) == {"fft"}


def test_kernel_gradient_by_fft_holds_only_on_long_kernels_of_shallow_groups():
    def plan(x_shape, w_shape, groups, dn=("NWC", "WIO", "NWC"), **kw):
        n = len(x_shape) - 2
        kw = {"window_strides": (1,) * n, "padding": "SAME", **kw}
        return make_plan(x_shape, w_shape, dimension_numbers=dn, feature_group_count=groups, **kw)

    nchw = ("NCHW", "OIHW", "NCHW")
    assert _policy.fft_kernel_grad_pays(plan((8, 4258, 32), (63, 1, 32), 32))
    assert _policy.fft_kernel_grad_pays(plan((1, 32, 205, 205), (32, 1, 7, 7), 32, nchw))
    assert _policy.fft_kernel_grad_pays(plan((4, 2000, 32), (31, 4, 32), 8))  # 4 deep
    assert not _policy.fft_kernel_grad_pays(plan((4, 2000, 64), (31, 8, 64), 8))  # 8 deep
    assert not _policy.fft_kernel_grad_pays(plan((8, 64, 56, 56), (64, 1, 3, 3), 64, nchw))
    assert not _policy.fft_kernel_grad_pays(plan((8, 4258, 32), (63, 32, 32), 1))  # dense
    # Input-dilated (a transposed layer): its kernel gradient is its forward's transpose.
    dilated = plan((8, 2000, 32), (63, 1, 32), 32, lhs_dilation=(2,), padding=((62, 62),))
    assert not _policy.fft_kernel_grad_pays(dilated)


def _fft_gradients(x_shape, w_shape, kw, monkeypatch, seed):
    """jaxconv's gradients of ``sum(conv(x, w) * ct)`` with respect to ``x`` and ``w`` on
    random inputs, after checking their kernel gradient is built by ``fft``, and lax's in
    float64."""
    names = _kernel_grad_names(monkeypatch)
    rng = np.random.default_rng(seed)
    x, w = random_array(rng, x_shape), random_array(rng, w_shape)
    ct = random_array(rng, lax.conv_general_dilated(x, w, **kw).shape)

    def loss(conv):
        return lambda x, w: jnp.sum(conv(x, w) * ct)

    ours = jax.grad(loss(lambda x, w: jaxconv.conv_general_dilated(x, w, **kw)), (0, 1))
    got = jax.jit(ours)(x, w)
    assert names and set(names) == {"fft"}
    with jax.enable_x64(True):
        x64, w64, ct64 = (np.asarray(a, np.float64) for a in (x, w, ct))
        ref = jax.grad(lambda x, w: jnp.sum(lax.conv_general_dilated(x, w, **kw) * ct64), (0, 1))
        return got, ref(x64, w64)


@pytest.mark.parametrize(
    "x_shape, w_shape, dn",
    [
        ((1, 60, 70, 24), (5, 5, 24, 8), ("NHWC", "HWIO", "NHWC")),
        ((2, 12, 40, 40), (8, 12, 7, 7), ("NCHW", "OIHW", "NCHW")),
        ((4, 600, 16), (15, 16, 8), ("NWC", "WIO", "NWC")),
        # volumes, from a cost ratio of 1.2 (FFT_DIFFERENTIATED_VOLUME): 1.68 and 1.52 here
        ((1, 20, 24, 18, 12), (5, 5, 5, 12, 8), ("NDHWC", "DHWIO", "NDHWC")),
        ((2, 16, 10, 12, 14), (8, 16, 5, 5, 5), ("NCDHW", "OIDHW", "NCDHW")),
    ],
)
def test_differentiated_dense_layers_of_few_outputs_run_fft(x_shape, w_shape, dn, monkeypatch):
    # A dense layer of at most 8 outputs whose kernel is long enough for fft: the kernel
    # gradient's per-tap GEMMs are thin, so differentiated, auto runs fft (forward and kernel
    # gradient); forward alone, the rules' choice. Values against lax in float64.
    kw = dict(window_strides=(1,) * (len(x_shape) - 2), padding="SAME", dimension_numbers=dn)
    plan = make_plan(x_shape, w_shape, **kw)
    assert _policy.differentiated_fft_pays(plan, jnp.float32)
    forward = _policy.choose(plan, jnp.float32, decide_layout=True)
    assert forward != "fft"
    if plan.num_spatial == 3:
        in_layout = _policy.in_layout(plan, forward)
        assert _policy.differentiated_choice(in_layout, forward, jnp.float32) == "fft"
        with monkeypatch.context() as m:  # the code before: volumes ran the forward choice
            m.setattr(_policy, "FFT_DIFFERENTIATED_VOLUME", float("inf"))
            assert _policy.differentiated_choice(in_layout, forward, jnp.float32) == forward
    got, want = _fft_gradients(x_shape, w_shape, kw, monkeypatch, seed=6)
    for g, r in zip(got, want, strict=True):
        if plan.num_spatial == 3:
            # a volume's gradients sum thousands of products per element through 3-d
            # transforms, whose rounding error is normwise: within 1e-5 of the largest value
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5 * np.abs(r).max())
        else:
            assert_close(g, np.asarray(r, np.float32))


@pytest.mark.parametrize(
    "x_shape, w_shape, dn, groups",
    [
        ((1, 67, 95, 24), (7, 7, 12, 24), ("NHWC", "HWIO", "NHWC"), 2),  # seed 8182: 0.50x
        ((1, 48, 50, 52), (24, 12, 7, 7), ("NCHW", "OIHW", "NCHW"), 4),
        ((2, 153, 24), (15, 12, 8), ("NWC", "WIO", "NWC"), 2),
    ],
)
def test_differentiated_grouped_layers_of_shallow_groups_run_fft(
    x_shape, w_shape, dn, groups, monkeypatch
):
    # Groups of 5-12 input features into at most twice as many, with a kernel long enough
    # for fft: differentiated, auto runs fft (forward and kernel gradient), where the
    # groups' per-tap kernel-gradient GEMMs are thin; forward alone, the rules' choice.
    # Values against lax in float64.
    kw = dict(
        window_strides=(1,) * (len(x_shape) - 2),
        padding="SAME",
        dimension_numbers=dn,
        feature_group_count=groups,
    )
    plan = make_plan(x_shape, w_shape, **kw)
    assert _policy.differentiated_grouped_fft_pays(plan, jnp.float32)
    forward = _policy.choose(plan, jnp.float32, decide_layout=True)
    assert forward != "fft"
    in_layout = _policy.in_layout(plan, forward)
    assert _policy.differentiated_choice(in_layout, forward, jnp.float32) == "fft"
    with monkeypatch.context() as m:  # the code before
        m.setattr(_policy, "differentiated_grouped_fft_pays", lambda plan, dtype: False)
        assert _policy.differentiated_choice(in_layout, forward, jnp.float32) == forward
    got, want = _fft_gradients(x_shape, w_shape, kw, monkeypatch, seed=7)
    for g, r in zip(got, want, strict=True):
        # fft's rounding error is normwise: within 1e-5 of the largest value
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5 * np.abs(r).max())


def test_differentiated_grouped_fft_holds_only_on_shallow_unstrided_groups():
    def plan(x_shape, w_shape, groups, strides=(1, 1), dn=("NHWC", "HWIO", "NHWC")):
        return make_plan(
            x_shape, w_shape, strides, "SAME", dimension_numbers=dn, feature_group_count=groups
        )

    f32 = jnp.float32
    assert _policy.differentiated_grouped_fft_pays(plan((1, 67, 95, 24), (7, 7, 12, 24), 2), f32)
    assert not _policy.differentiated_grouped_fft_pays(
        plan((1, 67, 95, 24), (7, 7, 12, 24), 2), jnp.bfloat16
    )
    # 16 features per group: the per-tap GEMMs are deep enough (fft 1.03x in sample)
    assert not _policy.differentiated_grouped_fft_pays(
        plan((1, 54, 39, 64), (7, 7, 16, 64), 4), f32
    )
    # more than twice as many out per group, strided, 3x3, depthwise, 4 deep, a volume
    assert not _policy.differentiated_grouped_fft_pays(plan((1, 81, 81, 24), (5, 5, 6, 96), 4), f32)
    strided = plan((1, 67, 95, 24), (7, 7, 12, 24), 2, (2, 2))
    assert not _policy.differentiated_grouped_fft_pays(strided, f32)
    assert not _policy.differentiated_grouped_fft_pays(plan((1, 95, 95, 64), (3, 3, 8, 64), 8), f32)
    assert not _policy.differentiated_grouped_fft_pays(
        plan((1, 67, 95, 24), (7, 7, 1, 24), 24), f32
    )
    assert not _policy.differentiated_grouped_fft_pays(plan((1, 67, 95, 16), (7, 7, 4, 16), 4), f32)
    ndhwc = ("NDHWC", "DHWIO", "NDHWC")
    volume = plan((1, 30, 30, 30, 16), (5, 5, 5, 8, 16), 2, (1, 1, 1), ndhwc)
    assert not _policy.differentiated_grouped_fft_pays(volume, f32)


def test_differentiated_fft_holds_only_on_dense_float32_layers_of_few_outputs():
    def plan(x_shape, w_shape, dn=("NHWC", "HWIO", "NHWC"), **kw):
        n = len(x_shape) - 2
        kw = {"window_strides": (1,) * n, "padding": "SAME", **kw}
        return make_plan(x_shape, w_shape, dimension_numbers=dn, **kw)

    f32, nchw = jnp.float32, ("NCHW", "OIHW", "NCHW")
    assert _policy.differentiated_fft_pays(plan((1, 60, 70, 24), (5, 5, 24, 8)), f32)
    assert _policy.differentiated_fft_pays(plan((2, 12, 40, 40), (8, 12, 7, 7), nchw), f32)
    assert not _policy.differentiated_fft_pays(plan((1, 60, 70, 24), (5, 5, 24, 8)), jnp.bfloat16)
    assert not _policy.differentiated_fft_pays(plan((1, 60, 70, 24), (7, 7, 24, 16)), f32)
    assert not _policy.differentiated_fft_pays(plan((1, 60, 70, 24), (3, 3, 24, 8)), f32)  # short
    grouped = plan((1, 60, 70, 24), (7, 7, 12, 8), feature_group_count=2)
    assert not _policy.differentiated_fft_pays(grouped, f32)
    # volumes from a cost ratio of 1.2: 2.27 for the first, 0.57 and 1.07 for the others
    ndhwc = ("NDHWC", "DHWIO", "NDHWC")
    assert _policy.differentiated_fft_pays(plan((1, 30, 30, 30, 16), (5, 5, 5, 16, 8), ndhwc), f32)
    assert not _policy.differentiated_fft_pays(
        plan((1, 16, 20, 12, 8), (3, 3, 3, 8, 8), ndhwc), f32
    )
    assert not _policy.differentiated_fft_pays(
        plan((1, 12, 18, 20, 16), (5, 5, 5, 16, 4), ndhwc), f32
    )
    assert not _policy.differentiated_fft_pays(
        plan((1, 12, 14, 16, 24), (5, 5, 5, 24, 16), ndhwc),
        f32,  # 16 outputs
    )
    # fewer input positions than taps: col2im scatters by input position
    assert not _policy.differentiated_fft_pays(plan((8, 4, 4, 24), (7, 7, 24, 8)), f32)


def test_kernel_gradient_of_complex_layers_stays_per_tap(monkeypatch):
    # fft transforms real inputs only: a complex layer keeps the per-tap kernel gradient.
    monkeypatch.setattr(_policy, "FFT_KERNEL_GRAD", 0.0)
    names = _kernel_grad_names(monkeypatch)
    rng = np.random.default_rng(5)

    def complex_array(shape):
        return (random_array(rng, shape) + 1j * random_array(rng, shape)).astype(np.complex64)

    x, w = complex_array((2, 40, 6)), complex_array((9, 1, 6))
    kw = dict(window_strides=(1,), padding="SAME", dimension_numbers=("NWC", "WIO", "NWC"),
              feature_group_count=6)  # fmt: skip
    plan = make_plan(x.shape, w.shape, **kw)
    assert _policy.fft_kernel_grad_pays(plan, jnp.float32)
    assert not _policy.fft_kernel_grad_pays(plan, jnp.complex64)

    def loss(conv):
        return lambda x, w: jnp.sum(jnp.abs(conv(x, w)) ** 2)

    ours = jax.grad(loss(lambda x, w: jaxconv.conv_general_dilated(x, w, **kw)), (0, 1))(x, w)
    ref = functools.partial(lax.conv_general_dilated, precision=HIGHEST, **kw)
    theirs = jax.grad(loss(ref), (0, 1))(x, w)
    for a, b in zip(ours, theirs, strict=True):
        assert_close(a, b)
    assert names and "fft" not in names
