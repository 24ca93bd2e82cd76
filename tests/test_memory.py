"""Bounded memory on large inputs: strategies run in tiles, and XLA's temp stays within
``2 * lax + output + padded input``.

Tiling only starts past ``TILE_SLACK_BYTES`` (32 MiB) of excess; the tests lower it so that
small arrays take the same tiled paths, and compare them with lax (forward, both gradients,
forward mode). The bound itself is checked on compiled programs of shapes that are never
run (``memory_analysis`` of ``jit(...).lower(...).compile()``).
"""

from __future__ import annotations

import functools
import math
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import COMPILE_FLAGS, HIGHEST, assert_close, random_array
from jax import lax

import jaxconv
from jaxconv import _grad, _policy, _strategies
from jaxconv._bench import runner, suites
from jaxconv._layout import channels_last
from jaxconv._plan import make_plan

# (x shape, w shape, dimension numbers, strides, padding, lhs dilation, rhs dilation, groups)
TILED = {
    "batch_nhwc": ((4, 9, 8, 3), (3, 3, 3, 5), ("NHWC", "HWIO", "NHWC"), (1, 1), "SAME", None,
                   None, 1),
    "rows_strided": ((1, 13, 7, 4), (3, 2, 4, 6), ("NHWC", "HWIO", "NHWC"), (2, 1),
                     ((1, 2), (0, 1)), None, (2, 1), 1),
    "rows_nchw_grouped": ((1, 6, 11, 9), (6, 2, 3, 3), ("NCHW", "OIHW", "NCHW"), (1, 1), "SAME",
                          None, None, 3),
    "rows_depthwise_nchw": ((1, 4, 10, 10), (4, 1, 3, 3), ("NCHW", "OIHW", "NCHW"), (1, 1),
                            "SAME", None, None, 4),
    "rows_input_dilation": ((1, 5, 6, 3), (4, 4, 3, 2), ("NHWC", "HWIO", "NHWC"), (1, 1),
                            ((2, 3), (2, 2)), (2, 2), None, 1),
    # input dilation in blocks of rows of the undilated input: a kernel wider than the
    # dilation, negative padding, a kernel narrower than it (col2im's blocks), 1-d 16/8
    "rows_input_dilation_3": ((1, 7, 5, 4), (5, 3, 4, 3), ("NHWC", "HWIO", "NHWC"), (1, 1),
                              ((4, 1), (1, 2)), (3, 2), None, 1),
    "rows_input_dilation_negative": ((1, 6, 4, 3), (4, 2, 3, 2), ("NHWC", "HWIO", "NHWC"),
                                     (1, 1), ((-2, 3), (1, 0)), (2, 2), None, 1),
    "rows_input_dilation_blocks": ((1, 5, 4, 3), (2, 2, 3, 4), ("NHWC", "HWIO", "NHWC"),
                                   (1, 1), ((1, 1), (1, 1)), (3, 2), None, 1),
    "rows_input_dilation_nchw": ((1, 3, 6, 5), (2, 3, 4, 3), ("NCHW", "OIHW", "NCHW"), (1, 1),
                                 ((3, 2), (0, 2)), (2, 2), None, 1),
    "line_input_dilation": ((1, 9, 2), (16, 2, 3), ("NWC", "WIO", "NWC"), (1,), ((11, 11),),
                            (8,), None, 1),
    # three pieces of a batch of two: each image in blocks of rows
    "batch_and_rows": ((2, 7, 6, 3), (3, 3, 3, 4), ("NHWC", "HWIO", "NHWC"), (1, 1), "SAME",
                       None, None, 1),
    "volume": ((1, 6, 5, 4, 2), (3, 3, 3, 2, 3), ("NDHWC", "DHWIO", "NDHWC"), (1, 1, 1), "SAME",
               None, None, 1),
    "line": ((1, 21, 3), (5, 3, 4), ("NWC", "WIO", "NWC"), (2,), "VALID", None, None, 1),
}  # fmt: skip


@pytest.fixture
def tile_everything(monkeypatch):
    """Every strategy runs in three pieces (or as many as divide the batch), down to small
    arrays."""
    monkeypatch.setattr(_strategies, "tiles", lambda name, plan, *itemsizes: 3)


def _conv(case, impl, **kw):
    _, _, dn, strides, padding, lhs_dil, rhs_dil, groups = case
    return functools.partial(
        impl, window_strides=strides, padding=padding, lhs_dilation=lhs_dil,
        rhs_dilation=rhs_dil, dimension_numbers=dn, feature_group_count=groups,
        precision=HIGHEST, **kw,
    )  # fmt: skip


@pytest.mark.parametrize("name", list(TILED))
def test_tiled_strategies_match_lax(name, tile_everything):
    case = TILED[name]
    xs, ws, dn, strides, padding, lhs_dil, rhs_dil, groups = case
    plan = make_plan(xs, ws, strides, padding, lhs_dil, rhs_dil, dn, groups, 1, "zeros")
    rng = np.random.default_rng(0)
    x, w = (jnp.asarray(random_array(rng, s)) for s in (xs, ws))
    ref = _conv(case, lax.conv_general_dilated)
    ct = jnp.asarray(random_array(rng, jax.eval_shape(ref, x, w).shape))
    names = [
        s for s in _strategies.STRATEGIES if _strategies.feasible(s, _policy.in_layout(plan, s))
    ]
    # auto's choice, the strategies with the largest buffers (which tile first), and fft
    # (whose pieces of rows are overlap-save blocks of their own).
    tiled = ("im2col", "winograd", "rows", "polyphase", "col2im", "fft")
    names = ["auto"] + [s for s in names if s in tiled]

    def derivatives(f, x, w, ct):
        # One program per strategy: the output and its vjp, and the jvp.
        y, vjp = jax.vjp(f, x, w)
        return y, *vjp(ct), jax.jvp(f, (x, w), (x, w))[1]

    derivatives = jax.jit(derivatives, static_argnums=0)
    want = derivatives(ref, x, w, ct)
    for strategy in names:
        ours = _conv(case, jaxconv.conv_general_dilated, strategy=strategy)
        for got, exp in zip(derivatives(ours, x, w, ct), want, strict=True):
            assert_close(got, exp)


def test_tiles_of_an_input_dilated_layer_read_the_input_as_it_is(monkeypatch):
    # Blocks of rows of a transposed layer keep its dilation: each piece reads a few rows
    # of the input itself, where the dilated input made every piece a plain convolution of
    # 4 times the rows, mostly zeros (FCN's 16x16/8 upsampling: 104 ms, 48.8 MiB of temp).
    monkeypatch.setattr(_strategies, "tiles", lambda name, plan, *itemsizes: 3)
    pieces = []
    tiled = _strategies._tiled_dilated_rows

    def spy(fn, x, w, plan, count):
        def piece(xs, w, sub):
            pieces.append((xs.shape, sub))
            return fn(xs, w, sub)

        return tiled(piece, x, w, plan, count)

    monkeypatch.setattr(_strategies, "_tiled_dilated_rows", spy)
    case = ((1, 9, 7, 4), (8, 8, 4, 3), ("NHWC", "HWIO", "NHWC"), (1, 1), ((5, 6), (5, 5)),
            (4, 4), None, 1)  # fmt: skip
    rng = np.random.default_rng(0)
    x, w = (jnp.asarray(random_array(rng, s)) for s in case[:2])
    got = jax.jit(_conv(case, jaxconv.conv_general_dilated, strategy="col2im"))(x, w)
    assert_close(got, _conv(case, lax.conv_general_dilated)(x, w))
    assert len(pieces) == 1  # traced once, in lax.map
    shape, sub = pieces[0]
    # 37 output rows in 3 pieces of 16 (13 rounded up to the dilation); a piece's 16 + 7
    # padded, dilated rows hold 6 input rows, the first 1 row in (5 mod 4).
    assert sub.lhs_dilation == (4, 4) and sub.out_spatial[0] == 16
    assert shape[1] == sub.in_spatial[0] == 6 and sub.pads[0] == (1, 1)  # 1 + 21 + 1 = 23


def test_tiles_grow_with_the_excess(monkeypatch):
    dn = ("NHWC", "HWIO", "NHWC")
    plan = make_plan((4, 8, 8, 3), (3, 3, 3, 4), (1, 1), "VALID", None, None, dn, 1, 1,
                        "zeros")  # fmt: skip
    assert _strategies.tiles("im2col", plan, 4) == 1
    monkeypatch.setattr(_strategies, "TILE_SLACK_BYTES", 0)
    # Nine taps of patches: a quarter of the output plus the padded input per piece.
    assert 1 < _strategies.tiles("im2col", plan, 4) <= plan.batch * plan.out_spatial[0]
    assert _strategies.tiles("direct", plan, 4) == 1  # the fused loop holds no more
    text = jax.jit(functools.partial(jaxconv.conv2d, strategy="im2col")).lower(
        jnp.ones((4, 8, 8, 3)), jnp.ones((3, 3, 3, 4))
    ).as_text()  # fmt: skip
    assert "stablehlo.while" in text  # lax.map over the pieces


def _compiled_temp(name, xs, ws, dn, strides=None):
    strides = strides or (1,) * (len(xs) - 2)
    conv = functools.partial(jaxconv.conv_general_dilated, window_strides=strides,
                             padding="SAME", dimension_numbers=dn, strategy=name)  # fmt: skip
    x, w = (jax.ShapeDtypeStruct(s, jnp.float32) for s in (xs, ws))
    return jax.jit(conv).lower(x, w).compile().memory_analysis().temp_size_in_bytes


def _training_step_temp(name, xs, ws, dn):
    """Compiled temp of the output and both gradients (the bench's forward+backward
    program), with strategy ``name`` forward."""
    conv = functools.partial(jaxconv.conv_general_dilated, window_strides=(1, 1),
                             padding="SAME", dimension_numbers=dn, strategy=name)  # fmt: skip
    step = runner.program(conv, "fwd+bwd")
    x, w = (jax.ShapeDtypeStruct(s, jnp.float32) for s in (xs, ws))
    ct = jax.eval_shape(conv, x, w)
    return jax.jit(step).lower(x, w, ct).compile().memory_analysis().temp_size_in_bytes


def _assert_fewest_pieces(need, count):
    # Each piece within GEMM_PIECE_BYTES, one fewer would not be.
    assert need / count <= _strategies.GEMM_PIECE_BYTES < need / (count - 1)


def _col2im_highest(dn):
    return functools.partial(jaxconv.conv_general_dilated, window_strides=(1, 1),
                             padding="SAME", dimension_numbers=dn, strategy="col2im",
                             precision=HIGHEST)  # fmt: skip


def _assert_col2im_step_matches_float64(xs, ws, dn):
    """``col2im``'s output and both gradients (SAME, unit strides) within 1e-4 of lax's in
    float64: its sums are long enough that float32 rounding alone exceeds the tolerance."""
    rng = np.random.default_rng(0)
    x, w = random_array(rng, xs), random_array(rng, ws)
    ref = functools.partial(lax.conv_general_dilated, window_strides=(1, 1), padding="SAME",
                            dimension_numbers=dn)  # fmt: skip
    ct = random_array(rng, ref(x, w).shape)
    got, vjp = jax.vjp(jax.jit(_col2im_highest(dn)), x, w)
    with jax.enable_x64():
        want, vjp_want = jax.vjp(ref, *(a.astype(np.float64) for a in (x, w)))
        wants = [want, *vjp_want(ct.astype(np.float64))]
    for g, h in zip([got, *vjp(ct)], wants, strict=True):
        np.testing.assert_allclose(g, h, rtol=1e-4, atol=1e-4 * np.abs(h).max())


MMAP_THRESHOLD = 32 * 2**20  # glibc's largest: a temp block past it is mapped on every call


def test_a_small_layers_gemm_buffer_runs_in_pieces_that_keep_its_step_under_mmap(
    monkeypatch,
):
    # A 3x3 12 -> 8 layer on 7x131x110: col2im's product (28 MiB) is within the memory
    # bound, yet its training step holds 32.5 MiB of temp whole, mapped afresh on every
    # call (55 MiB in a step whose backward pass could run beside the forward one, the
    # bench's until 2026-12-06). Differentiated, in pieces of at most GEMM_PIECE_BYTES, the
    # step stays under the threshold; a forward pass alone stays under it whole.
    xs, ws, dn = (7, 131, 110, 12), (3, 3, 12, 8), ("NHWC", "HWIO", "NHWC")
    plan = make_plan(xs, ws, (1, 1), "SAME", None, None, dn, 1, 1, "zeros")
    need = _strategies.temp_estimate("col2im", plan, 4)
    assert _strategies.GEMM_WHOLE_BYTES < need <= MMAP_THRESHOLD
    assert _strategies.tiles("col2im", plan, 4) == 1
    assert _compiled_temp("col2im", xs, ws, dn) <= MMAP_THRESHOLD
    with _strategies.differentiated():
        count = _strategies.tiles("col2im", plan, 4)
    _assert_fewest_pieces(need, count)
    assert _training_step_temp("col2im", xs, ws, dn) <= MMAP_THRESHOLD
    # The kernel gradient sums 99036 products per element.
    _assert_col2im_step_matches_float64(xs, ws, dn)
    # Whole, the step crosses it.
    monkeypatch.setattr(_strategies, "GEMM_WHOLE_BYTES", 2**62)
    with _strategies.differentiated():
        assert _strategies.tiles("col2im", plan, 4) == 1
    assert _training_step_temp("col2im", xs, ws, dn) > MMAP_THRESHOLD


def test_a_differentiated_layers_gemm_buffer_runs_whole_where_its_step_stays_under_mmap(
    monkeypatch,
):
    # ResNet-20's 16 -> 16 3x3 layer (batch 32 on 32x32): col2im's buffer, 16.1 MiB, is past
    # 16 MiB but within GEMM_WHOLE_BYTES; whole, its training step stays under the
    # threshold, with no more temp than in the pieces it ran in until 2026-12-07.
    xs, ws, dn = (32, 32, 32, 16), (3, 3, 16, 16), ("NHWC", "HWIO", "NHWC")
    plan = make_plan(xs, ws, (1, 1), "SAME", None, None, dn, 1, 1, "zeros")
    need = _strategies.temp_estimate("col2im", plan, 4)
    assert 16 * 2**20 < need <= _strategies.GEMM_WHOLE_BYTES
    with _strategies.differentiated():
        assert _strategies.tiles("col2im", plan, 4) == 1
    whole = _training_step_temp("col2im", xs, ws, dn)
    assert whole <= MMAP_THRESHOLD
    # The kernel gradient sums 32768 products per element.
    _assert_col2im_step_matches_float64(xs, ws, dn)
    # In pieces of GEMM_PIECE_BYTES, as at 16 MiB, the step holds no less.
    monkeypatch.setattr(_strategies, "GEMM_WHOLE_BYTES", 16 * 2**20)
    with _strategies.differentiated():
        assert _strategies.tiles("col2im", plan, 4) > 1
    assert _training_step_temp("col2im", xs, ws, dn) >= whole - 2**20


@pytest.fixture
def differentiated():
    with _strategies.differentiated():
        yield


def test_gemm_pieces_only_for_small_layers_gemm_buffers_on_cpu(monkeypatch, differentiated):
    dn = ("NHWC", "HWIO", "NHWC")
    small = make_plan((7, 131, 108, 12), (3, 3, 12, 8), (1, 1), "SAME", None, None, dn, 1, 1,
                      "zeros")  # fmt: skip
    assert _strategies.tiles("col2im", small, 4) > 1
    # A fused strategy holds no GEMM buffer.
    assert _strategies.tiles("direct", small, 4) == 1
    # A layer whose activations alone outgrow the threshold runs whole within the bound:
    # its step's temp is mapped afresh either way.
    large = make_plan((4, 224, 224, 16), (1, 2, 16, 16), (1, 1), "SAME", None, None, dn, 1, 1,
                      "zeros")  # fmt: skip
    s = _strategies.sizes(large)
    budget = (s.out + s.padded) * 4
    need = _strategies.temp_estimate("col2im", large, 4)
    assert _strategies.SMALL_LAYER_BYTES < budget
    assert _strategies.GEMM_WHOLE_BYTES < need <= budget + _strategies.TILE_SLACK_BYTES
    assert _strategies.tiles("col2im", large, 4) == 1
    # A buffer of the kernel's taps more than of the positions (11x11 128 -> 192 on 17x17):
    # the step's other buffers are as small as the activations; whole.
    taps = make_plan((1, 17, 17, 128), (11, 11, 128, 192), (1, 1), "SAME", None, None, dn, 1,
                     1, "zeros")  # fmt: skip
    s = _strategies.sizes(taps)
    need = _strategies.temp_estimate("col2im", taps, 4)
    assert need > max(_strategies.GEMM_WHOLE_BYTES,
                      _strategies.KERNEL_DOMINATED * (s.out + s.padded) * 4)  # fmt: skip
    assert _strategies.tiles("col2im", taps, 4) == 1
    # Elsewhere than on CPU, no glibc threshold was measured: whole.
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert _strategies.tiles("col2im", small, 4) == 1


def test_a_forward_pass_runs_its_gemm_buffer_in_pieces_past_the_mmap_threshold():
    # Not differentiated, a small layer's buffer runs whole up to the threshold, and in
    # pieces past it (within the bound): an 8 -> 8 3x3 NCHW layer on 5x159x159 whose
    # col2im product is 35 MiB.
    xs, ws, dn = (5, 8, 159, 159), (8, 8, 3, 3), ("NCHW", "OIHW", "NCHW")
    plan = _policy.in_layout(make_plan(xs, ws, (1, 1), "SAME", None, None, dn, 1, 1, "zeros"),
                             "col2im")  # fmt: skip
    s = _strategies.sizes(plan)
    need = _strategies.temp_estimate("col2im", plan, 4)
    assert MMAP_THRESHOLD < need <= (s.out + s.padded) * 4 + _strategies.TILE_SLACK_BYTES
    count = _strategies.tiles("col2im", plan, 4)
    _assert_fewest_pieces(need, count)
    assert _compiled_temp("col2im", xs, ws, dn) <= MMAP_THRESHOLD
    rng = np.random.default_rng(0)
    x, w = random_array(rng, xs), random_array(rng, ws)
    conv = _col2im_highest(dn)
    want = lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=dn, precision=HIGHEST)
    assert_close(jax.jit(conv)(x, w), want)


def test_a_forward_pass_runs_its_gemm_pieces_as_whole_images_where_they_fit_twice_the_size():
    # A 16 -> 16 3x3 layer on 4x128x128: col2im's product is 32.1 MiB, five 8 MiB pieces,
    # which would split images into blocks of rows; four whole images instead (8 MiB each).
    xs, ws, dn = (4, 128, 128, 16), (3, 3, 16, 16), ("NHWC", "HWIO", "NHWC")
    plan = make_plan(xs, ws, (1, 1), "SAME", None, None, dn, 1, 1, "zeros")
    need = _strategies.temp_estimate("col2im", plan, 4)
    assert plan.batch < -(-need // _strategies.GEMM_PIECE_BYTES) <= 2 * plan.batch
    assert _strategies.tiles("col2im", plan, 4) == plan.batch
    # In a differentiated layer's forward pass the gradients share the block: 8 MiB pieces.
    with _strategies.differentiated():
        _assert_fewest_pieces(need, _strategies.tiles("col2im", plan, 4))
    assert _compiled_temp("col2im", xs, ws, dn) <= MMAP_THRESHOLD
    rng = np.random.default_rng(0)
    x, w = random_array(rng, xs), random_array(rng, ws)
    want = lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=dn, precision=HIGHEST)
    assert_close(jax.jit(_col2im_highest(dn))(x, w), want)


def test_pieces_of_whole_images_hold_no_copy_of_the_input():
    # banded's buffers run a 1x1/2 layer on 4x112x112x384 in pieces of one image; mapped
    # over x.reshape(4, 1, ...), XLA:CPU's fusion emitters copied the whole input (73.5 MiB)
    # into the loop first (100.9 MiB of temp). Pieces of one image map over x itself. Compiled
    # in a subprocess with XLA's defaults: the tests' faster emitters make no such copy.
    xs, ws, dn = (4, 112, 112, 384), (1, 1, 384, 384), ("NHWC", "HWIO", "NHWC")
    plan = make_plan(xs, ws, (2, 2), "SAME", None, None, dn, 1, 1, "zeros")
    assert _strategies.tiles("banded", plan, 4) >= plan.batch
    code = (
        "import jax, jax.numpy as jnp, jaxconv\n"
        f"x, w = (jax.ShapeDtypeStruct(s, jnp.float32) for s in ({xs}, {ws}))\n"
        "f = lambda x, w: jaxconv.conv(x, w, 2, 'SAME', dimension_numbers="
        f"{dn}, strategy='banded')\n"
        "print(jax.jit(f).lower(x, w).compile().memory_analysis().temp_size_in_bytes)\n"
    )
    flags = os.environ.get("XLA_FLAGS", "").replace(COMPILE_FLAGS, "")
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[-1]) < math.prod(xs) * 4


# Layers a strategy's buffer model once undercounted, so that they ran whole at 37-92 MiB of
# temp: im2col's patches compile to twice their size (each tap's slice, then their
# concatenation), rows keeps a copy of its stacked row taps and a product per remaining
# tap, banded's stacked taps are written twice where they are cut along two dims.
UNDERCOUNTED = {
    "im2col_nhwc": ("im2col", (8, 64, 64, 32), (3, 3, 32, 16), ("NHWC", "HWIO", "NHWC")),
    "im2col_nchw": ("im2col", (8, 32, 64, 64), (3, 3, 32, 16), ("NCHW", "HWIO", "NCHW")),
    "rows_5x5": ("rows", (4, 56, 56, 64), (5, 5, 64, 64), ("NHWC", "HWIO", "NHWC")),
    "banded_3d": ("banded", (2, 16, 32, 32, 16), (3, 3, 3, 16, 16), ("NDHWC", "DHWIO", "NDHWC")),
    "rows_3_to_64": ("rows", (1, 20, 29, 29, 3), (3, 3, 3, 3, 64), ("NDHWC", "DHWIO", "NDHWC")),
}


@pytest.mark.parametrize("layer", list(UNDERCOUNTED))
def test_strategies_run_whole_only_within_the_slack(layer):
    # A strategy runs whole only where its temp fits the output, the padded input and the
    # slack; on CPU, temp past 32 MiB also costs a page fault per page on every call.
    name, xs, ws, dn = UNDERCOUNTED[layer]
    plan = make_plan(xs, ws, (1,) * (len(xs) - 2), "SAME", None, None, dn, 1, 1, "zeros")
    s = _strategies.sizes(plan)
    assert _strategies.tiles(name, plan, 4) > 1
    bound = (s.out + s.padded) * 4 + _strategies.TILE_SLACK_BYTES
    assert _compiled_temp(name, xs, ws, dn) <= bound


SMALL_LAYERS = [  # (x, w, strides), channels-last: small enough to run whole
    ((2, 16, 16, 8), (3, 3, 8, 8), (1, 1)),
    ((2, 12, 12, 16), (5, 5, 16, 8), (1, 1)),
    ((1, 8, 12, 12, 8), (3, 3, 3, 8, 8), (1, 1, 1)),
    ((2, 64, 8), (9, 8, 8), (1,)),
    # few input features, many output features: rows' products outgrow its taps
    ((2, 16, 16, 1), (5, 5, 1, 32), (1, 1)),
    ((1, 12, 12, 12, 2), (3, 3, 3, 2, 32), (1, 1, 1)),
    # strided, for space_to_depth
    ((2, 32, 32, 8), (7, 7, 8, 8), (2, 2)),
    ((1, 12, 12, 12, 8), (3, 3, 3, 8, 8), (2, 2, 2)),
    # kernels narrower than their strides, whose blocks keep only the phases they reach
    ((2, 33, 35, 8), (2, 3, 8, 8), (4, 5)),
    ((1, 14, 13, 12, 4), (2, 2, 1, 4, 8), (3, 3, 2)),
]


def _band_bytes(plan):
    """float32 bytes of :func:`banded`'s band of kernel taps on ``plan``, which pieces do not
    shrink and its buffer model leaves out: ``b`` shifted copies of the kernel written, then
    stacked (twice the band)."""
    b = _strategies.band_width(plan)
    window = (b - 1) * plan.strides[-1] + plan.window[-1]
    lead = plan.taps // plan.kernel[-1]
    return 2 * 4 * lead * window * plan.in_features * b * plan.out_features


@pytest.mark.parametrize("name", ["im2col", "rows", "banded", "space_to_depth", "col2im"])
def test_buffer_models_hold_what_xla_compiles(name):
    # Small layers, which run whole: the model is at least the compiled temp.
    for xs, ws, strides in SMALL_LAYERS:
        dn = channels_last(len(xs) - 2)
        plan = make_plan(xs, ws, strides, "SAME", None, None, dn, 1, 1, "zeros")
        if not _strategies.accepts(name, plan):
            continue
        assert _strategies.tiles(name, plan, 4) == 1
        model = _strategies.temp_estimate(name, plan, 4)
        if name == "banded":
            model += _band_bytes(plan)
        assert _compiled_temp(name, xs, ws, dn, strides) <= model, (xs, ws, strides)


@pytest.mark.parametrize(
    ("xs", "ws", "dilation"),
    [
        ((2, 16, 16, 8), (3, 3, 8, 8), (3, 4)),
        ((2, 64, 8), (9, 8, 8), (4,)),
        ((1, 8, 12, 12, 8), (3, 3, 3, 8, 8), (2, 2, 3)),
    ],
)
def test_banded_runs_a_dilated_kernel_on_its_phases(xs, ws, dilation):
    # A band over the dilated window would hold the dilation's holes: d times the products
    # (3.75x the undilated layer's flops on the first layer). On the d phases of the last
    # dim the band is the undilated one's, and the buffer model still holds what compiles.
    dn = channels_last(len(xs) - 2)
    undilated = (1,) * len(dilation)

    def compiled(dil):
        conv = functools.partial(jaxconv.conv_general_dilated, window_strides=undilated,
                                 padding="SAME", rhs_dilation=dil, dimension_numbers=dn,
                                 strategy="banded")  # fmt: skip
        x, w = (jax.ShapeDtypeStruct(s, jnp.float32) for s in (xs, ws))
        return jax.jit(conv).lower(x, w).compile()

    dilated = compiled(dilation)
    flops = dilated.cost_analysis()["flops"]
    assert flops <= 1.2 * compiled(undilated).cost_analysis()["flops"]
    plan = make_plan(xs, ws, undilated, "SAME", None, dilation, dn, 1, 1, "zeros")
    sub = _strategies._banded_phase_plan(plan)
    assert sub.batch == plan.batch * dilation[-1] and sub.rhs_dilation[-1] == 1
    model = _strategies.temp_estimate("banded", plan, 4) + _band_bytes(sub)
    assert dilated.memory_analysis().temp_size_in_bytes <= model


@pytest.mark.parametrize(
    ("xs", "ws", "strides"),
    [
        ((2, 64, 64, 8), (1, 1, 8, 16), (4, 4)),
        ((2, 42, 40, 3), (3, 2, 3, 16), (7, 5)),
        ((1, 12, 18, 20, 4), (2, 3, 1, 4, 8), (3, 4, 2)),
    ],
)
def test_space_to_depth_multiplies_no_zero_taps_where_the_kernel_is_narrower(xs, ws, strides):
    # Zero-padded to whole blocks, a 1x1/4 kernel would multiply 16x the products of its
    # one tap; keeping only the phases it reaches, space_to_depth multiplies the taps
    # themselves (as many flops as im2col's one GEMM) and copies less than the input.
    dn = channels_last(len(xs) - 2)

    def compiled(name):
        conv = functools.partial(jaxconv.conv_general_dilated, window_strides=strides,
                                 padding="VALID", dimension_numbers=dn, strategy=name)  # fmt: skip
        x, w = (jax.ShapeDtypeStruct(s, jnp.float32) for s in (xs, ws))
        return jax.jit(conv).lower(x, w).compile()

    s2d = compiled("space_to_depth")
    plan = make_plan(xs, ws, strides, "VALID", None, None, dn, 1, 1, "zeros")
    products = 2 * plan.batch * math.prod(plan.out_spatial) * math.prod(ws)
    assert s2d.cost_analysis()["flops"] <= 1.05 * products
    assert s2d.cost_analysis()["flops"] <= 1.05 * compiled("im2col").cost_analysis()["flops"]
    assert s2d.memory_analysis().temp_size_in_bytes < math.prod(xs) * 4


@pytest.mark.parametrize(
    ("xs", "ws", "strides"),
    [
        ((1, 7, 7, 384), (7, 7, 384, 192), (2, 2)),
        ((1, 3, 3, 3, 512), (3, 3, 3, 512, 256), (1, 1, 1)),
    ],
)
def test_banded_writes_no_band_larger_than_the_kernel_on_kernel_dominated_layers(xs, ws, strides):
    # Deep features on a small map: a band of b > 1 shifted kernel copies would outweigh
    # the windows it multiplies by hundreds of times (two copies of 37 MiB for these 14 MiB
    # kernels, 7.5x lax's time); band_width takes one output per block there.
    dn = channels_last(len(xs) - 2)
    plan = make_plan(xs, ws, strides, "SAME", None, None, dn, 1, 1, "zeros")
    assert _strategies.band_width(plan) == 1
    temp = _compiled_temp("banded", xs, ws, dn, strides)
    assert temp < math.prod(ws) * 4


@pytest.mark.parametrize("name", sorted(_strategies.GEMM_ON_INPUT))
def test_pointwise_layers_run_as_one_gemm_whatever_their_size(name):
    # A 1x1 kernel with no stride or padding is one GEMM on the input as it is: no tap,
    # patch or slice to hold, so no pieces either (in pieces, rows ran 2.8x slower).
    xs, ws = (14, 80, 123, 32), (1, 1, 32, 16)  # 17 MiB in, past the tiling slack
    dn = ("NHWC", "HWIO", "NHWC")
    plan = make_plan(xs, ws, (1, 1), "SAME", None, None, dn, 1, 1, "zeros")
    assert plan.is_pointwise
    assert _strategies.tiles(name, plan, 4) == 1
    assert not make_plan(xs, ws, (2, 2), "SAME", None, None, dn, 1, 1, "zeros").is_pointwise
    assert not make_plan(xs, (3, 1, 32, 16), (1, 1), "SAME", None, None, dn, 1, 1,
                         "zeros").is_pointwise  # fmt: skip
    f = jax.jit(functools.partial(jaxconv.conv_general_dilated, window_strides=(1, 1),
                                  padding="SAME", dimension_numbers=dn, strategy=name))  # fmt: skip
    compiled = f.lower(jax.ShapeDtypeStruct(xs, jnp.float32),
                       jax.ShapeDtypeStruct(ws, jnp.float32)).compile()  # fmt: skip
    assert " while(" not in compiled.as_text()
    assert compiled.memory_analysis().temp_size_in_bytes < 2**20
    rng = np.random.default_rng(0)
    x, w = random_array(rng, xs), random_array(rng, ws)
    want = lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=dn,
                                    precision=HIGHEST)  # fmt: skip
    assert_close(compiled(x, w), want)


def test_autos_choice_does_not_tile_small_layers():
    for case in suites.QUICK + suites.SMOKE:
        for layout in runner.LAYOUTS:
            if case.transposed:
                continue
            xs, ws = runner.shapes(case, layout)
            dn = runner.dimension_numbers(case, layout)
            plan = make_plan(xs, ws, case.strides, case.padding, None, case.dilation, dn,
                                case.groups, 1, "zeros")  # fmt: skip
            name, plan = _policy.decide(plan, "auto", jnp.float32)
            assert _strategies.tiles(name, plan, 4) == 1, (case.name, name)


LARGE = [
    # (x shape, w shape, dimension numbers, groups): a 96^3 volume and a 1024^2 image (the
    # bench's `--suite large` has the larger ones), a large batch, depthwise, and a
    # batch of large images.
    ((1, 96, 96, 96, 8), (3, 3, 3, 8, 8), ("NDHWC", "DHWIO", "NDHWC"), 1),
    ((1, 16, 1024, 1024), (16, 16, 3, 3), ("NCHW", "OIHW", "NCHW"), 1),
    ((32, 56, 56, 64), (3, 3, 64, 64), ("NHWC", "HWIO", "NHWC"), 1),
    ((32, 112, 112, 32), (3, 3, 1, 32), ("NHWC", "HWIO", "NHWC"), 32),
    # more pieces than images: each image in blocks of rows (blocks of every image's rows
    # held 8 times a piece's share, 1569 MiB against a bound of 1026)
    ((8, 1024, 1024, 16), (3, 3, 16, 16), ("NHWC", "HWIO", "NHWC"), 1),
]


def _temp_and_bound(xs, ws, dn, groups, direction, dtype=jnp.float32):
    """Compiled temp bytes of ``auto``'s program (``fwd``, or the vjp of both operands) on
    a stride-1 SAME layer, and the bound ``2 * lax temp + outputs + padded input``."""
    n = len(xs) - 2
    x, w = jax.ShapeDtypeStruct(xs, dtype), jax.ShapeDtypeStruct(ws, dtype)
    kw = dict(window_strides=(1,) * n, padding="SAME", dimension_numbers=dn,
              feature_group_count=groups)  # fmt: skip
    ours = functools.partial(jaxconv.conv_general_dilated, **kw)
    ref = functools.partial(lax.conv_general_dilated, **kw)
    out = jax.eval_shape(ref, x, w)
    ct = jax.ShapeDtypeStruct(out.shape, out.dtype)

    def temp(f):
        if direction == "fwd":
            c = jax.jit(f).lower(x, w).compile()
        else:
            c = jax.jit(lambda x, w, ct: jax.vjp(f, x, w)[1](ct)).lower(x, w, ct).compile()
        return c.memory_analysis().temp_size_in_bytes

    size = jnp.dtype(dtype).itemsize
    plan = make_plan(xs, ws, (1,) * n, "SAME", None, None, dn, groups, 1, "zeros")
    padded = _strategies.sizes(plan).padded * size
    outputs = np.prod(out.shape) * size + (
        0 if direction == "fwd" else (np.prod(xs) + np.prod(ws)) * size
    )
    return temp(ours), 2 * temp(ref) + outputs + padded


@pytest.mark.parametrize("direction", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("case", LARGE, ids=lambda c: "x".join(map(str, c[0])))
def test_compiled_temp_memory_is_bounded_on_large_inputs(case, direction):
    temp, bound = _temp_and_bound(*case, direction)
    assert temp <= bound


@pytest.mark.parametrize("dtype", [jnp.bfloat16, np.float16], ids=str)
@pytest.mark.parametrize(
    "xs, ws, dn, groups, direction",
    [
        ((1, 73, 73, 8), (13, 13, 8, 8), ("NHWC", "HWIO", "NHWC"), 1, "fwd+bwd"),
        ((5, 8, 4417), (8, 8, 31), ("NCW", "OIW", "NCW"), 1, "fwd+bwd"),
        ((14, 768, 9, 9), (192, 24, 3, 3), ("NCHW", "OIHW", "NCHW"), 32, "fwd"),
        ((1, 50, 71, 64), (5, 5, 16, 64), ("NHWC", "HWIO", "NHWC"), 4, "fwd"),
    ],
)
def test_narrow_floats_count_their_buffers_at_the_accumulators_width(
    xs, ws, dn, groups, direction, dtype
):
    # Layers of bfloat16 draws (2026-12-07). A narrow-float layer's sums and GEMM products
    # are float32, and XLA:CPU copies its GEMM operands to float32. Counted at the input's
    # width, the kernel gradient stacked the taps of the first two (57.4 and 44.6 MiB of
    # temp forward and backward, lax 0.7 and 2.7; now 4.4 and 4.5) and the grouped layers
    # ran whole (59.8 and 43.3 MiB forward, now 12.4 and 9.7).
    temp, bound = _temp_and_bound(xs, ws, dn, groups, direction, dtype)
    assert temp <= bound + _strategies.TILE_SLACK_BYTES // 4, (temp / 2**20, bound / 2**20)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, np.float16, np.float32, np.int8], ids=str)
def test_buffers_count_at_the_width_they_are_held(dtype):
    plan = make_plan((1, 9, 9, 8), (3, 3, 8, 8), (1, 1), "SAME", None, None,
                     ("NHWC", "HWIO", "NHWC"), 1, 1, "zeros")  # fmt: skip
    floating = jnp.issubdtype(dtype, jnp.floating)
    for name in ("col2im", "im2col", "taps", "grouped", "winograd"):
        assert _strategies.buffer_itemsize(name, plan, dtype) == (4 if floating else 1)
    for name in ("rows", "space_to_depth"):  # their patches stay narrow
        assert _strategies.buffer_itemsize(name, plan, dtype) == np.dtype(dtype).itemsize


def test_kernel_gradient_scans_large_taps():
    # A volume's 27 taps would be a stack of 27 inputs: the kernel gradient takes them one at
    # a time instead (the depthwise reductions too).
    for xs, ws, dn, groups in (LARGE[0], LARGE[3]):
        plan = make_plan(xs, ws, (1,) * (len(xs) - 2), "SAME", None, None, dn, groups, 1,
                            "zeros")  # fmt: skip
        x = jax.ShapeDtypeStruct(xs, jnp.float32)
        ct = jax.ShapeDtypeStruct(plan.out_shape, jnp.float32)
        text = jax.jit(lambda ct, x, plan=plan: _grad.kernel_grad(ct, x, plan)).lower(
            ct, x
        ).as_text()  # fmt: skip
        assert "stablehlo.while" in text


@pytest.mark.parametrize("dn", [("NHWC", "HWIO", "NHWC"), ("NCHW", "HWIO", "NCHW")])
def test_col2im_does_not_copy_a_kernel_past_the_bound(dn):
    # A 7x7 512 -> 512 kernel (49 MiB) on one position, as in the input gradient of a deep
    # layer at batch 1: col2im's GEMM over (C, K·O) would copy the kernel whole.
    xs = (1, 1, 1, 512) if dn[0] == "NHWC" else (1, 512, 1, 1)
    ws = (7, 7, 512, 512)
    assert _compiled_temp("col2im", xs, ws, dn) < 4 * 7 * 7 * 512 * 512 // 8
    rng = np.random.default_rng(0)
    x, w = random_array(rng, xs), random_array(rng, ws)
    kw = dict(window_strides=(1, 1), padding=((6, 6), (6, 6)), dimension_numbers=dn,
              precision=HIGHEST)  # fmt: skip
    # Sums of 512 products: compared with float64, as accurate as lax's float32.
    with jax.enable_x64(True):
        exact = np.asarray(
            lax.conv_general_dilated(x.astype(np.float64), w.astype(np.float64), **kw)
        )
    lax_err = np.abs(np.asarray(lax.conv_general_dilated(x, w, **kw), np.float64) - exact).max()
    ours = jaxconv.conv_general_dilated(x, w, **kw, strategy="col2im")
    assert ours.dtype == np.float32
    assert np.abs(np.asarray(ours, np.float64) - exact).max() <= 2 * lax_err


@pytest.mark.parametrize("rhs, batched", [("HWIO", True), ("OIHW", False)])
def test_col2im_batches_taps_only_where_that_avoids_the_copy(rhs, batched):
    # With an OIHW kernel the move to the canonical (*K, I, O) copies it anyway (and XLA
    # folds the one GEMM's layout into that copy), so the taps stay one wide GEMM, which ran
    # up to 2x faster than the batched ones.
    ws = (7, 7, 512, 512) if rhs == "HWIO" else (512, 512, 7, 7)
    dn = ("NCHW", rhs, "NCHW")
    conv = functools.partial(jaxconv.conv_general_dilated, window_strides=(1, 1),
                             padding="SAME", dimension_numbers=dn, strategy="col2im")  # fmt: skip
    x, w = (jax.ShapeDtypeStruct(s, jnp.float32) for s in ((1, 512, 1, 1), ws))
    text = jax.jit(conv).lower(x, w).as_text()
    dots = [line for line in text.splitlines() if "stablehlo.dot_general" in line]
    assert dots and any("batching_dims" in line for line in dots) == batched, dots


@pytest.mark.parametrize(
    "dn, ws",
    [
        (("NCHW", "OIHW", "NCHW"), (256, 128, 3, 3)),
        (("NHWC", "OHWI", "NHWC"), (256, 3, 3, 128)),
        (("NCH", "OIH", "NCH"), (256, 128, 5)),
    ],
)
def test_auto_reads_an_output_major_kernel_in_place(dn, ws):
    # A layer that mostly reads its kernel (batch 1, a 4x4 map): the canonical (*K, I, O)
    # kernel would be a transposed copy of an OIHW or OHWI one; im2col lays its patches
    # out in the kernel's order and XLA's GEMM reads the kernel where it lies.
    n = len(ws) - 2
    xs = (1, 128, *(4,) * n) if dn[0][1] == "C" else (1, *(4,) * n, 128)
    rng = np.random.default_rng(0)
    x, w = random_array(rng, xs), random_array(rng, ws)
    kw = dict(window_strides=(1,) * n, padding="SAME", dimension_numbers=dn)
    plan = make_plan(
        xs, ws, (1,) * n, "SAME", dimension_numbers=jaxconv.conv_dimension_numbers(len(xs), dn)
    )
    assert _strategies.reads_kernel_in_place(plan) == ("ik" if dn[1][1] == "I" else "ki")
    assert jaxconv.chosen_strategy(x, w, **kw) == "im2col"
    ours = jax.jit(functools.partial(jaxconv.conv_general_dilated, **kw))
    want = lax.conv_general_dilated(x, w, **kw)
    np.testing.assert_allclose(ours(x, w), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    hlo = ours.lower(x, w).compile().as_text()
    copies = [  # arrays of the kernel's size other than it and its bitcasts
        line for line in hlo.splitlines()
        if (dims := re.search(r"= f32\[([\d,]+)\]", line))
        and math.prod(int(d) for d in dims[1].split(",")) == w.size
        and "parameter(" not in line and " bitcast(" not in line
    ]  # fmt: skip
    assert not copies, copies


def test_kernel_read_in_place_from_three_times_the_patches():
    # kernel / patches = output features / (batch * output positions): 256 / 85 = 3.01 reads
    # the kernel in place, 256 / 86 = 2.98 does not.
    dn = jaxconv.conv_dimension_numbers(3, ("NCH", "OIH", "NCH"))
    for positions, order in ((85, "ik"), (86, None)):
        plan = make_plan((1, 64, positions), (256, 64, 3), (1,), "SAME", dimension_numbers=dn)
        assert _strategies.reads_kernel_in_place(plan) == order
    # A fresh draw's 9-tap stride-2 layer on 151 positions (76 outputs, 3.4x): in place, as lax.
    rng = np.random.default_rng(0)
    x, w = random_array(rng, (1, 512, 151)), random_array(rng, (256, 512, 9))
    kw = dict(window_strides=(2,), padding="SAME", dimension_numbers=("NCH", "OIH", "NCH"))
    assert jaxconv.chosen_strategy(x, w, **kw) == "im2col"
    got = jax.jit(functools.partial(jaxconv.conv_general_dilated, **kw, precision=HIGHEST))(x, w)
    want = lax.conv_general_dilated(x, w, **kw, precision=HIGHEST)  # sums of 4608 products
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_gradients_do_not_read_their_kernel_in_place():
    # The input gradient's kernel is the flipped, regrouped copy: not the user's layout.
    dn = jaxconv.conv_dimension_numbers(4, ("NCHW", "OIHW", "NCHW"))
    plan = make_plan((1, 128, 4, 4), (256, 128, 3, 3), (1, 1), "SAME", dimension_numbers=dn)
    assert plan.kernel_order == "ik"
    assert _grad.input_grad_plan(plan).kernel_order is None


def test_large_patches_keep_the_kernel_copy():
    # Against a transposed kernel XLA:CPU's GEMM slows down as the patches grow (a 5x5x5
    # 768 -> 768 layer with 12 million patch elements took 8.6x the time): past
    # IN_PLACE_PATCHES the kernel is copied as for any other layer.
    dn = jaxconv.conv_dimension_numbers(4, ("NCHW", "OIHW", "NCHW"))
    small, large = (
        make_plan((1, 2048, s, s), (512, 2048, 7, 7), (1, 1), "SAME", dimension_numbers=dn)
        for s in (4, 8)
    )
    patches = 8 * 8 * 49 * 2048
    assert patches > _strategies.IN_PLACE_PATCHES and 512 >= _strategies.KERNEL_IN_PLACE * 64
    assert _strategies.reads_kernel_in_place(small) == "ik"
    assert _strategies.reads_kernel_in_place(large) is None
