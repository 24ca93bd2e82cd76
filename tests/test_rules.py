"""``auto``'s rules: the shipped tree is well formed and is what ``auto`` follows; a
platform without rules uses the tuning cache, then the CPU rules; the fitting pipeline
recovers a known rule from a sweep it was given."""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import subprocess
import sys
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import HIGHEST, assert_close, conv_plan, load_script, random_array
from jax import lax

import jaxconv
from jaxconv import _grad, _policy, _rules, _strategies, _taps, _tune
from jaxconv._bench import fit, runner, suites
from jaxconv._plan import make_plan


def _plans(count=60, seed=11):
    for layer in suites.random_layers(count, seed):
        for case in (layer, suites.input_grad_case(layer)):
            yield case, fit.plan_of(case, case.layouts[0])


NHWC = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize("platform", ["cpu", "cpu-int8"])
def test_shipped_cpu_rules_are_well_formed(platform):
    rules = _rules.measured(platform)
    assert rules is not None and rules.platform == platform
    assert list(rules.features) == list(_rules.FEATURES)
    assert set(rules.strategies) <= set(jaxconv.STRATEGIES)
    for i, node in enumerate(rules.nodes):
        assert node["score"], i  # every node can decide
        assert set(node["score"]) <= set(rules.strategies)
        if node["feature"] is not None:
            assert i < node["left"] < len(rules.nodes) and i < node["right"] < len(rules.nodes)
            assert 0 <= node["feature"] < len(rules.features)
    text = rules.text()
    assert text.count("->") == sum(n["feature"] is None for n in rules.nodes)


def test_a_copy_of_the_package_reads_its_own_rules(tmp_path):
    # benchmarks/ab_timed.py imports an old tree as `jaxconv_old` beside this one; each must
    # follow the rules it ships, or an A/B of two rule sets compares one with itself.
    shutil.copytree(os.path.dirname(jaxconv.__file__), tmp_path / "jaxconv_copy")
    data = _rules.measured("cpu").to_json()
    data["measured_on"] = "the copy's own rules"
    (tmp_path / "jaxconv_copy" / "rules" / "cpu.json").write_text(json.dumps(data))
    code = "import jaxconv_copy._rules as r; print(r.measured('cpu').measured_on)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(tmp_path)}, check=True)  # fmt: skip
    assert out.stdout.strip() == "the copy's own rules"


def test_auto_follows_the_rules_and_picks_a_strategy_that_runs():
    rules = _rules.measured("cpu")
    for case, plan in _plans():
        xs, ws = runner.shapes(case, case.layouts[0])
        x, w = (jax.ShapeDtypeStruct(s, jnp.float32) for s in (xs, ws))
        got = jaxconv.chosen_strategy(
            x, w, case.strides, case.padding, case.input_dilation, case.rhs_dilation,
            runner.dimension_numbers(case, case.layouts[0]), case.groups,
        )  # fmt: skip
        want = rules.choose(
            _rules.features(plan),
            lambda s, plan=plan: _strategies.feasible(s, _policy.in_layout(plan, s)),
        )
        # The measured overrides after the rules: taps in place of depthwise on long
        # kernels (_policy.depthwise_taps_pay) and back on 1-d ones over few features
        # (_policy.depthwise_loop_pays), col2im where it stacks rows in place of rows,
        # banded, taps, or winograd on few features (_policy.stacked_col2im_pays), col2im on
        # strided layers that do not widen (_policy.strided_col2im_pays), direct or
        # im2col in place of banded on strided layers (_policy.strided_direct_pays,
        # _policy.strided_gemm_pays, _policy.strided_patches_pay), col2im in place of
        # banded or on pointwise layers on channels-first data (_policy.col2im_over_band,
        # _policy.pointwise_col2im_pays),
        # direct in place of col2im (_policy.direct_over_col2im), im2col in place of col2im
        # where the output shrinks (_policy.COL2IM_SHRINK), then fft (_policy.fft_pays),
        # and direct in place of grouped on small groups (_policy.direct_over_grouped).
        if want == "depthwise" and _policy.depthwise_taps_pay(plan):
            want = "taps"
        elif want == "taps" and _policy.depthwise_loop_pays(plan):
            want = "depthwise"
        cl = _policy.in_layout(plan, "col2im")
        few = want == "winograd" and plan.in_features <= _policy.WINOGRAD_COL2IM_FEATURES
        if want in _policy.STACKED_COL2IM_OVER or few:
            if _strategies.feasible("col2im", cl) and _policy.stacked_col2im_pays(cl):
                want = "col2im"
        if _policy.strided_col2im_pays(plan):
            want = "col2im"
        if want == "banded" and (
            _policy.col2im_over_band(plan) or _policy.volume_col2im_over_band(plan)
        ):
            want = "col2im"
        elif want in _policy.POINTWISE_COL2IM_OVER and _policy.pointwise_col2im_pays(plan):
            want = "col2im"
        if want == "banded" and _policy.strided_direct_pays(plan):
            want = "im2col" if _policy.strided_gemm_pays(plan) else "direct"
        elif want == "banded" and _policy.strided_patches_pay(plan):
            want = "im2col"
        elif want == "col2im" and _policy.direct_over_col2im(plan, jnp.float32):
            want = "direct"  # not differentiated
        shrinks = math.prod(plan.in_spatial) >= _policy.COL2IM_SHRINK * math.prod(plan.out_spatial)
        if (
            want == "col2im"
            and shrinks
            and plan.num_spatial > 1
            and plan.feature_groups == plan.batch_groups == 1
            and set(plan.strides) == set(plan.lhs_dilation) == {1}
            and plan.out_features >= _policy.COL2IM_SHRINK_FEATURES
        ):
            want = "im2col"  # _policy._im2col_over_shrinking_col2im
        want = _policy._im2col_over_thin_gemms(plan, want, lambda s: True)
        want = _policy._polyphase_over_widening_col2im(
            plan, want, lambda s, plan=plan: _strategies.feasible(s, _policy.in_layout(plan, s))
        )
        want = _policy._winograd_over_col2im(
            plan, want, lambda s, plan=plan: _strategies.feasible(s, _policy.in_layout(plan, s))
        )
        if want == "grouped" and got != "fft" and _policy.direct_over_grouped(plan):
            want = "direct"  # after fft_pays, which weighs fft against grouped
        if _strategies.reads_kernel_in_place(plan) is not None:  # a hand rule first
            assert got == "im2col", case.name
        elif got == "fft":
            assert want != "fft" and _policy.fft_pays(plan, want), case.name
        else:
            assert got == want, case.name
        assert _strategies.feasible(got, _policy.in_layout(plan, got))


@pytest.mark.parametrize(
    "xs, ws, dn, pays",
    [
        ((2, 20, 20, 16), (5, 5, 16, 16), "NHWC", True),
        ((2, 20, 20, 7), (5, 5, 7, 16), "NHWC", False),  # too few input features
        ((2, 20, 20, 96), (5, 5, 96, 16), "NHWC", False),  # col2im does not stack: too many
        ((2, 16, 20, 20), (16, 16, 5, 5), "NCHW", False),  # the transposes cost the gain
    ],
)
def test_auto_runs_col2im_instead_of_rows_banded_or_taps_where_it_stacks_rows(xs, ws, dn, pays):
    dims = ("NHWC", "HWIO", "NHWC") if dn == "NHWC" else ("NCHW", "OIHW", "NCHW")
    plan = make_plan(xs, ws, (1, 1), "SAME", dimension_numbers=dims)
    assert _policy.stacked_col2im_pays(_policy.in_layout(plan, "col2im")) == pays
    for picked in _policy.STACKED_COL2IM_OVER:
        with mock.patch.object(_policy, "_rules_choice", return_value=picked):
            want = "col2im" if pays else picked
            assert _policy.choose(plan, jnp.float32, decide_layout=True) == want


@pytest.mark.parametrize(
    "xs, ws, dn, runs",
    [
        ((1, 40, 56, 16), (3, 3, 16, 16), "NHWC", "col2im"),
        ((2, 33, 47, 12), (3, 3, 12, 24), "NHWC", "col2im"),
        ((1, 40, 56, 32), (3, 3, 32, 32), "NHWC", "winograd"),  # as fast either way
        ((1, 16, 40, 56), (16, 16, 3, 3), "NCHW", "winograd"),  # col2im runs channels-first
    ],
)
def test_auto_runs_col2im_where_the_rules_pick_winograd_on_few_features(xs, ws, dn, runs):
    dims = ("NHWC", "HWIO", "NHWC") if dn == "NHWC" else ("NCHW", "OIHW", "NCHW")
    plan = make_plan(xs, ws, (1, 1), "SAME", dimension_numbers=dims)
    with mock.patch.object(_policy, "_rules_choice", return_value="winograd"):
        assert _policy.choose(plan, jnp.float32, decide_layout=True) == runs


@pytest.mark.parametrize(
    "xs, ws, strides, over",
    [
        ((1, 16, 80, 80), (8, 16, 3, 3), (1, 1), True),
        ((2, 12, 64, 64), (8, 12, 3, 1), (1, 1), True),
        ((1, 16, 60, 60), (8, 16, 3, 3), (1, 1), False),  # 3600 positions per image
        ((1, 16, 80, 80), (16, 16, 3, 3), (1, 1), False),  # 16 output features
        ((1, 4, 80, 80), (8, 4, 3, 3), (1, 1), False),  # an outer product (col2im_too_shallow)
        ((1, 16, 80, 80), (8, 16, 5, 5), (1, 1), False),  # 25 taps
        ((1, 8, 80, 80), (8, 8, 3, 3), (2, 2), False),  # strided
    ],
)
def test_auto_runs_col2im_where_the_rules_pick_banded_on_channels_first_thin_outputs(
    xs, ws, strides, over
):
    dn = ("NCHW", "OIHW", "NCHW")
    plan = make_plan(xs, ws, strides, "SAME", dimension_numbers=dn)
    assert _policy.col2im_over_band(plan) == over
    xs_last = (xs[0], *xs[2:], xs[1])
    last = make_plan(xs_last, ws, strides, "SAME", dimension_numbers=("NHWC", "OIHW", "NHWC"))
    assert not _policy.col2im_over_band(last)  # channels-last data: not measured
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs, np.float32), rng.standard_normal(ws, np.float32)
    kw = dict(window_strides=strides, padding="SAME", dimension_numbers=dn)
    with mock.patch.object(_policy, "_rules_choice", return_value="banded"):
        assert (_policy.choose(plan, jnp.float32, decide_layout=True) == "col2im") == over
        assert (jaxconv.chosen_strategy(x, w, **kw) == "col2im") == over
        got = jaxconv.conv_general_dilated(x, w, **kw, precision="highest")
    # What auto then runs gives lax's numbers.
    want = jax.lax.conv_general_dilated(x, w, **kw, precision="highest")
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * np.abs(want).max())


@pytest.mark.parametrize(
    "xs, ws, strides, pays",
    [
        ((2, 16, 40, 40), (16, 16, 1, 1), (1, 1), True),  # 1600 positions >= 80 * 16
        ((3, 24, 700), (8, 24, 1), (1,), True),
        ((2, 64, 30, 30), (64, 64, 1, 1), (1, 1), False),  # 900 positions < 80 * 64
        ((1, 16, 40, 40), (16, 16, 1, 1), (1, 1), False),  # one image
        ((2, 16, 40, 40), (16, 16, 1, 1), (2, 2), False),  # strided
        ((2, 16, 40, 40), (8, 16, 3, 3), (1, 1), False),  # nine taps
    ],
)
def test_auto_runs_col2im_on_channels_first_pointwise_layers_it_multiplies_per_image(
    xs, ws, strides, pays
):
    s = "DHW"[-len(strides) :]
    dn = ("NC" + s, "OI" + s, "NC" + s)
    plan = make_plan(xs, ws, strides, "SAME", dimension_numbers=dn)
    assert _policy.pointwise_col2im_pays(plan) == pays
    xs_last = (xs[0], *xs[2:], xs[1])
    last = make_plan(xs_last, ws, strides, "SAME", dimension_numbers=("N" + s + "C", dn[1], dn[0]))
    assert not _policy.pointwise_col2im_pays(last)  # channels-last data: not measured
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs, np.float32), rng.standard_normal(ws, np.float32)
    kw = dict(window_strides=strides, padding="SAME", dimension_numbers=dn)
    want = jax.lax.conv_general_dilated(x, w, **kw, precision="highest")
    for picked in ("rows", "direct", "taps", "im2col"):
        with mock.patch.object(_policy, "_rules_choice", return_value=picked):
            with mock.patch.object(_policy, "pointwise_col2im_pays", return_value=False):
                without = _policy.choose(plan, jnp.float32, decide_layout=True)
            chosen = _policy.choose(plan, jnp.float32, decide_layout=True)
            assert chosen == ("col2im" if pays else without)
            if pays:
                assert jaxconv.chosen_strategy(x, w, **kw) == "col2im"
                got = jaxconv.conv_general_dilated(x, w, **kw, precision="highest")
                np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * np.abs(want).max())


@pytest.mark.parametrize(
    "xs, ws, dn, strides, pays",
    [
        ((2, 40, 40, 16), (3, 3, 16, 16), "NHWC", (2, 2), True),
        ((2, 40, 40, 64), (3, 3, 64, 32), "NHWC", (2, 1), True),
        ((2, 300, 16), (5, 16, 16), "NWC", (2,), True),
        ((2, 40, 40, 16), (3, 3, 16, 16), "NHWC", (1, 1), False),  # not strided
        ((2, 40, 40, 8), (3, 3, 8, 8), "NHWC", (2, 2), False),  # too few input features
        ((2, 40, 40, 128), (3, 3, 128, 128), "NHWC", (2, 2), False),  # too many
        ((2, 40, 40, 16), (3, 3, 16, 32), "NHWC", (2, 2), False),  # more outputs than inputs
        ((2, 40, 40, 16), (1, 1, 16, 16), "NHWC", (2, 2), False),  # one tap
        ((2, 16, 40, 40), (16, 16, 3, 3), "NCHW", (2, 2), True),  # channels-first too
        ((3, 48, 64, 64), (24, 48, 5, 5), "NCHW", (2, 2), True),
        ((2, 8, 40, 40), (8, 8, 3, 3), "NCHW", (2, 2), False),  # too few input features
        ((2, 16, 40, 40), (32, 16, 3, 3), "NCHW", (2, 2), False),  # more outputs than inputs
        # Past 64 input features: 2-d layers that narrow twofold, their input not small
        # against the kernel.
        ((2, 40, 40, 128), (3, 3, 128, 64), "NHWC", (2, 2), True),
        ((1, 256, 30, 34), (12, 256, 5, 5), "NCHW", (2, 2), True),
        ((2, 40, 40, 128), (3, 3, 128, 96), "NHWC", (2, 2), False),  # narrows too little
        ((1, 6, 6, 512), (5, 5, 512, 128), "NHWC", (2, 2), False),  # the kernel outweighs
        ((2, 300, 256), (5, 256, 64), "NWC", (2,), False),  # 1-d
    ],
)
def test_auto_runs_col2im_on_strided_layers_where_it_measured_faster(xs, ws, dn, strides, pays):
    specs = {"NHWC": NHWC, "NWC": ("NWC", "WIO", "NWC"), "NCHW": ("NCHW", "OIHW", "NCHW")}[dn]
    plan = make_plan(xs, ws, strides, "SAME", dimension_numbers=specs)
    assert _policy.strided_col2im_pays(plan) == pays
    # Whatever the rules pick (elsewhere the choice is what it is without this override),
    # and the rules themselves never pick col2im on a strided plan (they were fitted before
    # it took strides).
    for picked in ("rows", "im2col", "banded"):
        with mock.patch.object(_policy, "_rules_choice", return_value=picked):
            with mock.patch.object(_policy, "strided_col2im_pays", return_value=False):
                without = _policy.choose(plan, jnp.float32, decide_layout=True)
            got = _policy.choose(plan, jnp.float32, decide_layout=True)
        assert got == ("col2im" if pays else without)
    seen = []

    def rules_choice(plan, dtype, allowed):
        seen.append(allowed("col2im"))
        return "im2col"

    with mock.patch.object(_policy, "_rules_choice", rules_choice):
        _policy.choose(plan, jnp.float32, decide_layout=True)
    assert seen == [max(strides) == 1 and _strategies.feasible("col2im", plan, jnp.float32)]
    if not pays:
        return
    # What runs there gives lax's numbers, forward and both gradients (float64 reference).
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs, np.float32), rng.standard_normal(ws, np.float32)
    kw = dict(window_strides=strides, padding="SAME", dimension_numbers=specs)
    assert jaxconv.chosen_strategy(x, w, **kw) == "col2im"
    _assert_like_lax_in_float64(x, w, kw)


@pytest.mark.parametrize(
    "xs, ws, dn, lhs, offered",
    [
        ((2, 692, 1), (127, 1, 32), ("NWC", "WIO", "NWC"), (1,), False),  # seed 4001's r051
        ((2, 3, 40, 40), (32, 3, 5, 5), ("NCHW", "OIHW", "NCHW"), (1, 1), False),
        ((2, 40, 40, 4), (3, 3, 4, 16), NHWC, (1, 1), False),
        ((2, 40, 40, 5), (3, 3, 5, 16), NHWC, (1, 1), True),
        ((2, 20, 20, 2), (4, 4, 2, 8), NHWC, (2, 2), True),  # input dilation: zeros skipped
    ],
)
def test_the_rules_never_run_col2im_as_an_outer_product(xs, ws, dn, lhs, offered):
    pads = "SAME" if max(lhs) == 1 else ((2, 2),) * len(lhs)
    plan = make_plan(xs, ws, (1,) * len(lhs), pads, lhs, None, dn)
    assert _policy.col2im_too_shallow(plan) == (not offered)
    seen = []

    def rules_choice(plan, dtype, allowed):
        seen.append(allowed("col2im"))
        return _policy.hand_choice(plan)

    with mock.patch.object(_policy, "_rules_choice", rules_choice):
        _policy.choose(plan, jnp.float32, decide_layout=True)
    assert seen == [offered and _strategies.feasible("col2im", plan, jnp.float32)]
    if not offered:
        # The shipped rules picked col2im on the first; what runs instead gives lax's numbers.
        rng = np.random.default_rng(0)
        x, w = rng.standard_normal(xs, np.float32), rng.standard_normal(ws, np.float32)
        kw = dict(window_strides=(1,) * len(lhs), padding="SAME", dimension_numbers=dn)
        assert jaxconv.chosen_strategy(x, w, **kw) != "col2im"
        got = jaxconv.conv_general_dilated(x, w, **kw, precision="highest")
        want = jax.lax.conv_general_dilated(x, w, **kw, precision="highest")
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * np.abs(want).max())


NCHW = ("NCHW", "OIHW", "NCHW")


@pytest.mark.parametrize(
    "xs, ws, dn, lhs, dtype, direct",
    [
        ((3, 8, 40, 40), (8, 8, 3, 3), NCHW, (1, 1), "float32", True),
        ((2, 8, 300), (8, 8, 5), ("NCW", "OIW", "NCW"), (1,), "float32", True),
        ((2, 8, 255), (8, 8, 5), ("NCW", "OIW", "NCW"), (1,), "float32", False),  # too short
        ((3, 8, 40, 40), (8, 8, 3, 3), NCHW, (1, 1), "bfloat16", False),  # measured on float32
        ((3, 8, 40, 40), (16, 8, 3, 3), NCHW, (1, 1), "float32", False),  # 16 outputs
        ((3, 40, 40, 8), (3, 3, 8, 8), NHWC, (1, 1), "float32", False),  # channels-last
        ((3, 8, 40, 40), (8, 8, 3, 3), NCHW, (2, 2), "float32", False),  # input dilation
    ],
)
def test_auto_runs_direct_for_col2im_where_not_differentiated(xs, ws, dn, lhs, dtype, direct):
    pads = ((1, 1),) * len(lhs)
    plan = make_plan(xs, ws, (1,) * len(lhs), pads, lhs, None, dn)
    assert _policy.direct_over_col2im(plan, dtype) == direct
    ran = []
    run = _strategies.run

    def spy(name, *args):
        ran.append(name)
        return run(name, *args)

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    kw = dict(window_strides=(1,) * len(lhs), padding=pads, lhs_dilation=lhs, dimension_numbers=dn)

    def loss(conv, x, w):
        return jnp.sum(jnp.sin(conv(x, w, **kw, precision="highest")))

    with mock.patch.object(_policy, "_rules_choice", return_value="col2im"):
        assert _policy.choose(plan, dtype, decide_layout=True) == ("direct" if direct else "col2im")
        assert jaxconv.chosen_strategy(x, w, **kw) == ("direct" if direct else "col2im")
        with mock.patch.object(_strategies, "run", spy):
            got = jax.jit(functools.partial(jaxconv.conv_general_dilated, **kw))(x, w)
            assert ran[0] == ("direct" if direct else "col2im")
            ran.clear()
            grads = jax.jit(jax.grad(functools.partial(loss, jaxconv.conv_general_dilated), (0, 1)))
            got_dx, got_dw = grads(x, w)
            assert ran[0] == "col2im"  # differentiated: col2im's forward and kernel gradient
    if dtype != "float32":
        return
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    with jax.enable_x64():
        want = jax.lax.conv_general_dilated(x64, w64, **kw)
        want_dx, want_dw = jax.grad(functools.partial(loss, jax.lax.conv_general_dilated), (0, 1))(
            x64, w64
        )
    for a, b in ((got, want), (got_dx, want_dx), (got_dw, want_dw)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


def _products(plan):
    # (computed, kept), counted one by one: input i of tap t lands at lo - t·rd + i·ld in
    # each dim, an output where that is a multiple of the stride (col2im multiplies each
    # input phase with the taps it meets only).
    computed = kept = 1
    for size, k, s, ld, rd, (lo, _), out in zip(
        plan.in_spatial, plan.kernel, plan.strides, plan.lhs_dilation, plan.rhs_dilation,
        plan.pads, plan.out_spatial, strict=True,
    ):  # fmt: skip
        at = [lo - t * rd + i * ld for i in range(size) for t in range(k)]
        computed *= sum(a % s == 0 for a in at)
        kept *= sum(a % s == 0 and 0 <= a // s < out for a in at)
    return computed, kept


@pytest.mark.parametrize(
    "x_shape, w_shape, strides, padding, lhs, rhs",
    [
        ((2, 7, 7, 4), (7, 7, 4, 8), (1, 1), "VALID", (1, 1), (1, 1)),  # 49 products to 1
        ((2, 9, 9, 4), (3, 3, 4, 8), (1, 1), "SAME", (1, 1), (1, 1)),
        ((2, 9, 13, 4), (3, 5, 4, 8), (1, 1), ((0, 2), (3, 1)), (1, 1), (2, 1)),
        ((2, 5, 6, 4), (4, 4, 4, 8), (1, 1), ((2, 2), (1, 3)), (2, 2), (1, 1)),  # transposed
        ((2, 3, 3, 4), (3, 3, 4, 8), (1, 1), ((0, 0), (1, 1)), (3, 2), (1, 2)),
        ((2, 9, 9, 4), (3, 3, 4, 8), (2, 2), "SAME", (1, 1), (1, 1)),  # strided
        ((2, 13, 11, 4), (3, 5, 4, 8), (3, 2), ((0, 2), (1, 1)), (1, 1), (2, 1)),
        ((2, 7, 7, 4), (7, 7, 4, 8), (2, 2), "VALID", (1, 1), (1, 1)),  # 13 products per one kept
    ],
)
def test_col2im_is_not_tried_where_it_would_drop_most_of_its_products(
    x_shape, w_shape, strides, padding, lhs, rhs
):
    plan = conv_plan(x_shape, w_shape, NHWC, strides, padding, lhs, rhs)
    computed, kept = _products(plan)
    assert _strategies.col2im_waste(plan) == pytest.approx(computed / kept)
    worth = _strategies.col2im_waste(plan) <= _strategies.COL2IM_WASTE
    assert _strategies.accepts("col2im", plan)
    assert _strategies.feasible("col2im", plan) == worth
    x, w = (jax.ShapeDtypeStruct(s, jnp.float32) for s in (x_shape, w_shape))
    got = jaxconv.chosen_strategy(x, w, strides, padding, lhs, rhs, NHWC)
    assert worth or got != "col2im"


def _phases(plan):
    # Per dim, the residues modulo the stride of the inputs that some tap multiplies: input
    # i meets tap t where i + lo - t·rd is a multiple of the stride.
    count = 1
    for size, k, s, rd, (lo, _) in zip(
        plan.in_spatial, plan.kernel, plan.strides, plan.rhs_dilation, plan.pads, strict=True
    ):
        count *= len({i % s for i in range(size) for t in range(k) if (i + lo - t * rd) % s == 0})
    return count


@pytest.mark.parametrize(
    "x_shape, w_shape, strides, padding, dn",
    [
        ((4, 64, 64, 32), (5, 5, 32, 32), (8, 8), "SAME", NHWC),  # 25: was col2im
        ((4, 64, 64, 32), (7, 7, 32, 32), (6, 6), "SAME", NHWC),  # 36: was col2im
        ((2, 16, 16, 16, 32), (5, 5, 5, 32, 32), (4, 4, 4), "SAME", ("NDHWC", "DHWIO", "NDHWC")),
        ((2, 32, 64, 64), (32, 32, 7, 7), (4, 4), "SAME", ("NCHW", "OIHW", "NCHW")),  # 16
        ((4, 64, 64, 32), (3, 3, 32, 32), (4, 4), "SAME", NHWC),  # 9: the taps meet 3 of 4
        ((2, 48, 48, 32), (4, 4, 32, 32), (3, 3), "VALID", NHWC),
        ((4, 60, 60, 32), (3, 3, 32, 32), (6, 6), ((0, 0), (2, 1)), NHWC),
        ((4, 61, 61, 32), (3, 3, 32, 32), (5, 5), "SAME", NHWC),
        ((2, 40, 40, 16), (3, 3, 16, 16), (5, 5), "VALID", NHWC),
        ((2, 64, 16), (9, 16, 16), (17,), "SAME", ("NWC", "WIO", "NWC")),
        ((2, 512, 16), (33, 16, 16), (32,), "SAME", ("NWC", "WIO", "NWC")),
    ],
)
def test_col2im_is_not_tried_past_sixteen_gemms(x_shape, w_shape, strides, padding, dn):
    # Under window strides col2im runs one GEMM per input phase, each a program of its own:
    # 28-50 ms of compile time per phase on CPU, minutes at thousands.
    plan = make_plan(x_shape, w_shape, strides, padding, dimension_numbers=dn, dtype="float32")
    gemms = _strategies.col2im_gemms(plan)
    assert gemms == _phases(plan) and _strategies.col2im_waste(plan) <= _strategies.COL2IM_WASTE
    assert _strategies.feasible("col2im", plan) == (gemms <= 16)
    assert ("col2im" in _tune.candidates(plan)) == (gemms <= 16)
    x, w = (jax.ShapeDtypeStruct(s, jnp.float32) for s in (x_shape, w_shape))
    got = jaxconv.chosen_strategy(x, w, strides, padding, dimension_numbers=dn)
    assert gemms <= 16 or got != "col2im"


def test_col2im_forced_past_sixteen_gemms_gives_lax_numbers():
    # Not tried by auto or tune, but still accepted where asked for by name.
    rng = np.random.default_rng(0)
    x, w = random_array(rng, (2, 21, 19, 5)), random_array(rng, (5, 5, 5, 6))
    plan = make_plan(x.shape, w.shape, (5, 5), "SAME", dimension_numbers=NHWC)
    assert _strategies.col2im_gemms(plan) == 25
    kw = dict(window_strides=(5, 5), padding="SAME", dimension_numbers=NHWC)
    got = jaxconv.conv_general_dilated(x, w, strategy="col2im", **kw)
    assert_close(got, lax.conv_general_dilated(x, w, precision=HIGHEST, **kw))


@pytest.mark.parametrize("w_shape", [(3, 3, 4, 0), (3, 3, 0, 4), (1, 7, 4, 0)])
def test_auto_runs_convolutions_with_no_features(w_shape):
    """The rules' features (Winograd's tiles over its kernel) and the strategies' sizes (the
    band width) are defined with no input or output features: an empty output, as lax's,
    from ``auto`` and from every strategy that accepts the plan."""
    x = jnp.ones((2, 6, 6, w_shape[2]))
    w = jnp.ones(w_shape)
    want = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=NHWC)
    plan = conv_plan(x.shape, w.shape, NHWC, (1, 1), "SAME")
    names = [s for s in _strategies.STRATEGIES if _strategies.accepts(s, plan)]
    for name in ["auto", *names]:
        got = jaxconv.conv2d(x, w, padding="SAME", strategy=name)
        assert got.shape == want.shape, name
        np.testing.assert_array_equal(got, want)


def test_rules_print_from_the_command_line():
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-m", "jaxconv", "rules"], capture_output=True,
                         text=True, env=env, timeout=120)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("auto: rules measured on cpu")
    assert _rules.measured("cpu").text() in out.stdout


def test_a_platform_without_rules_uses_the_tune_cache_then_the_cpu_rules(monkeypatch, tmp_path):
    monkeypatch.setenv(_tune.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(_tune, "_CACHE", None)
    monkeypatch.setattr(_policy, "platform", lambda: "tpu")  # no rules measured there
    assert _rules.measured("tpu") is None
    assert "no rules measured on tpu" in _policy.rules_for("tpu")[1]
    case, plan = next(iter(_plans(1)))
    cpu = _rules.measured("cpu").choose(
        _rules.features(plan), lambda s: _strategies.feasible(s, plan)
    )
    assert _policy.choose(plan, jnp.float32) == cpu
    other = next(s for s in _strategies.STRATEGIES if s != cpu and _strategies.feasible(s, plan))
    key = _tune.plan_key(plan, jnp.float32)
    _tune.tune_cache().put(jax.devices()[0], key, {"best": other, "ms": {other: 1.0}})
    assert _policy.choose(plan, jnp.float32) == other


def _plan_1d(n, length, c, o, k, dn=("NWC", "WIO", "NWC")):
    xs, ws = ((n, length, c), (k, c, o)) if dn[0] == "NWC" else ((n, c, length), (o, c, k))
    return make_plan(xs, ws, (1,), "SAME", dimension_numbers=dn)


def _assert_like_lax_in_float64(x, w, kw, forward=True):
    """jaxconv's gradients of ``sum(sin(conv(x, w, **kw)))`` with respect to ``x`` and ``w``
    (with ``forward``, and its output) agree with lax's computed in float64, to 1e-4 of
    each array's largest value."""

    def loss(conv, x, w):
        return jnp.sum(jnp.sin(conv(x, w, **kw, precision="highest")))

    got = jax.jit(jax.grad(functools.partial(loss, jaxconv.conv_general_dilated), (0, 1)))(x, w)
    if forward:
        got = (jax.jit(functools.partial(jaxconv.conv_general_dilated, **kw))(x, w), *got)
    with jax.enable_x64():
        x64, w64 = x.astype(np.float64), w.astype(np.float64)
        want = jax.grad(functools.partial(loss, jax.lax.conv_general_dilated), (0, 1))(x64, w64)
        if forward:
            want = (jax.lax.conv_general_dilated(x64, w64, **kw), *want)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


def _auto(p, monkeypatch=None, without=None):
    """auto's choice on ``p`` in its own layout; with ``without``, that override of
    ``_policy`` (``f(plan, name, allowed) -> name``) switched off."""
    if without is None:
        return _policy.choose(p, jnp.float32, decide_layout=True)
    with monkeypatch.context() as m:
        m.setattr(_policy, without, lambda plan, name, *_: name)
        return _auto(p)


NDHWC = ("NDHWC", "DHWIO", "NDHWC")


@pytest.mark.parametrize(
    "xs, ws, strides, padding, dn, narrow, patches",
    [
        # (layers of the narrow-kernel sweep, and what the rules ran there)
        ((4, 26, 26, 8), (1, 1, 8, 8), (2, 2), "SAME", NHWC, True, True),  # direct
        ((2, 128, 42, 42), (64, 128, 5, 5), (6, 6), "VALID", NCHW, True, True),  # rows
        ((8, 32, 81, 81), (16, 32, 4, 4), (7, 7), "SAME", NCHW, True, True),  # col2im
        ((2, 1090, 64), (7, 64, 64), (8,), "VALID", ("NWC", "WIO", "NWC"), True, True),  # col2im
        ((2, 20, 20, 20, 16), (2, 3, 1, 16, 8), (3, 3, 2), "SAME", NDHWC, True, True),  # col2im
        # on 1-4 input features what the rules ran stays (banded, direct)
        ((8, 1, 59, 59), (32, 1, 5, 5), (8, 8), "VALID", NCHW, True, False),
        ((8, 133, 133, 1), (4, 4, 1, 16), (7, 7), "SAME", NHWC, True, False),
        ((4, 60, 60, 60, 4), (5, 5, 5, 4, 16), (7, 7, 7), "SAME", NDHWC, True, False),
        # not narrow: a patch embedding, overlapping windows
        ((2, 64, 64, 16), (4, 4, 16, 32), (4, 4), "VALID", NHWC, False, False),
        ((2, 64, 64, 16), (3, 3, 16, 32), (2, 2), "SAME", NHWC, False, False),
    ],
)
def test_kernels_narrower_than_strides_run_one_patch_gemm(
    monkeypatch, xs, ws, strides, padding, dn, narrow, patches
):
    # Windows that neither overlap nor cover the input: from 5 input features, im2col's
    # one patch copy and one GEMM (0.70-0.79x the time of the rules' direct, rows or col2im
    # on CPU, forward); elsewhere the choice is what it was.
    plan = make_plan(xs, ws, strides, padding, dimension_numbers=dn)
    before = _auto(plan, monkeypatch, without="_narrow_kernel_patches")
    assert _policy.narrow_kernel(plan) == narrow
    assert _auto(plan) == ("im2col" if patches else before)
    if not patches:
        return
    assert before != "im2col"  # the sweep's layers, where the rules ran another
    # Differentiated, col2im stays: there its forward gain did not hold with the gradients.
    user = _policy.in_layout(plan, "im2col")
    grad = _policy.differentiated_choice(user, "im2col", jnp.float32)
    assert grad == ("col2im" if before == "col2im" else "im2col")
    # What runs there gives lax's numbers, forward and both gradients (float64 reference),
    # on a smaller input of the same geometry.
    if dn[0].startswith("NC"):
        small = (xs[0], xs[1], *(min(d, 24) for d in xs[2:]))
    else:
        small = (xs[0], *(min(d, 24) for d in xs[1:-1]), xs[-1])
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(small, np.float32), rng.standard_normal(ws, np.float32)
    kw = dict(window_strides=strides, padding=padding, dimension_numbers=dn)
    assert _auto(make_plan(small, ws, strides, padding, dimension_numbers=dn)) == "im2col"
    _assert_like_lax_in_float64(x, w, kw)


def test_on_gpus_auto_runs_col2im_where_the_cpu_rules_run_im2col(monkeypatch, tmp_path):
    # Kernel-heavy layers on few positions, where the CPU rules (and, OIHW, the in-place
    # kernel read) pick im2col, and a 3x3 layer where they pick winograd; on a GPU col2im
    # runs them, except where its GEMM would be an outer product (3 input features), and
    # never over the tuning cache's answer.
    monkeypatch.setenv(_tune.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(_tune, "_CACHE", None)
    heavy = [
        make_plan((1, 7, 7, 256), (5, 5, 256, 256), (1, 1), "SAME", dimension_numbers=NHWC),
        make_plan(
            (1, 512, 12, 12),
            (1024, 512, 1, 1),
            (1, 1),
            "VALID",
            dimension_numbers=("NCHW", "OIHW", "NCHW"),
        ),  # fmt: skip
    ]
    tiles = make_plan((1, 90, 90, 32), (3, 3, 32, 32), (1, 1), "SAME", dimension_numbers=NHWC)
    shallow = make_plan((1, 40, 40, 3), (3, 3, 3, 64), (1, 1), "SAME", dimension_numbers=NHWC)

    monkeypatch.setattr(_policy, "platform", lambda: "cpu")
    assert [_auto(p) for p in (*heavy, tiles)] == ["im2col", "im2col", "winograd"]
    monkeypatch.setattr(_policy, "platform", lambda: "gpu")
    assert [_auto(p) for p in (*heavy, tiles)] == ["col2im", "col2im", "col2im"]
    assert not _policy.col2im_too_shallow(heavy[0]) and _policy.col2im_too_shallow(shallow)
    with mock.patch.object(_rules.Rules, "choose", lambda self, x, allowed: "im2col"):
        assert _auto(shallow) == "im2col"
    key = _tune.plan_key(heavy[0], jnp.float32)
    _tune.tune_cache().put(jax.devices()[0], key, {"best": "im2col", "ms": {"im2col": 1.0}})
    assert _auto(heavy[0]) == "im2col"


def test_wide_long_1d_kernels_run_im2col_on_windows_not_fft():
    # fft's cost model says it pays on both (63 taps on 512 and 1000 positions); on 256 x 256
    # features the windowed im2col's wide GEMM wins (fft 6x lax there), on 32 x 32 fft.
    wide, narrow = _plan_1d(1, 512, 256, 256, 63), _plan_1d(2, 1000, 32, 32, 63)
    for p in (wide, narrow):
        assert _policy.fft_pays(p, "im2col") and _taps.builds_windows(p)
    assert wide.group_in * wide.out_features >= _policy.FFT_WINDOWS_PRODUCTS
    assert _auto(wide) == "im2col"
    assert _auto(narrow) == "fft"


def test_wide_long_1d_kernels_run_fft_where_it_pays_well_and_reuses_its_spectrum():
    # 96 -> 96, 127 taps on 16 x 2092 (seed 8121: fft 0.20x im2col's time): a cost ratio
    # far above FFT_PAYS_WINDOWS, the kernel spectrum shared by 96 rows. 192 -> 256 on
    # 2 x 534 pays as well by the model, but its spectrum meets 10 rows (fft 1.8x im2col).
    def ratio(p):
        return p.flops / 2 / _strategies.fft_cost(p, _strategies.fft_blocks(p))

    def rows(p):
        return p.batch * math.prod(_strategies.fft_blocks(p).count)

    long, few_rows = _plan_1d(16, 2092, 96, 96, 127), _plan_1d(2, 534, 192, 256, 127)
    for p in (long, few_rows):
        assert _policy.fft_pays(p, "im2col") and _taps.builds_windows(p)
        assert ratio(p) >= _policy.FFT_PAYS_WINDOWS
        assert p.in_features * p.out_features >= _policy.FFT_WINDOWS_PRODUCTS
    assert long.in_features * long.out_features <= _policy.FFT_WINDOWS_SPECTRUM * rows(long)
    assert few_rows.in_features * few_rows.out_features > (
        _policy.FFT_WINDOWS_SPECTRUM * rows(few_rows)
    )
    assert _auto(long) == "fft"
    assert _auto(few_rows) == "im2col"
    # the 256 x 256 layer above: a ratio of 4.0 on 9 rows
    wide = _plan_1d(1, 512, 256, 256, 63)
    assert ratio(wide) >= _policy.FFT_PAYS_WINDOWS and _auto(wide) == "im2col"


def test_long_1d_kernels_into_few_outputs_run_col2im_not_windows(monkeypatch):
    # 128 -> 12, 16 taps on 4 x 8198 (seed 8121: col2im 0.41x im2col's time): col2im writes
    # K·O per position, under half the windows' K·C. Not with half as many outputs or more,
    # nor on fewer output positions than taps (41 taps, 11 positions: col2im 1.24x).
    def plan(xs, ws, s=1, pad="SAME"):
        return make_plan(xs, ws, (s,), pad, dimension_numbers=NWC)

    narrows = plan((4, 8198, 128), (16, 128, 12), pad="VALID")
    half = plan((8, 1079, 48), (16, 48, 24))
    short = plan((64, 61, 32), (41, 32, 12), 2, "VALID")
    for p in (narrows, half, short):
        assert _auto(p, monkeypatch, "_windows_over_col2im") == "col2im"
        assert not _policy.fft_pays(p, "im2col")
    assert 2 * narrows.out_features < narrows.in_features
    assert short.out_spatial[0] < short.taps
    assert _auto(narrows) == "col2im"
    assert _auto(half) == _auto(short) == "im2col"


def test_long_1d_layers_of_few_features_run_a_loop_or_a_band_not_col2im(monkeypatch):
    # Where the rules run col2im on a 1-d channels-last layer of at most 8 input features,
    # auto runs direct (few multiply-adds per output) or banded instead; not channels-first,
    # not on more features, not on few rows (where it was not measured).
    def without_rule(p):
        return _auto(p, monkeypatch, "_loop_over_col2im")

    few_taps, many_taps = _plan_1d(4, 4096, 8, 16, 5), _plan_1d(6, 9990, 8, 16, 9)
    assert without_rule(few_taps) == without_rule(many_taps) == "col2im"
    assert few_taps.taps * few_taps.in_features <= _policy.LOOP_PRODUCTS
    assert _auto(few_taps) == "direct"
    assert _auto(many_taps) == "banded"
    # Many output features on as many products: the loop grows with them, a GEMM runs
    # them (random@9866's r079, 8 -> 64 on 7 taps: direct 2.65x lax, im2col 1.08x).
    wide = _plan_1d(3, 5654, 8, 64, 7)
    assert without_rule(wide) == "col2im"
    assert wide.taps * wide.in_features <= _policy.LOOP_PRODUCTS
    assert wide.taps * wide.in_features * wide.out_features > (
        _policy.LOOP_PRODUCTS * _policy.LOOP_OUTPUTS
    )
    assert _auto(wide) == "im2col"
    deeper, short = _plan_1d(4, 4096, 16, 16, 5), _plan_1d(1, 300, 8, 16, 9)
    channels_first = _plan_1d(4, 4096, 8, 16, 5, ("NCW", "OIW", "NCW"))
    for p in (deeper, short, channels_first):
        assert _auto(p) == without_rule(p)


def test_long_1d_layers_stack_their_taps_where_col2im_would_move_more(monkeypatch):
    # On more than 8 input features, where the rules run col2im on a 1-d channels-last layer
    # and its K·O columns per position outweigh K·C stacked inputs plus O outputs (the
    # criterion on which col2im stacks a row's taps in 2-d), auto runs im2col.
    def stack_pays(p):
        k, c, o = p.taps, p.in_features, p.out_features
        return k * c + o < _strategies.STACK_ROWS_TRAFFIC * k * o

    many_outputs, few_outputs = _plan_1d(10, 1469, 24, 48, 5), _plan_1d(1, 4129, 16, 24, 9)
    for p in (many_outputs, few_outputs):
        assert _auto(p, monkeypatch, "_stack_over_col2im") == "col2im"
    assert stack_pays(many_outputs) and not stack_pays(few_outputs)
    assert _auto(many_outputs) == "im2col"
    assert _auto(few_outputs) == "col2im"


def test_widening_channels_first_1d_layers_stack_their_taps_not_col2im(monkeypatch):
    # On NCW data, where the rules run col2im on a 1-d unit-stride layer whose K·O columns
    # per position outweigh K·C stacked inputs plus O outputs by 2x or more, auto runs
    # im2col (seed 8111's 5 -> 64 11-tap layer: col2im 2.99x lax, im2col 1.02x); not where
    # it widens less, not on strided or channels-last layers (other rules, measured apart).
    ncw = ("NCW", "OIW", "NCW")

    def moves(p):
        k, c, o = p.taps, p.in_features, p.out_features
        return (k * c + o) / (k * o)

    def without_rule(p):
        return _auto(p, monkeypatch, "_stack_over_channels_first_col2im")

    widening, even = _plan_1d(8, 560, 5, 64, 11, ncw), _plan_1d(16, 2082, 16, 16, 9, ncw)
    narrower = _plan_1d(4, 2092, 8, 24, 5, ncw)
    for p in (widening, even, narrower):
        assert without_rule(p) == "col2im"
    assert moves(widening) < _policy.CHANNELS_FIRST_STACK_TRAFFIC
    assert moves(even) > moves(narrower) > _policy.CHANNELS_FIRST_STACK_TRAFFIC
    assert _auto(widening) == "im2col"
    assert _auto(even) == _auto(narrower) == "col2im"
    strided = make_plan((8, 5, 560), (64, 5, 11), (2,), "SAME", dimension_numbers=ncw)
    channels_last = _plan_1d(8, 560, 5, 64, 11)
    for p in (strided, channels_last):
        assert _auto(p) == without_rule(p)
    # and the layer it moves computes lax's numbers
    rng = np.random.default_rng(0)
    x, w = random_array(rng, (8, 5, 560)), random_array(rng, (64, 5, 11))
    assert jaxconv.chosen_strategy(x, w, (1,), "SAME", dimension_numbers=ncw) == "im2col"
    got = jaxconv.conv_general_dilated(x, w, (1,), "SAME", dimension_numbers=ncw)
    want = lax.conv_general_dilated(x, w, (1,), "SAME", dimension_numbers=ncw, precision=HIGHEST)
    assert_close(got, want)


def test_transposed_layers_that_widen_run_polyphase_not_col2im(monkeypatch):
    # Where the rules run col2im on a transposed layer whose kernel overlaps (wider than
    # the stride) into 4x as many features or more, auto runs polyphase (seed 9846's
    # 6x6/2 5 -> 304 layer: col2im 4.8x polyphase's time); not where the kernel is no
    # wider than the stride, nor into fewer features.
    def without_rule(p):
        return _auto(p, monkeypatch, "_polyphase_over_widening_col2im")

    def plan(c, o, k, s, dn=NHWC, side=34):
        xs = (1, side, side, c) if dn == NHWC else (1, c, side, side)
        ws = (k, k, c, o) if dn == NHWC else (o, c, k, k)
        pads = ((k - 1 - (k - s + 1) // 2,) * 2,) * 2
        return make_plan(xs, ws, (1, 1), pads, (s, s), dimension_numbers=dn)

    nchw = ("NCHW", "OIHW", "NCHW")
    widening, wide_nhwc = plan(5, 304, 6, 2, nchw), plan(8, 64, 4, 2)
    even, blocks = plan(32, 32, 4, 2), plan(5, 304, 2, 2, nchw)
    for p in (widening, wide_nhwc, even, blocks):
        assert without_rule(p) == "col2im"
    assert widening.out_features >= _policy.POLYPHASE_WIDENING * widening.in_features
    assert _auto(widening) == _auto(wide_nhwc) == "polyphase"
    assert _auto(even) == _auto(blocks) == "col2im"
    # and the layer it moves computes lax's numbers
    rng = np.random.default_rng(0)
    x, w = random_array(rng, (1, 34, 34, 8)), random_array(rng, (4, 4, 8, 64))
    pads = ((2, 2), (2, 2))
    args = (x, w, (1, 1), pads, (2, 2), None, NHWC)
    assert jaxconv.chosen_strategy(*args) == "polyphase"
    got = jaxconv.conv_general_dilated(*args)
    want = lax.conv_general_dilated(*args, precision=HIGHEST)
    assert_close(got, want)


def test_3x3_layers_on_many_tiles_run_winograd_not_col2im_forward(monkeypatch):
    # Where the rules run col2im on a 3x3 stride-1 layer of more than 16 input features, at
    # least 16 output features and 512 Winograd tiles, auto runs winograd forward on
    # channels-last data unless the output is 4x narrower, and on channels-first data that
    # widens 2x (seed 9850's 64 -> 48 layer on 16x75x92: col2im 1.65x lax, winograd 0.57x);
    # a differentiated layer keeps col2im.
    nchw = ("NCHW", "OIHW", "NCHW")

    def plan(n, side, c, o, dn=NHWC):
        xs = (n, side, side, c) if dn == NHWC else (n, c, side, side)
        ws = (3, 3, c, o) if dn == NHWC else (o, c, 3, 3)
        return make_plan(xs, ws, (1, 1), "SAME", dimension_numbers=dn)

    moved = [plan(1, 64, 64, 64), plan(1, 48, 128, 64), plan(1, 64, 64, 128, nchw)]
    kept = [
        plan(2, 40, 256, 24),  # 10x narrower
        plan(2, 48, 48, 12),  # 12 output features
        plan(1, 64, 16, 64),  # 16 input features (the stacked col2im's)
        plan(1, 64, 64, 64, nchw),  # channels-first, not widening
        plan(1, 30, 64, 128, nchw),  # 225 tiles
    ]
    for p in moved + kept:
        assert _auto(p, monkeypatch, "_winograd_over_col2im") == "col2im"
    for p in moved:
        assert _auto(p) == "winograd"
        assert _policy.differentiated_choice(p, "winograd", jnp.float32) == "col2im"
    # nor does a layer's input gradient (here a 64 -> 64 3x3 convolution like the first)
    dx = _grad.input_grad_plan(moved[0])
    assert _policy.choose(dx, jnp.float32) == "winograd"
    assert _policy.choose(dx, jnp.float32, input_gradient=True) == "col2im"
    for p in kept:
        assert _auto(p) == "col2im"
    # and the layer it moves computes lax's numbers, forward and differentiated (in float64:
    # Winograd's float32 error, near 1e-6 of the sums' magnitude, is not the point here)
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        x = random_array(rng, (1, 48, 48, 128), np.float64)
        w = random_array(rng, (3, 3, 128, 64), np.float64)
        args = (x, w, (1, 1), "SAME", None, None, NHWC)
        assert jaxconv.chosen_strategy(*args) == "winograd"
        assert_close(jaxconv.conv_general_dilated(*args), lax.conv_general_dilated(*args))

        def loss(conv, x, w):
            return jnp.sum(jnp.sin(conv(x, w, (1, 1), "SAME", dimension_numbers=NHWC)))

        got = jax.grad(functools.partial(loss, jaxconv.conv_general_dilated), (0, 1))(x, w)
        want = jax.grad(functools.partial(loss, lax.conv_general_dilated), (0, 1))(x, w)
        for g, r in zip(got, want, strict=True):
            assert_close(g, r)


def test_wide_layers_whose_output_shrinks_run_im2col_not_col2im(monkeypatch):
    # Where the rules run col2im on a dense unit-stride 2-d or 3-d layer whose output has
    # 1.3x fewer positions than its input or fewer, into 64 or more features, auto runs
    # im2col (seed 8141's 96 -> 256 5x5 VALID layer on 8x14x11: col2im 2.08x lax, im2col
    # 0.61x); not into fewer features, not where the output keeps the input's size.
    def without_rule(p):
        return _auto(p, monkeypatch, "_im2col_over_shrinking_col2im")

    def plan(xs, ws, padding="VALID", strides=None):
        strides = strides or (1,) * (len(xs) - 2)
        return make_plan(xs, ws, strides, padding, dimension_numbers=dn[len(xs)])

    dn = {4: ("NHWC", "HWIO", "NHWC"), 5: ("NDHWC", "DHWIO", "NDHWC")}
    wide = plan((8, 14, 11, 96), (5, 5, 96, 256))
    volume = plan((1, 9, 8, 10, 64), (3, 3, 3, 64, 128))
    narrow = plan((1, 24, 16, 48), (7, 7, 48, 24))
    same = plan((8, 14, 11, 96), (5, 5, 96, 256), "SAME")
    for p in (wide, volume, narrow, same):
        assert without_rule(p) == "col2im"
    for p in (wide, volume):
        assert math.prod(p.in_spatial) >= _policy.COL2IM_SHRINK * math.prod(p.out_spatial)
        assert p.out_features >= _policy.COL2IM_SHRINK_FEATURES
        assert _auto(p) == "im2col"
    assert _auto(narrow) == _auto(same) == "col2im"
    strided = plan((8, 14, 11, 96), (5, 5, 96, 256), strides=(2, 2))
    assert _auto(strided) == without_rule(strided)
    # and the layer it moves computes lax's numbers (a kernel scaled as initialisers do: 2400
    # products of unit values would round in float32 beyond the table's tolerance)
    rng = np.random.default_rng(0)
    x, w = random_array(rng, (8, 14, 11, 96)), random_array(rng, (5, 5, 96, 256)) / 50
    assert jaxconv.chosen_strategy(x, w, (1, 1), "VALID", dimension_numbers=dn[4]) == "im2col"
    got = jaxconv.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=dn[4])
    want = lax.conv_general_dilated(
        x, w, (1, 1), "VALID", dimension_numbers=dn[4], precision=HIGHEST
    )
    assert_close(got, want)


def test_kernel_dominated_layers_of_few_gemm_rows_run_im2col(monkeypatch):
    # Where the rules run rows or taps on a channels-last dense layer whose kernel holds 3x
    # its patches or more, with at most 128 GEMM rows, auto runs im2col: one GEMM reading
    # the kernel once (seed 8185's 13x13/2 768 -> 192 layer on 15x15: rows 1.50x lax,
    # im2col 0.38x). Not channels-first (the kernel is copied there: im2col 2.4x the time on
    # a 5x5x5/2 768 -> 192 volume), not on more rows, not where the kernel is lighter.
    def without_rule(p):
        return _auto(p, monkeypatch, "_im2col_over_thin_gemms")

    def plan(xs, ws, strides, padding="VALID", dn=NHWC):
        return make_plan(xs, ws, strides, padding, dimension_numbers=dn)

    big = plan((1, 15, 15, 768), (13, 13, 768, 192), (2, 2))
    small = plan((1, 15, 15, 96), (13, 13, 96, 64), (2, 2))
    volume = plan((1, 7, 5, 7, 64), (5, 5, 5, 64, 96), (2, 2, 2), dn=NDHWC)
    volume_cf = plan((1, 768, 7, 5, 7), (192, 768, 5, 5, 5), (2, 2, 2), "SAME", NCDHW)
    many_rows = plan((4, 40, 40, 96), (5, 5, 96, 128), (2, 2), "SAME")
    for p in (big, small, volume):
        assert without_rule(p) in ("rows", "taps")
        rows = p.batch * math.prod(p.out_spatial)
        assert rows <= _policy.FEW_ROWS_KERNEL_GEMMS
        assert p.out_features >= _strategies.KERNEL_IN_PLACE * rows
        assert _auto(p) == "im2col"
    for p in (volume_cf, many_rows):
        assert without_rule(p) in ("rows", "taps")
        assert _auto(p) == without_rule(p)
    # and the layer it moves computes lax's numbers (a kernel scaled as initialisers do)
    rng = np.random.default_rng(0)
    x, w = random_array(rng, (1, 15, 15, 96)), random_array(rng, (13, 13, 96, 64)) / 100
    assert jaxconv.chosen_strategy(x, w, (2, 2), "VALID", dimension_numbers=NHWC) == "im2col"
    got = jaxconv.conv_general_dilated(x, w, (2, 2), "VALID", dimension_numbers=NHWC)
    want = lax.conv_general_dilated(x, w, (2, 2), "VALID", dimension_numbers=NHWC,
                                    precision=HIGHEST)  # fmt: skip
    assert_close(got, want)


def test_strided_layers_run_direct_or_patches_not_a_band(monkeypatch):
    # Where auto would run banded on a strided layer it runs direct on few products per
    # output (a 4x4/2 8 -> 8 layer on 4x224x224: banded 2.6x lax, direct 1.0x), else im2col
    # from 5 input features (a 1x3/2 256 -> 256 layer on 8x56x56: banded 2.3x lax, im2col
    # 0.74x); on fewer features the band deepens a thin GEMM, unless it is 64 outputs wide; at
    # unit stride, no change.
    def plan(xs, ws, strides, dn=("NHWC", "HWIO", "NHWC")):
        return make_plan(xs, ws, strides, "VALID", dimension_numbers=dn)

    nchw = ("NCHW", "OIHW", "NCHW")
    deep = plan((8, 56, 56, 256), (1, 3, 256, 256), (2, 2))
    pointwise = plan((4, 112, 112, 384), (1, 1, 384, 384), (2, 2))
    thin = plan((8, 224, 224, 3), (7, 7, 3, 64), (2, 2))
    few = plan((4, 224, 224, 8), (4, 4, 8, 8), (2, 2))
    few_cf = plan((32, 1, 271, 218), (16, 1, 4, 4), (2, 2), nchw)
    more_cf = plan((4, 8, 224, 224), (8, 8, 4, 4), (2, 2), nchw)
    for p in (deep, pointwise, thin, few, few_cf, more_cf):
        assert _auto(p, monkeypatch, "_strided_over_band") == "banded"
    assert deep.in_features >= _policy.BAND_PATCHES_FEATURES
    assert _auto(deep) == _auto(pointwise) == _auto(more_cf) == "im2col"
    assert few.taps * few.in_features * few.out_features <= (
        _policy.LOOP_PRODUCTS * _policy.LOOP_OUTPUTS
    )
    assert few_cf.taps * few_cf.in_features <= _policy.STRIDED_DIRECT_PRODUCTS
    assert more_cf.taps * more_cf.in_features > _policy.STRIDED_DIRECT_PRODUCTS
    assert _auto(few) == _auto(few_cf) == "direct"
    assert thin.in_features < _policy.BAND_PATCHES_FEATURES and _auto(thin) == "banded"
    # On 1-4 features into 64 or more outputs, past what direct pays, a kernel short of 7x7
    # takes patches too (a 5x5/3 4 -> 128 layer on 1x322x182: im2col 0.60x banded's time);
    # into fewer outputs the band stays.
    wide_out = plan((1, 4, 322, 182), (128, 4, 5, 5), (3, 3), nchw)
    narrow_out = plan((1, 4, 322, 182), (32, 4, 5, 5), (3, 3), nchw)
    for p in (wide_out, narrow_out):
        assert _auto(p, monkeypatch, "_strided_over_band") == "banded"
        assert p.in_features < _policy.BAND_PATCHES_FEATURES
    assert wide_out.out_features >= _policy.BAND_PATCHES_OUTPUTS > narrow_out.out_features
    assert _auto(wide_out) == "im2col" and _auto(narrow_out) == "banded"
    # 7x7 kernels into few output features keep the band (a 7x7/2 6 -> 16 layer on
    # 1x313x491: im2col 2.9x banded's time); 1x7 rows and more outputs take patches.
    seven = plan((1, 313, 491, 6), (7, 7, 6, 16), (2, 2))
    row = plan((4, 8, 136, 198), (24, 8, 1, 7), (3, 3), nchw)
    wider = plan((4, 6, 150, 173), (128, 6, 7, 7), (4, 4), nchw)
    for p in (seven, row, wider):
        assert _auto(p, monkeypatch, "_strided_over_band") == "banded"
        assert p.in_features >= _policy.BAND_PATCHES_FEATURES
    assert not _policy.strided_patches_pay(seven) and _auto(seven) == "banded"
    assert _auto(row) == _auto(wider) == "im2col"
    unit = plan((8, 56, 56, 256), (1, 3, 256, 256), (1, 1))
    assert _auto(unit) == _auto(unit, monkeypatch, "_strided_over_band")
    rng = np.random.default_rng(0)
    for xs, ws, dn, want_name in [
        ((2, 20, 20, 128), (3, 1, 128, 128), ("NHWC", "HWIO", "NHWC"), "im2col"),
        ((2, 21, 19, 8), (4, 4, 8, 8), ("NHWC", "HWIO", "NHWC"), "direct"),
        ((2, 1, 23, 20), (16, 1, 4, 4), nchw, "direct"),
        ((2, 3, 23, 21), (64, 3, 5, 5), nchw, "im2col"),
        ((2, 23, 21, 4), (3, 3, 4, 96), ("NHWC", "HWIO", "NHWC"), "im2col"),
    ]:
        small = plan(xs, ws, (2, 2), dn)
        assert _auto(small, monkeypatch, "_strided_over_band") == "banded"
        assert _auto(small) == want_name
        x, w = random_array(rng, xs), random_array(rng, ws)
        want = lax.conv_general_dilated(
            x, w, (2, 2), "VALID", dimension_numbers=dn, precision=HIGHEST
        )
        got = jax.jit(
            lambda x, w, dn=dn: jaxconv.conv(
                x, w, 2, "VALID", dimension_numbers=dn, precision=HIGHEST
            )
        )
        assert_close(got(x, w), want)


def test_depthwise_layers_run_taps_forward_on_long_kernels_over_many_features(monkeypatch):
    # Past a 7x7 kernel's 49 taps on 64 or more features, where the tree picks the fused
    # loop, auto runs a depthwise layer's taps one pass each (a 13x13 layer on 1024
    # features: depthwise 4.1x the time of taps), differentiated too (held out forward and
    # backward, 0.62-0.77x the time of the fused loop). Elsewhere the tree's choice stands.
    def depthwise(xs, k, dn=("NHWC", "HWIO", "NHWC")):
        c = xs[-1] if dn[0][-1] == "C" else xs[1]
        ws = (*k, 1, c) if dn[1][-1] == "O" else (c, 1, *k)
        strides = (1,) * len(k)
        return make_plan(xs, ws, strides, "SAME", dimension_numbers=dn, feature_group_count=c)

    nchw = ("NCHW", "OIHW", "NCHW")
    nine = depthwise((4, 192, 31, 19), (9, 9), nchw)
    eleven = depthwise((4, 27, 32, 192), (11, 11))
    long_narrow = depthwise((8, 4258, 32), (63,), ("NWC", "WIO", "NWC"))
    seven = depthwise((1, 256, 78, 78), (7, 7), nchw)
    for p in (nine, eleven):
        assert _auto(p, monkeypatch, "_depthwise_taps") == "depthwise"
        assert _policy.depthwise_taps_pay(p) and _auto(p) == "taps"
        in_layout = _policy.in_layout(p, "taps")
        assert _policy.differentiated_choice(in_layout, "taps", jnp.float32) == "taps"
    assert long_narrow.in_features < _policy.DEPTHWISE_TAPS_FEATURES
    long_wide = depthwise((1, 1024, 21, 25), (13, 13), nchw)
    assert _policy.depthwise_taps_pay(long_wide)
    # The tree's own taps, differentiated too; on fewer than 64 features, fft from
    # FFT_PAYS_DEPTHWISE_TAPS (forward, long_narrow runs depthwise: depthwise_loop_pays).
    for p, want in ((long_narrow, "fft"), (long_wide, "taps")):
        assert _auto(p, monkeypatch, "_depthwise_taps") == want
        forward = _auto(p)
        in_layout = _policy.in_layout(p, forward)
        assert _policy.differentiated_choice(in_layout, forward, jnp.float32) == want
    assert _auto(long_wide) == "taps" and _auto(long_narrow) == "depthwise"
    assert seven.taps < _policy.DEPTHWISE_TAPS and _auto(seven) == "depthwise"

    # Values and gradients against lax: by taps, forward and differentiated.
    def ours(x, w, dn):
        return jaxconv.conv(x, w, 1, "SAME", dimension_numbers=dn, groups=64, precision=HIGHEST)

    def theirs(x, w, dn):
        return lax.conv_general_dilated(
            x, w, (1,), "SAME", dimension_numbers=dn, feature_group_count=64, precision=HIGHEST
        )

    def loss(conv, dn):
        return lambda x, w: jnp.sum(jnp.sin(conv(x, w, dn)))

    rng = np.random.default_rng(0)
    for dn, xs, ws in [
        (("NWC", "WIO", "NWC"), (2, 70, 64), (51, 1, 64)),
        (("NCW", "OIW", "NCW"), (2, 64, 70), (64, 1, 51)),
    ]:
        p = depthwise(xs, (51,), dn)
        assert _auto(p, monkeypatch, "_depthwise_taps") == "depthwise" and _auto(p) == "taps"
        x, w = random_array(rng, xs), random_array(rng, ws)
        assert_close(jax.jit(ours, static_argnums=2)(x, w, dn), theirs(x, w, dn))
        got = jax.jit(jax.grad(loss(ours, dn), (0, 1)))(x, w)
        for g, want in zip(got, jax.grad(loss(theirs, dn), (0, 1))(x, w), strict=True):
            assert_close(g, want)


@pytest.mark.parametrize(
    "xs, k, dn, loop",
    [
        ((7, 16, 446), 63, ("NCW", "OIW", "NCW"), True),  # seed 8181: taps 3.4x depthwise
        ((8, 424, 16), 63, ("NWC", "WIO", "NWC"), True),
        ((4, 32, 567), 63, ("NCW", "OIW", "NCW"), True),
        ((8, 4258, 32), 63, ("NWC", "WIO", "NWC"), True),
        ((8, 4258, 64), 63, ("NWC", "WIO", "NWC"), False),  # 64 features: taps pay
        ((16, 8, 508), 127, ("NCW", "OIW", "NCW"), False),  # past 64 taps
    ],
)
def test_long_1d_depthwise_kernels_on_few_features_run_the_fused_loop_forward(
    monkeypatch, xs, k, dn, loop
):
    # Where the tree runs one pass per tap on a 1-d depthwise layer of fewer than 64
    # features and at most 64 taps, the fused loop does them in one pass (0.50x the time on
    # 11 such layers, 0.56x held out), forward.
    c = xs[1] if dn[0] == "NCW" else xs[2]
    ws = (c, 1, k) if dn[1] == "OIW" else (k, 1, c)
    plan = make_plan(xs, ws, (1,), "SAME", dimension_numbers=dn, feature_group_count=c)
    assert _policy.depthwise_loop_pays(plan) == loop
    if not loop:
        assert _auto(plan) == _auto(plan, monkeypatch, "_depthwise_taps")
        return
    with monkeypatch.context() as m:  # the code before: the tree's taps, fft's old threshold
        m.setattr(_policy, "FFT_PAYS_DEPTHWISE_TAPS", _policy.FFT_PAYS_FUSED)
        assert _auto(plan, monkeypatch, "_depthwise_taps") == "taps"
    assert _auto(plan) == "depthwise"
    # Differentiated, the tree's taps, which fft beats from FFT_PAYS_DEPTHWISE_TAPS.
    in_layout = _policy.in_layout(plan, "depthwise")
    assert _policy.fft_pays(plan, "taps") and not _policy.fft_pays(plan, "depthwise")
    assert _policy.differentiated_choice(in_layout, "depthwise", jnp.float32) == "fft"
    # Values and both gradients against lax (float64), on a shorter input.
    small = (2, c, 90) if dn[0] == "NCW" else (2, 90, c)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(small, np.float32), rng.standard_normal(ws, np.float32)
    kw = dict(window_strides=(1,), padding="SAME", dimension_numbers=dn, feature_group_count=c)
    assert jaxconv.chosen_strategy(x, w, **kw) == "depthwise"
    _assert_like_lax_in_float64(x, w, kw)


def test_wide_channels_last_depthwise_layers_run_taps_forward_past_3x3(monkeypatch):
    # On 1024 or more features channels-last, past 3x3 (10+ taps), the fused loop ran
    # 1.6x the time of one pass per tap (5x5 and 7x7 kernels), differentiated too. On 512
    # features, on 3x3 kernels and channels-first the tree's choice stands.
    nhwc, nchw = ("NHWC", "HWIO", "NHWC"), ("NCHW", "OIHW", "NCHW")

    def depthwise(xs, k, dn=nhwc):
        c = xs[-1] if dn[0][-1] == "C" else xs[1]
        ws = (*k, 1, c) if dn[1][-1] == "O" else (c, 1, *k)
        return make_plan(xs, ws, (1,) * len(k), "SAME", dimension_numbers=dn, feature_group_count=c)

    ndhwc = ("NDHWC", "DHWIO", "NDHWC")
    for p in (
        depthwise((4, 21, 20, 1024), (5, 5)),
        depthwise((1, 9, 10, 11, 1024), (3,) * 3, ndhwc),
    ):
        assert _auto(p, monkeypatch, "_depthwise_taps") == "depthwise"
        assert _policy.depthwise_taps_pay(p) and _auto(p) == "taps"
        in_layout = _policy.in_layout(p, "taps")
        assert _policy.differentiated_choice(in_layout, "taps", jnp.float32) == "taps"
    for p in (
        depthwise((4, 21, 20, 512), (5, 5)),
        depthwise((4, 21, 20, 1024), (3, 3)),
        depthwise((4, 1024, 21, 20), (5, 5), nchw),
    ):
        assert not _policy.depthwise_taps_pay(p) and _auto(p) == "depthwise"

    rng = np.random.default_rng(3)
    x, w = random_array(rng, (2, 9, 8, 1024)), random_array(rng, (5, 5, 1, 1024))
    kw = dict(dimension_numbers=nhwc, feature_group_count=1024, precision=HIGHEST)
    assert jaxconv.chosen_strategy(x, w, (1, 1), "SAME", **kw) == "taps"

    def loss(conv, x, w):
        return jnp.sum(jnp.sin(conv(x, w, (1, 1), "SAME", **kw)))

    assert_close(jaxconv.conv_general_dilated(x, w, (1, 1), "SAME", **kw),
                 lax.conv_general_dilated(x, w, (1, 1), "SAME", **kw))  # fmt: skip
    got = jax.grad(functools.partial(loss, jaxconv.conv_general_dilated), (0, 1))(x, w)
    want = jax.grad(functools.partial(loss, lax.conv_general_dilated), (0, 1))(x, w)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


def test_int8_into_int32_follows_the_int8_rules(monkeypatch):
    # An int8 layer summed in int32 in int8 GEMMs follows rules of its own where they are
    # measured (a one-leaf tree here that prefers a strategy the platform's rules do not
    # pick for it); floats, and int8 where int8 dots are not GEMMs, follow the platform's.
    measured = _rules.measured

    def plan(dtype, preferred=None):
        return make_plan((2, 9, 8, 16), (3, 3, 16, 8), (1, 1), "SAME", dimension_numbers=NHWC,
                         dtype=dtype, preferred_element_type=preferred)  # fmt: skip

    def cpu(p, skip=()):
        def allowed(s):
            return s not in skip and _strategies.feasible(s, p)

        return measured("cpu").choose(_rules.features(p), allowed)

    other = next(s for s in ("rows", "taps") if s != cpu(plan(jnp.float32)))
    one_leaf = _rules.Rules("cpu-int8", "test", tuple(_rules.FEATURES), ("rows", "taps"),
                            ({"score": {other: 0.0}},))  # fmt: skip
    monkeypatch.setattr(_rules, "measured", lambda p: one_leaf if p.endswith("-int8")
                        else measured(p))  # fmt: skip
    monkeypatch.setattr(_policy, "platform", lambda: "cpu")
    monkeypatch.setattr(_strategies, "int8_dots_fast", lambda: True)

    assert _policy.choose(plan(jnp.int8, jnp.int32), jnp.int8) == other
    assert _policy.choose(plan(jnp.float32), jnp.float32) == cpu(plan(jnp.float32))
    monkeypatch.setattr(_strategies, "int8_dots_fast", lambda: False)
    int8 = plan(jnp.int8, jnp.int32)
    assert _policy.choose(int8, jnp.int8) == cpu(int8, skip=("winograd",))


def _fake_sweep(path, layers):
    """A sweep in which `direct` is fastest wherever it runs with at most 16 products per
    output, `taps` elsewhere, and the rest 3 times slower than the best (with noise)."""
    rng = np.random.default_rng(0)
    records = []
    for case in layers:
        layout = case.layouts[0]
        plan = fit.plan_of(case, layout)
        names = runner.strategies_for(case, layout)
        small = plan.taps * plan.group_in <= 16
        best = "direct" if small and "direct" in names else "taps" if "taps" in names else names[0]
        for name in names:
            ms = (1.0 if name == best else 3.0) * math.exp(rng.normal(0, 0.05))
            records.append({
                **runner.case_fields(case, layout), "suite": "random", "layout": layout,
                "dtype": "float32", "direction": "fwd", "num_devices": 1, "strategy": name,
                "jaxconv_ms": ms, "lax_ms": 1.5, "auto_strategy": best, "device_kind": "cpu",
                "platform": "cpu", "jax_version": jax.__version__,
            })  # fmt: skip
    path.write_text(json.dumps({"records": records, "peaks": []}))


@pytest.fixture
def few_synthetic_plans(monkeypatch):
    """The rules' tree fitted on a few hundred unlabelled layers instead of thousands."""
    monkeypatch.setattr(fit, "SYNTHETIC_LAYERS", 300)
    monkeypatch.setattr(fit, "SYNTHETIC_SMALL_LAYERS", 100)


def test_fitting_recovers_a_known_rule(tmp_path, few_synthetic_plans):
    layers = [c for c in suites.random_layers(160, 3) if c.groups == 1]
    layers = [c._replace(name=f"r{i:03d}" + c.name[4:]) for i, c in enumerate(layers)]
    _fake_sweep(tmp_path / "results.json", layers)
    report = fit.fit([str(tmp_path / "results.json")], "cpu", grid=(8, 16), folds=3)
    held = [s for s in fit.load([str(tmp_path / "results.json")]) if suites.held_out(s.case)]
    regrets = fit.regrets(report.rules, held)
    assert fit.geomean(regrets) < 1.15  # the rule is learnt, up to a few borderline plans
    assert "held out, the rules" in report.text and report.rules.text() in report.text


def test_a_later_sweep_replaces_a_layers_records(tmp_path):
    # A layer re-swept after a strategy changed keeps only its new records: its strategies
    # and lax timed in the same rounds, none of the old run's left beside them.
    layers = [c for c in suites.random_layers(8, 3) if c.groups == 1][:2]
    _fake_sweep(tmp_path / "old.json", layers)
    doc = json.loads((tmp_path / "old.json").read_text())
    again = [r for r in doc["records"] if r["case"] == layers[0].name][:2]
    for r in again:
        r.update(jaxconv_ms=7.0, lax_ms=9.0)
    (tmp_path / "new.json").write_text(json.dumps({"records": again, "peaks": []}))
    samples = {
        s.case.name: s for s in fit.load([str(tmp_path / "old.json"), str(tmp_path / "new.json")])
    }
    assert samples[layers[0].name].ms == {r["strategy"]: 7.0 for r in again}
    assert samples[layers[0].name].lax_ms == 9.0
    assert len(samples[layers[1].name].ms) == len(
        runner.strategies_for(layers[1], layers[1].layouts[0])
    )


def test_an_update_retimes_some_strategies_against_lax(tmp_path):
    # bench --strategy NAME on some layers: NAME's time on them becomes its ratio to the
    # lax timed with it, times the layer's lax time in the sweep; the rest stays.
    layers = [c for c in suites.random_layers(8, 3) if c.groups == 1][:2]
    _fake_sweep(tmp_path / "sweep.json", layers)
    doc = json.loads((tmp_path / "sweep.json").read_text())
    name = layers[0].name
    again = [r for r in doc["records"] if r["case"] == name][:1]
    again[0].update(jaxconv_ms=3.0, lax_ms=6.0)  # half of lax; the sweep's lax took 1.5
    (tmp_path / "update.json").write_text(json.dumps({"records": again, "peaks": []}))
    paths = [str(tmp_path / "sweep.json")]
    before = {s.case.name: s for s in fit.load(paths)}
    after = {s.case.name: s for s in fit.load(paths, [str(tmp_path / "update.json")])}
    retimed = again[0]["strategy"]
    assert after[name].ms[retimed] == 0.75 and after[name].lax_ms == 1.5
    assert {k: v for k, v in after[name].ms.items() if k != retimed} == {
        k: v for k, v in before[name].ms.items() if k != retimed
    }
    assert after[layers[1].name].ms == before[layers[1].name].ms


def test_a_strategy_timed_on_few_layers_is_not_fitted(tmp_path):
    layers = [c for c in suites.random_layers(12, 3) if c.groups == 1]
    _fake_sweep(tmp_path / "results.json", layers)
    samples = fit.load([str(tmp_path / "results.json")])
    assert "taps" in fit.swept(samples)
    for s in samples[1:]:
        s.ms.pop("taps", None)  # timed on one layer only, as if added after the sweep
    assert "taps" not in fit.swept(samples)


def test_the_largest_tree_within_the_folds_noise_is_chosen():
    assert fit.pick_leaves({24: 1.20, 48: 1.100, 64: 1.105, 128: 1.109}) == 128
    assert fit.pick_leaves({24: 1.20, 48: 1.100, 64: 1.105, 128: 1.13}) == 64
    assert fit.pick_leaves({24: 1.10, 48: 1.20}) == 24


def test_leaving_one_sweep_out_scores_rules_on_the_sweep_they_never_saw(
    tmp_path, monkeypatch, capsys, few_synthetic_plans
):
    # Two sweeps of two draws of layers with one known rule (see _fake_sweep): rules fitted
    # on either (a few dozen layers) choose far better on the other than a one-leaf rule
    # that always runs `im2col`, whose regret is exactly the times' own im2col / fastest.
    loso = load_script("benchmarks/rules_loso.py")
    monkeypatch.setattr(loso.fit, "fit", functools.partial(fit.fit, grid=(8,), folds=2))
    paths = []
    for seed in (3, 4):
        # short kernels only, where fft never pays (it is not timed in a sweep)
        layers = [
            c for c in suites.random_layers(120, seed) if c.groups == 1 and max(c.kernel) <= 5
        ]
        layers = [c._replace(name=f"r{i:03d}" + c.name[4:]) for i, c in enumerate(layers)]
        _fake_sweep(tmp_path / f"sweep{seed}.json", layers)
        paths.append(str(tmp_path / f"sweep{seed}.json"))
    one_leaf = _rules.Rules("cpu", "test", tuple(_rules.FEATURES), ("im2col",),
                            ({"score": {"im2col": 0.0}},))  # fmt: skip
    (tmp_path / "im2col.json").write_text(json.dumps(one_leaf.to_json()))
    samples = fit.load([paths[0]])
    regret, _, by_fft = loso.score(one_leaf, samples)
    want = [s.ms["im2col"] / min(s.ms.values()) if "im2col" in s.ms else 1.0 for s in samples]
    assert by_fft == 0 and regret == pytest.approx(want)
    loso.main([*paths, "--against", str(tmp_path / "im2col.json")])
    rows = [line.split("|") for line in capsys.readouterr().out.splitlines()[2:]]
    assert [r[1].strip() for r in rows] == ["--against", "fitted on the others"] * 2
    assert [r[2].strip() for r in rows] == [paths[0], paths[0], paths[1], paths[1]]
    for against, fitted in (rows[:2], rows[2:]):
        assert float(fitted[5]) < 1.5 and 1.5 * float(fitted[5]) < float(against[5])


@pytest.mark.parametrize(
    "kernel, first",
    [((13, 13), False), ((9, 9), False), ((7, 7), True), ((5, 5), True)],
)
def test_col2im_runs_large_input_dilated_kernels_channels_last(kernel, first):
    # Channels-first, XLA:CPU took minutes to compile some of these (a 9x9 one on 2x50x50 in
    # pieces, below): they run channels-last.
    pads = tuple((k - 1, k - 1) for k in kernel)
    plan = make_plan((2, 8, 35, 25), (32, 8, *kernel), (1, 1), pads, (2, 2), None, NCHW)
    assert _policy.runs_channels_first(plan, "col2im") == first


def test_a_9x9_transposed_channels_first_layer_in_pieces():
    rng = np.random.default_rng(2)
    x, w = (
        rng.standard_normal((2, 8, 50, 50), np.float32),
        rng.standard_normal((24, 8, 9, 9), np.float32),
    )
    kw = dict(window_strides=(1, 1), padding=((8, 8), (8, 8)), lhs_dilation=(2, 2))
    kw["dimension_numbers"] = NCHW
    plan = make_plan(x.shape, w.shape, **kw)
    name, run = _policy.decide(plan, "auto", np.float32)
    assert name == "col2im" and not run.channels_first
    assert _strategies.tiles(name, run, 4) > 1
    got = jax.jit(functools.partial(jaxconv.conv_general_dilated, **kw))(x, w)
    with jax.enable_x64():
        want = jax.lax.conv_general_dilated(x.astype(np.float64), w.astype(np.float64), **kw)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_gradients_of_a_strided_13x13_channels_first_layer():
    # Its forward pass runs col2im channels-first (strided_col2im_pays) and its input
    # gradient, a 13x13 input-dilated plan, channels-last: checked against lax in float64.
    rng = np.random.default_rng(1)
    x, w = (
        rng.standard_normal((2, 32, 82, 62), np.float32),
        rng.standard_normal((8, 32, 13, 13), np.float32),
    )
    kw = dict(window_strides=(2, 2), padding="VALID", dimension_numbers=NCHW)
    assert jaxconv.chosen_strategy(x, w, **kw) == "col2im"
    _assert_like_lax_in_float64(x, w, kw, forward=False)


NWC, NCW = ("NWC", "WIO", "NWC"), ("NCW", "OIW", "NCW")


@pytest.mark.parametrize(
    "xs, ws, strides, dilation, dn",
    [
        ((6, 4, 66, 53), (32, 4, 3, 3), (1, 1), (1, 1), NCHW),  # 36 products, 32 outputs
        ((6, 143, 143, 6), (3, 3, 6, 32), (2, 2), (1, 1), NHWC),  # 54 (strided_gemm_pays: 64)
        ((1, 4, 170, 170), (64, 4, 3, 3), (1, 1), (2, 2), NCHW),
    ],
)
def test_few_features_into_32_or_more_run_im2col_where_the_rules_say_direct(
    xs, ws, strides, dilation, dn, monkeypatch
):
    # Forward only: differentiated, the rules' direct runs (its gain did not hold there).
    plan = make_plan(xs, ws, strides, "SAME", None, dilation, dn, 1, 1, "zeros")
    assert _auto(plan, monkeypatch, without="_gemm_over_direct") == "direct"
    name, run = _policy.decide(plan, "auto", np.float32)
    assert _auto(plan) == name == "im2col"
    assert _policy.differentiated_choice(run, name, np.float32) == "direct"
    rng = np.random.default_rng(0)
    x, w = random_array(rng, xs), random_array(rng, ws)
    kw = dict(rhs_dilation=dilation, dimension_numbers=dn, precision=HIGHEST)

    def loss(conv, x, w):
        return jnp.sum(jnp.sin(conv(x, w, strides, "SAME", **kw)))

    assert_close(jaxconv.conv_general_dilated(x, w, strides, "SAME", **kw),
                 lax.conv_general_dilated(x, w, strides, "SAME", **kw))  # fmt: skip
    got = jax.grad(functools.partial(loss, jaxconv.conv_general_dilated), (0, 1))(x, w)
    with jax.enable_x64():  # the kernel gradient sums ~10^5 terms: lax in float64
        x64, w64 = x.astype(np.float64), w.astype(np.float64)
        want = jax.grad(functools.partial(loss, lax.conv_general_dilated), (0, 1))(x64, w64)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


def test_direct_stays_below_32_products_or_outputs():
    # 16 outputs (im2col gained nothing there), 27 products (direct was fastest), 8 outputs.
    for xs, ws, dn in [
        ((6, 4, 66, 53), (16, 4, 3, 3), NCHW),
        ((4, 3, 64, 64), (64, 3, 3, 3), NCHW),
        ((4, 64, 64, 3), (3, 3, 3, 64), NHWC),
    ]:
        plan = make_plan(xs, ws, (1, 1), "SAME", dimension_numbers=dn)
        assert _policy._gemm_over_direct(plan, "direct", bool) == "direct"
        assert _auto(plan) == "direct"


@pytest.mark.parametrize(
    "xs, ws, strides, dn",
    [
        ((2, 45, 67, 8), (3, 3, 8, 16), (2, 2), NHWC),  # the rules' direct
        ((2, 61, 53, 8), (4, 4, 8, 16), (2, 2), NHWC),  # banded, direct by strided_direct_pays
        ((2, 1500, 6), (11, 6, 24), (2,), ("NWC", "WIO", "NWC")),  # the same, 1-d
    ],
)
def test_strided_channels_last_of_64_products_into_16_outputs_run_im2col(
    xs, ws, strides, dn, monkeypatch
):
    # Forward and differentiated (unlike _gemm_over_direct's 32 x 32, forward only).
    plan = make_plan(xs, ws, strides, "SAME", dimension_numbers=dn)
    assert _policy.strided_gemm_pays(plan)
    name, run = _policy.decide(plan, "auto", np.float32)
    with monkeypatch.context() as m:
        m.setattr(_policy, "strided_gemm_pays", lambda plan: False)
        assert _auto(plan) == "direct"
        assert _policy.differentiated_choice(run, "direct", np.float32) == "direct"
    assert name == "im2col"
    assert _policy.differentiated_choice(run, name, np.float32) == "im2col"
    x, w = random_array(np.random.default_rng(0), xs), random_array(np.random.default_rng(1), ws)
    kw = dict(window_strides=strides, padding="SAME", dimension_numbers=dn)
    assert_close(jaxconv.conv_general_dilated(x, w, **kw, precision=HIGHEST),
                 lax.conv_general_dilated(x, w, **kw, precision=HIGHEST))  # fmt: skip
    # the kernel gradient sums ~10^4 terms: lax in float64
    _assert_like_lax_in_float64(x, w, kw, forward=False)


def test_strided_gemm_stays_off_few_products_or_outputs_channels_first_and_volumes():
    for xs, ws, strides, dn in [
        ((2, 61, 53, 5), (3, 3, 5, 16), (2, 2), NHWC),  # 45 products
        ((2, 61, 53, 16), (3, 3, 16, 8), (2, 2), NHWC),  # 8 outputs
        ((2, 8, 61, 53), (16, 8, 3, 3), (2, 2), NCHW),  # channels-first
        ((2, 61, 53, 8), (3, 3, 8, 16), (1, 1), NHWC),  # unit strides
        ((2, 14, 14, 14, 8), (3, 3, 3, 8, 16), (2, 2, 2), NDHWC),
    ]:
        plan = make_plan(xs, ws, strides, "SAME", dimension_numbers=dn)
        assert not _policy.strided_gemm_pays(plan)
    plan = make_plan((2, 61, 53, 5), (3, 3, 5, 16), (2, 2), "SAME", dimension_numbers=NHWC)
    assert _auto(plan) == "direct"


@pytest.mark.parametrize(
    "xs, ws, dn, expected",
    [
        # A 127-tap 64 -> 64 layer on 161 positions: col2im ran 1.9-2.4x lax, im2col on
        # windows about 1.0x.
        ((1, 161, 64), (127, 64, 64), NWC, "im2col"),
        # Channels-first data, transposed around im2col; 3 output features; one input
        # position, which col2im scatters per position: col2im.
        ((1, 64, 161), (64, 64, 127), NCW, "col2im"),
        ((6, 1041, 64), (63, 64, 3), NWC, "col2im"),
        ((1, 1, 512), (255, 512, 512), NWC, "col2im"),
    ],
)
def test_a_long_1d_kernel_runs_im2col_on_windows_where_the_rules_say_col2im(
    xs, ws, dn, expected, monkeypatch
):
    pads = "SAME" if xs[1] > 1 else ((254, 254),)
    plan = make_plan(xs, ws, (1,), pads, None, None, dn, 1, 1, "zeros")
    assert _policy.choose(plan, np.float32, decide_layout=True) == expected
    name, run = _policy.decide(plan, "auto", np.float32)
    assert name == expected and (expected == "col2im" or _taps.builds_windows(run))
    monkeypatch.setattr(_policy, "_windows_over_col2im", lambda plan, name, *_: name)
    assert _policy.choose(plan, np.float32, decide_layout=True) == "col2im"


def test_pointwise_layers_of_16_or_more_features_never_run_direct(monkeypatch):
    # The rules pick direct's fused loop on channels-first 1x1 layers into 8 features;
    # from 16 input features auto picks among the others, in any layout and rank.
    nchw = ("NCHW", "OIHW", "NCHW")
    layer = make_plan((16, 16, 62, 62), (8, 16, 1, 1), (1, 1), "SAME", dimension_numbers=nchw)
    assert _policy.pointwise_too_deep_for_direct(layer)
    with monkeypatch.context() as m:
        m.setattr(_policy, "POINTWISE_DIRECT_FEATURES", np.inf)
        m.setattr(_policy, "pointwise_col2im_pays", lambda plan: False)
        assert _auto(layer) == "direct"  # the rules' pick
    assert _auto(layer) in _strategies.GEMM_ON_INPUT
    cases = [
        ((8, 24, 20, 21), (8, 24, 1, 1), nchw),
        ((8, 64, 5, 6, 7), (6, 64, 1, 1, 1), ("NCDHW", "OIDHW", "NCDHW")),
        ((4, 900, 32), (1, 32, 8), ("NWC", "WIO", "NWC")),
    ]
    for xs, ws, dn in cases:
        p = make_plan(xs, ws, (1,) * (len(xs) - 2), "SAME", dimension_numbers=dn)
        assert _policy.pointwise_too_deep_for_direct(p) and _auto(p) != "direct"
    # Fewer features, a 3x3 kernel, a stride, groups: the rules' choice stands.
    few = make_plan((16, 12, 62, 62), (8, 12, 1, 1), (1, 1), "SAME", dimension_numbers=nchw)
    three = make_plan((16, 16, 62, 62), (8, 16, 3, 3), (1, 1), "SAME", dimension_numbers=nchw)
    strided = make_plan((16, 16, 62, 62), (8, 16, 1, 1), (2, 2), "SAME", dimension_numbers=nchw)
    grouped = make_plan(
        (16, 16, 62, 62), (8, 8, 1, 1), (1, 1), "SAME", dimension_numbers=nchw,
        feature_group_count=2,
    )  # fmt: skip
    for p in (few, three, strided, grouped):
        assert not _policy.pointwise_too_deep_for_direct(p)

    # Its values, against lax's
    rng = np.random.default_rng(0)
    x, w = random_array(rng, (3, 16, 9, 7)), random_array(rng, (8, 16, 1, 1))
    ours = jaxconv.conv(x, w, 1, "SAME", dimension_numbers=nchw, precision=HIGHEST)
    theirs = lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=nchw,
                                      precision=HIGHEST)  # fmt: skip
    assert_close(ours, theirs)


@pytest.mark.parametrize(
    "xs, ws, strides, dn, patches",
    [
        ((2, 64, 64, 3), (16, 16, 3, 96), (16, 16), NHWC, True),  # ViT's patch embedding
        ((2, 3, 36, 40), (48, 3, 4, 4), (4, 4), ("NCHW", "OIHW", "NCHW"), True),  # ConvNeXt's
        ((2, 40, 24, 128), (2, 2, 128, 32), (2, 2), NHWC, True),  # deep and narrowing
        ((2, 48, 12, 16), (16, 2, 16, 8), (16, 2), NHWC, True),  # an oblong patch
        ((3, 64, 32), (8, 32, 64), (8,), ("NWC", "WIO", "NWC"), True),
        ((1, 8, 8, 8, 16), (2, 2, 2, 16, 32), (2, 2, 2), ("NDHWC", "DHWIO", "NDHWC"), True),
        ((2, 38, 40, 1), (2, 2, 1, 96), (2, 2), NHWC, "direct"),  # a short fused loop stays
        ((2, 40, 40, 16), (3, 3, 16, 16), (2, 2), NHWC, False),  # windows overlap
        ((2, 40, 40, 16), (2, 2, 16, 16), (4, 4), NHWC, False),  # windows leave gaps
        ((2, 40, 40, 16), (1, 1, 16, 16), (1, 1), NHWC, False),  # no stride
    ],
)
def test_patch_embeddings_run_space_to_depth(xs, ws, strides, dn, patches):
    # A kernel equal to its strides reads each input block once: space_to_depth makes the
    # blocks features for one GEMM (a 16x16/16 layer: col2im's 256 one-tap phases ran 32-36x
    # lax's time), whatever else auto would pick but direct's short fused loop; elsewhere
    # the choice is what it was.
    plan = make_plan(xs, ws, strides, "VALID", dimension_numbers=dn)
    assert _policy.patches_pay(plan) == bool(patches)
    with mock.patch.object(_policy, "patches_pay", return_value=False):
        without = _policy.choose(plan, jnp.float32, decide_layout=True)
    if patches == "direct":
        assert without == _auto(plan) == "direct"
        return
    assert _auto(plan) == ("space_to_depth" if patches else without)
    if not patches:
        return
    assert _policy.differentiated_choice(plan, "space_to_depth", jnp.float32) == "space_to_depth"
    # What runs there gives lax's numbers, forward and both gradients (float64 reference).
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs, np.float32), rng.standard_normal(ws, np.float32)
    kw = dict(window_strides=strides, padding="VALID", dimension_numbers=dn)
    assert jaxconv.chosen_strategy(x, w, **kw) == "space_to_depth"
    _assert_like_lax_in_float64(x, w, kw)


@pytest.mark.parametrize(
    "xs, ws, strides, dn, groups, direct",
    [
        # seed 8181's r059: grouped 2.1x direct's time
        ((2, 82, 82, 128), (3, 3, 8, 128), (2, 2), NHWC, 16, True),
        ((1, 256, 29, 29), (128, 8, 3, 3), (1, 1), NCHW, 32, True),  # 8 -> 4 per group
        ((5, 831, 256), (3, 8, 256), (1,), ("NWC", "WIO", "NWC"), 32, True),
        ((2, 28, 10, 23, 112), (2, 2, 2, 7, 112), (1, 1, 1), NDHWC, 16, True),
        ((2, 40, 40, 128), (5, 5, 8, 128), (1, 1), NHWC, 16, False),  # 200 products
        ((2, 40, 40, 128), (3, 3, 8, 256), (1, 1), NHWC, 16, False),  # widens: 8 -> 16
        ((2, 40, 40, 192), (3, 3, 12, 192), (1, 1), NHWC, 16, False),  # 12 per group
        # channels-first and strided (held out: 2.8x on this one)
        ((4, 32, 27, 26, 22), (32, 8, 2, 2, 2), (2, 2, 2), ("NCDHW", "OIDHW", "NCDHW"), 4, False),
    ],
)
def test_auto_runs_direct_on_small_groups_of_5_to_8_features(
    monkeypatch, xs, ws, strides, dn, groups, direct
):
    # One GEMM per group, a few dozen deep and at most 8 wide, took 1.7x the time of
    # direct's fused loop on the stored draws' 14 such layers where the tree picked grouped.
    plan = make_plan(xs, ws, strides, "SAME", dimension_numbers=dn, feature_group_count=groups)
    assert _policy.direct_over_grouped(plan) == direct
    with monkeypatch.context() as m:  # the code before
        m.setattr(_policy, "direct_over_grouped", lambda plan: False)
        before = _auto(plan)
    if not direct:
        assert _auto(plan) == before
        return
    assert before == "grouped" and _auto(plan) == "direct"
    # Forward only: differentiated, the tree's grouped (0.95x the time, 4 of 12 slower).
    in_layout = _policy.in_layout(plan, "direct")
    assert _policy.differentiated_choice(in_layout, "direct", jnp.float32) == "grouped"
    # Values and both gradients against lax (float64), on a smaller input.
    small = tuple(min(n, 9) if i not in (0, dn[0].index("C")) else n for i, n in enumerate(xs))
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(small, np.float32), rng.standard_normal(ws, np.float32)
    kw = dict(window_strides=strides, padding="SAME", dimension_numbers=dn,
              feature_group_count=groups)  # fmt: skip
    assert jaxconv.chosen_strategy(x, w, **kw) == "direct"
    _assert_like_lax_in_float64(x, w, kw)


@pytest.mark.parametrize(
    "xs, k, strides, dn, taps",
    [
        ((2, 26, 10, 12, 48), (5, 5, 5), (1, 1, 1), NDHWC, True),  # held out: 0.18x the time
        ((13, 15, 15, 15, 32), (5, 5, 5), (1, 1, 1), NDHWC, True),  # seed 8181's r107
        ((4, 22, 24, 22, 4), (5, 5, 5), (1, 1, 1), NDHWC, True),
        ((1, 32, 30, 32, 24), (3, 5, 5), (1, 1, 1), NDHWC, False),  # 75 taps: 3.9x
        ((4, 28, 27, 26, 16), (5, 5, 5), (2, 2, 2), NDHWC, True),  # strided: 0.78x
        ((4, 16, 22, 22, 22), (5, 5, 5), (1, 1, 1), ("NCDHW", "OIDHW", "NCDHW"), False),
    ],
)
def test_channels_last_volumes_of_5x5x5_kernels_run_taps_forward(
    monkeypatch, xs, k, strides, dn, taps
):
    # On channels-last 3-d depthwise layers of 125+ taps the fused loop ran 2.6x the time of
    # one pass per tap, whatever the features (13 layers of 4-48 features), differentiated
    # too (held out forward and backward: 0.66-0.71x the time of the fused loop).
    c = xs[-1] if dn[0][-1] == "C" else xs[1]
    ws = (*k, 1, c) if dn[1][-1] == "O" else (c, 1, *k)
    plan = make_plan(xs, ws, strides, "SAME", dimension_numbers=dn, feature_group_count=c)
    assert _policy._deep_channels_last_volume(plan) == taps
    if not taps:
        assert _policy.depthwise_taps_pay(plan) == _policy._deep_channels_last_volume(plan)
        return
    with monkeypatch.context() as m:  # the code before
        m.setattr(_policy, "_deep_channels_last_volume", lambda plan: False)
        assert _auto(plan) == "depthwise"
    assert _policy.depthwise_taps_pay(plan) and _auto(plan) == "taps"
    in_layout = _policy.in_layout(plan, "taps")
    assert _policy.differentiated_choice(in_layout, "taps", jnp.float32) == "taps"
    # Values and both gradients against lax (float64), on a smaller input.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 7, 6, 8, c), np.float32)
    w = rng.standard_normal(ws, np.float32)
    kw = dict(window_strides=strides, padding="SAME", dimension_numbers=dn, feature_group_count=c)
    assert jaxconv.chosen_strategy(x, w, **kw) == "taps"
    _assert_like_lax_in_float64(x, w, kw)


NCDHW = ("NCDHW", "OIDHW", "NCDHW")


@pytest.mark.parametrize(
    "xs, ws, col2im",
    [
        ((3, 8, 22, 22, 22), (8, 8, 3, 3, 3), True),  # seed 8181's r015: banded 1.9x
        ((1, 8, 29, 29, 29), (8, 8, 3, 3, 3), True),
        ((4, 6, 24, 21, 32), (4, 6, 3, 3, 3), True),  # held out: 0.67x
        ((1, 8, 20, 20, 29), (8, 8, 5, 5, 5), False),  # 125 taps: col2im 3.7-4.5x
        ((1, 8, 30, 30, 30), (16, 8, 3, 3, 3), False),  # 16 outputs: banded the faster
    ],
)
def test_channels_first_volumes_into_few_features_run_col2im_over_the_band(
    monkeypatch, xs, ws, col2im
):
    # col2im_over_band leaves 3-d kernels (past 9 taps col2im stacks rows channels-last,
    # with the transposes); on 3x3x3 layers into at most 8 features it still beats the band.
    plan = make_plan(xs, ws, (1, 1, 1), "SAME", dimension_numbers=NCDHW)
    assert _policy.volume_col2im_over_band(plan) == col2im
    assert not _policy.col2im_over_band(plan)
    with monkeypatch.context() as m:  # the code before
        m.setattr(_policy, "volume_col2im_over_band", lambda plan: False)
        before = _auto(plan)
    if not col2im:
        assert _auto(plan) == before
        return
    assert before == "banded" and _auto(plan) == "col2im"
    # Values and both gradients against lax (float64), on a smaller input.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, xs[1], 7, 6, 9), np.float32)
    w = rng.standard_normal(ws, np.float32)
    kw = dict(window_strides=(1, 1, 1), padding="SAME", dimension_numbers=NCDHW)
    assert jaxconv.chosen_strategy(x, w, **kw) == "col2im"
    _assert_like_lax_in_float64(x, w, kw)
