"""explain's conv_general_dilated and conv_transpose forms, layers, bias, and pictures.

Each explanation is checked against the convolution it explains: its value against an
independent reference (a numpy convolution written from the definition, PyTorch's
ConvTranspose written as a scatter, lax, or the layer's own output) and against jaxconv's
function, and its numpy expression, evaluated on the user's own arrays, against the value.
"""

from __future__ import annotations

import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import HIGHEST, layout_shape, tolerance
from jax import lax

import jaxconv

F32 = tolerance(np.float32)
F64 = {"rtol": 1e-10, "atol": 1e-10}


# ----------------------------------------------------------------------------- references
def np_conv_general(x, w, layouts, strides, pads, lhs_dil, rhs_dil, fg=1, bg=1):
    """conv_general_dilated from its definition, in float64: dilate, pad (negative pads
    crop), slide the (dilated) kernel, with feature and batch groups."""
    lhs, rhs, out = layouts
    spatial = "".join(c for c in rhs if c not in "OI")
    n = len(spatial)
    xc = np.transpose(x, [lhs.index(c) for c in "NC" + spatial]).astype(np.float64)
    wc = np.transpose(w, [rhs.index(c) for c in "OI" + spatial]).astype(np.float64)
    big_n, c = xc.shape[:2]
    dil = [(s - 1) * d + 1 for s, d in zip(xc.shape[2:], lhs_dil, strict=True)]
    xd = np.zeros((big_n, c, *dil))
    xd[(slice(None), slice(None), *(slice(None, None, d) for d in lhs_dil))] = xc
    for j, (lo, hi) in enumerate(pads):
        width = [(0, 0)] * xd.ndim
        width[2 + j] = (max(lo, 0), max(hi, 0))
        xd = np.pad(xd, width)
        size = xd.shape[2 + j]
        xd = np.take(xd, np.arange(max(-lo, 0), size - max(-hi, 0)), axis=2 + j)
    o_count, i_count = wc.shape[:2]
    kernel = wc.shape[2:]
    window = [(k - 1) * d + 1 for k, d in zip(kernel, rhs_dil, strict=True)]
    outs = [(xd.shape[2 + j] - window[j]) // strides[j] + 1 for j in range(n)]
    n_out = big_n // bg
    y = np.zeros((n_out, o_count, *outs))
    for o in range(o_count):
        g = o // (o_count // fg)
        b = o // (o_count // bg)
        chans = slice(g * i_count, (g + 1) * i_count)
        batch = slice(b * n_out, (b + 1) * n_out)
        for pos in np.ndindex(*outs):
            win = tuple(
                slice(p * s, p * s + (k - 1) * d + 1, d)
                for p, s, k, d in zip(pos, strides, kernel, rhs_dil, strict=True)
            )
            part = xd[(batch, chans, *win)]
            y[(slice(None), o, *pos)] = np.tensordot(part, wc[o], axes=n + 1)
    return np.transpose(y, [("NC" + spatial).index(c) for c in out])


def torch_conv_transpose(x, w, stride, padding, output_padding, dilation):
    """PyTorch's ConvTransposeNd by its definition, in float64: ``x (N, C_in, *in)``, weight
    ``(C_in, C_out, *k)``; each input element scatters ``x * w`` to ``i * s + t * d``, and
    the result is cropped by ``padding`` (``output_padding`` more at the end)."""
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    big_n, _, *sp = x.shape
    _, c_out, *kernel = w.shape
    full = [
        (i - 1) * s + d * (k - 1) + 1 + op
        for i, s, d, k, op in zip(sp, stride, dilation, kernel, output_padding, strict=True)
    ]
    y = np.zeros((big_n, c_out, *full))
    for pos in np.ndindex(*sp):
        for tap in np.ndindex(*kernel):
            at = tuple(p * s + t * d for p, t, s, d in zip(pos, tap, stride, dilation, strict=True))
            y[(slice(None), slice(None), *at)] += np.einsum(
                "nc,co->no",
                x[(slice(None), slice(None), *pos)],
                w[(slice(None), slice(None), *tap)],
            )
    outs = [
        (i - 1) * s - 2 * p + d * (k - 1) + op + 1
        for i, s, p, d, k, op in zip(
            sp, stride, padding, dilation, kernel, output_padding, strict=True
        )
    ]
    crop = tuple(slice(p, p + o) for p, o in zip(padding, outs, strict=True))
    return y[(slice(None), slice(None), *crop)]


def _picks(shape, seed, k=5):
    rng = np.random.default_rng(seed)
    picks = {tuple(int(rng.integers(0, s)) for s in shape) for _ in range(k)}
    picks.add((0,) * len(shape))
    picks.add(tuple(s - 1 for s in shape))
    return sorted(picks)


def _check(e, x, w, want, b=None, tol=F32):
    """The explanation's value, its numpy expression and its pieces against ``want``."""
    np.testing.assert_allclose(float(e.value), want, **tol)
    assert set(e.arrays) >= {"x", "w"}
    assert e.arrays["x"] is x and e.arrays["w"] is w
    got = eval(e.numpy_expression, {"np": np, **e.arrays})
    np.testing.assert_allclose(got, want, **tol)
    total = np.sum(e.products) + (0.0 if e.bias is None else float(e.bias))
    np.testing.assert_allclose(total, want, **tol)
    # Each patch value is x at its input coordinates; each weight is w at its coordinates.
    for p in np.ndindex(*e.patch.shape):
        src = e.input_indices[p]
        if src is not None:
            assert e.patch[p] == x[src]
            assert e.tap_kinds[p] == jaxconv._explain.X
        else:
            assert e.tap_kinds[p] != jaxconv._explain.X
        if e.tap_kinds[p] == jaxconv._explain.HOLE:
            assert e.patch[p] == 0
        assert e.weights[p] == np.asarray(e.arrays["w"])[e.weight_indices[p]]
    if b is not None:
        assert e.bias == b[e.out_feature] and e.numpy_expression.endswith(f" + b[{e.out_feature}]")


# ------------------------------------------------------------------- conv_general_dilated
def _dn(layouts: str) -> tuple[str, ...]:
    return tuple(layouts.split())


GENERAL = [
    # layouts, in_spatial, kernel, C, O, strides, pads, lhs_dilation, rhs_dilation, fg, bg
    (_dn("NCHW OIHW NCHW"), (4, 5), (3, 3), 2, 3, (1, 1), ((2, 2), (2, 2)), (2, 2), (1, 1), 1, 1),
    (_dn("NHWC HWIO NHWC"), (4, 3), (3, 2), 4, 4, (2, 1), ((1, 2), (0, 1)), (3, 2), (1, 2), 2, 1),
    (_dn("NHWC OIHW NCHW"), (5, 4), (2, 3), 3, 4, (1, 2), ((-1, 2), (1, -1)), (2, 1), (2, 1), 1, 2),
    (_dn("HNCW WOIH CWNH"), (3, 4), (3, 3), 4, 6, (2, 2), ((2, 0), (1, 3)), (2, 3), (1, 1), 2, 1),
    (_dn("CHWN IHOW WNCH"), (4, 4), (2, 2), 2, 4, (1, 1), ((1, 1), (0, 2)), (1, 1), (2, 1), 1, 2),
    (_dn("NWC WIO NWC"), (6,), (4,), 3, 2, (1,), ((3, 1),), (3,), (2,), 1, 1),
    (_dn("NCW OIW WCN"), (5,), (3,), 4, 4, (2,), ((-1, 3),), (2,), (1,), 4, 1),
    (_dn("NDHWC DHWIO NDHWC"), (3, 3, 4), (2, 3, 2), 2, 2, (1, 2, 1), ((1, 1), (2, 1), (0, 1)),
     (2, 1, 2), (1, 1, 2), 1, 1),
    (_dn("NCHW OIHW NCHW"), (6, 6), (3, 3), 4, 6, (2, 2), "SAME", (1, 1), (2, 2), 1, 2),
]  # fmt: skip


@pytest.mark.parametrize("case", GENERAL, ids=[f"{i}-{c[0][0]}" for i, c in enumerate(GENERAL)])
def test_general_matches_reference(case):
    layouts, in_sp, kernel, c, o, strides, pads, lhs_dil, rhs_dil, fg, bg = case
    spatial = [ch for ch in layouts[1] if ch not in "OI"]
    rng = np.random.default_rng(len(str(case)))
    x = rng.standard_normal(
        layout_shape(layouts[0], {"N": 2 * bg, "C": c, **dict(zip(spatial, in_sp, strict=True))})
    ).astype(np.float32)
    w = rng.standard_normal(
        layout_shape(layouts[1], {"O": o, "I": c // fg, **dict(zip(spatial, kernel, strict=True))})
    ).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    args = (strides, pads, lhs_dil, rhs_dil, layouts, fg, bg)
    ours = np.asarray(jaxconv.conv_general_dilated(x, w, *args, precision=HIGHEST))
    resolved = pads
    if isinstance(pads, str):
        resolved = jaxconv.explain_conv_general_dilated(x, w, (0,) * x.ndim, *args).plan.pads
    ref = np_conv_general(x, w, layouts, strides, resolved, lhs_dil, rhs_dil, fg, bg)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, **F32)
    for index in _picks(ref.shape, seed=len(str(case))):
        e = jaxconv.explain_conv_general_dilated(x, w, index, *args)
        assert e.index == index and e.form == "conv_general_dilated"
        _check(e, x, w, ref[index])
        np.testing.assert_allclose(float(e.value), ours[index], **F32)
        eb = jaxconv.explain_conv_general_dilated(x, w, index, *args, bias=b)
        _check(eb, x, w, ref[index] + b[e.out_feature], b=b)
        assert "bias" in str(eb) and str(eb.bias_name) in str(eb)


def test_general_input_dilation_by_hand():
    """Input 1, 2, 3 dilated by 2 and padded by 2 is 0 0 1 0 2 0 3 0 0; the kernel 1, 10,
    100 slides over it."""
    x = np.array([1.0, 2.0, 3.0], np.float32).reshape(1, 1, 3)
    w = np.array([1.0, 10.0, 100.0], np.float32).reshape(1, 1, 3)
    want = [100, 10, 201, 20, 302, 30, 3]
    for i, v in enumerate(want):
        e = jaxconv.explain_conv_general_dilated(x, w, (0, 0, i), (1,), ((2, 2),), (2,))
        assert float(e.value) == v
    e = jaxconv.explain_conv_general_dilated(x, w, (0, 0, 2), (1,), ((2, 2),), (2,))
    assert e.patch.ravel().tolist() == [1.0, 0.0, 2.0]
    assert e.tap_kinds.ravel().tolist() == [0, 2, 0]  # X, HOLE, X
    assert e.numpy_expression == "np.sum(x[0, :, 0:2] * w[0, :, 0:3:2])"
    assert ". " in str(e) or " ." in str(e)  # the inserted zero is marked


def test_batch_groups_read_their_batch():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)  # NCW, 2 batch groups of 2
    w = rng.standard_normal((6, 3, 2)).astype(np.float32)  # OIW
    for o, n_in in ((0, 1), (4, 3)):  # out batch 1: group 0 reads x batch 1, group 1 batch 3
        e = jaxconv.explain_conv_general_dilated(x, w, (1, o, 2), (1,), "VALID", None, None,
                                                 None, 1, 2)  # fmt: skip
        assert e.in_batch == n_in and e.numpy_expression.startswith(f"np.sum(x[{n_in}, ")
        want = np.sum(x[n_in, :, 2:4] * w[o])
        np.testing.assert_allclose(float(e.value), want, **F32)


# ------------------------------------------------------------------------ conv_transpose
TRANSPOSE = [
    # layouts, in_spatial, kernel, C, O, strides, padding, rhs_dilation, transpose_kernel
    (("NHWC", "HWIO", "NHWC"), (3, 4), (3, 3), 2, 3, (2, 2), "SAME", (1, 1), False),
    (("NHWC", "HWIO", "NHWC"), (3, 3), (3, 3), 2, 3, (2, 2), "SAME", (1, 1), True),
    (("NCHW", "OIHW", "NCHW"), (4, 3), (4, 3), 3, 2, (2, 3), "VALID", (1, 1), True),
    (("NCHW", "OIHW", "NCHW"), (3, 3), (3, 2), 2, 2, (3, 2), ((1, 2), (0, 1)), (2, 1), False),
    (("HNCW", "WOIH", "CWNH"), (3, 4), (2, 3), 2, 3, (2, 2), ((2, 1), (1, 2)), (1, 2), True),
    (("NWC", "WIO", "NWC"), (5,), (4,), 2, 2, (3,), "VALID", (2,), False),
    (("NCDHW", "OIDHW", "NCDHW"), (2, 3, 2), (2, 3, 2), 2, 2, (2, 1, 2), "SAME", (1, 1, 1), True),
]  # fmt: skip


@pytest.mark.parametrize(
    "case", TRANSPOSE, ids=[f"{i}-{c[0][0]}-{c[6]}" for i, c in enumerate(TRANSPOSE)]
)
def test_transpose_matches_lax(case):
    layouts, in_sp, kernel, c, o, strides, padding, rhs_dil, tk = case
    spatial = [ch for ch in layouts[1] if ch not in "OI"]
    rng = np.random.default_rng(len(str(case)))
    x = rng.standard_normal(
        layout_shape(layouts[0], {"N": 2, "C": c, **dict(zip(spatial, in_sp, strict=True))})
    ).astype(np.float32)
    i_size, o_size = (o, c) if tk else (c, o)
    w = rng.standard_normal(
        layout_shape(
            layouts[1], {"O": o_size, "I": i_size, **dict(zip(spatial, kernel, strict=True))}
        )
    ).astype(np.float32)
    args = (strides, padding, rhs_dil, layouts, tk)
    ref = np.asarray(lax.conv_transpose(x, w, *args, precision=HIGHEST))
    ours = np.asarray(jaxconv.conv_transpose(x, w, *args, precision=HIGHEST))
    np.testing.assert_allclose(ours, ref, **F32)
    for index in _picks(ref.shape, seed=len(str(case))):
        e = jaxconv.explain_conv_transpose(x, w, index, *args)
        assert e.form == "conv_transpose" and e.transpose.transpose_kernel == tk
        _check(e, x, w, ref[index])
        np.testing.assert_allclose(float(e.value), ours[index], **F32)
    text = str(e)
    assert "transposed convolution" in text and "conv_transpose(strides" in text


PYTORCH = [
    # spatial, in, kernel, stride, padding, output_padding, dilation
    (2, (4, 4), (3, 3), (2, 2), (1, 1), (1, 1), (1, 1)),  # the usual 2x decoder
    (2, (3, 5), (4, 4), (2, 2), (1, 1), (0, 0), (1, 1)),  # DCGAN
    (2, (3, 3), (3, 2), (3, 2), (0, 1), (2, 1), (1, 1)),
    (2, (4, 3), (5, 3), (2, 1), (2, 0), (1, 0), (1, 2)),
    (1, (5,), (3,), (2,), (2,), (1,), (2,)),
    (3, (2, 3, 2), (3, 2, 3), (2, 2, 1), (1, 0, 1), (1, 1, 0), (1, 1, 1)),
]


@pytest.mark.parametrize("case", PYTORCH, ids=[f"{c[0]}d-{i}" for i, c in enumerate(PYTORCH)])
def test_transpose_pytorch_padding(case):
    """PyTorch's ConvTranspose (weight (in, out, *k), padding p, output_padding op) is
    transpose_kernel=True with padding (p, p - op), use_consistent_padding=True."""
    n, in_sp, kernel, stride, padding, out_pad, dilation = case
    sp = "DHW"[3 - n :]
    dn = ("NC" + sp, "OI" + sp, "NC" + sp)
    rng = np.random.default_rng(sum(in_sp) + sum(kernel))
    x = rng.standard_normal((2, 3, *in_sp)).astype(np.float32)
    w = rng.standard_normal((3, 2, *kernel)).astype(np.float32)  # (in, out, *k)
    b = rng.standard_normal(2).astype(np.float32)
    ref = torch_conv_transpose(x, w, stride, padding, out_pad, dilation)
    pairs = tuple((p, p - op) for p, op in zip(padding, out_pad, strict=True))
    kw = dict(dimension_numbers=dn, transpose_kernel=True, use_consistent_padding=True)
    ours = np.asarray(
        jaxconv.conv_transpose(x, w, stride, pairs, dilation, precision=HIGHEST, **kw)
    )
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, **F32)
    for index in _picks(ref.shape, seed=n):
        e = jaxconv.explain_conv_transpose(x, w, index, stride, pairs, dilation, bias=b, **kw)
        _check(e, x, w, ref[index] + b[index[1]], b=b)
        assert e.transpose.use_consistent_padding


def test_transpose_by_hand_scatter():
    """Each input scatters itself times 1, 10, 100, two apart (transpose_kernel=True)."""
    x = np.array([1.0, 2.0, 3.0], np.float32).reshape(1, 3, 1)
    w = np.array([1.0, 10.0, 100.0], np.float32).reshape(3, 1, 1)
    want = [1, 10, 102, 20, 203, 30, 300]
    for i, v in enumerate(want):
        e = jaxconv.explain_conv_transpose(x, w, (0, i, 0), (2,), "VALID", transpose_kernel=True)
        assert float(e.value) == v
    assert e.numpy_expression == "np.sum(x[0, 2:3, :] * w[2:3, 0, :])"
    e = jaxconv.explain_conv_transpose(x, w, (0, 4, 0), (2,), "VALID", transpose_kernel=True)
    assert e.numpy_expression == "np.sum(x[0, 1:3, :] * w[2::-2, 0, :])"
    assert [t for t in e.input_indices.ravel() if t is not None] == [(0, 1, 0), (0, 2, 0)]
    assert [t for t, k in zip(e.weight_indices.ravel(), e.tap_kinds.ravel(), strict=True)
            if k == 0] == [(2, 0, 0), (0, 0, 0)]  # fmt: skip


# ---------------------------------------------------------------------------------- bias
def test_bias_is_a_term_of_explain():
    x = np.arange(16.0, dtype=np.float32).reshape(1, 4, 4, 1)
    w = np.ones((3, 3, 1, 2), np.float32)
    b = np.array([0.5, 2.0], np.float32)
    e = jaxconv.explain(x, w, (0, 0, 1, 1), bias=b)
    assert float(e.value) == 54.0 + 2.0 and float(e.bias) == 2.0
    assert e.numpy_expression == "np.sum(x[0, 0:3, 1:4, :] * w[:, :, :, 1]) + b[1]"
    text = str(e)
    assert "bias b[1] = 2" in text and "value = 54 + 2 = 56" in text
    plain = jaxconv.explain(x, w, (0, 0, 1, 1))
    assert plain.bias is None and float(plain.value) == 54.0 and "bias" not in str(plain)
    with pytest.raises(ValueError, match="`bias` must have shape \\(2,\\)"):
        jaxconv.explain(x, w, (0, 0, 1, 1), bias=np.ones(3, np.float32))


# -------------------------------------------------------------------------------- layers
def _layers():
    """(name, build) pairs; build(rng) returns (call, explain_kwargs, x)."""
    import jax.numpy as jnp
    from flax import linen, nnx

    import jaxconv.linen as jlinen
    import jaxconv.nnx as jnnx

    def nnx_case(layer, x):
        if getattr(layer, "bias", None) is not None:
            shape = layer.bias[...].shape
            layer.bias[...] = jnp.asarray(np.random.default_rng(1).standard_normal(shape))
        return (lambda: np.asarray(jax.jit(lambda a: layer(a))(x))), layer, {}, x

    def linen_case(layer, x):
        v = layer.init(jax.random.key(0), x)
        if "bias" in v["params"]:
            b = np.random.default_rng(1).standard_normal(v["params"]["bias"].shape)
            v = {"params": {**v["params"], "bias": jnp.asarray(b, jnp.float32)}}
        return (lambda: np.asarray(jax.jit(layer.apply)(v, x))), layer, {"variables": v}, x

    def x_(shape, seed=0):
        return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)

    r = nnx.Rngs(0)
    return [
        ("flax.nnx.Conv-groups", lambda: nnx_case(
            nnx.Conv(4, 6, (3, 3), strides=2, feature_group_count=2, rngs=r), x_((2, 7, 6, 4)))),
        ("flax.nnx.Conv-indil", lambda: nnx_case(
            nnx.Conv(3, 2, (3, 2), input_dilation=2, kernel_dilation=(1, 2),
                     padding=((2, 1), (0, 3)), rngs=r), x_((2, 5, 4, 3)))),
        ("flax.nnx.Conv-mask-unbatched", lambda: nnx_case(
            nnx.Conv(3, 2, (3,), padding="CAUSAL", mask=np.tril(np.ones((3, 3, 2)))[..., :2],
                     rngs=r), x_((7, 3)))),
        ("flax.nnx.ConvTranspose", lambda: nnx_case(
            nnx.ConvTranspose(4, 3, (3, 3), strides=2, transpose_kernel=True, rngs=r),
            x_((2, 4, 3, 4)))),
        ("flax.nnx.ConvTranspose-pairs", lambda: nnx_case(
            nnx.ConvTranspose(2, 3, (3, 2), strides=(3, 2), padding=((1, 2), (0, 1)),
                              kernel_dilation=(1, 2), rngs=r), x_((1, 3, 4, 2)))),
        ("jaxconv.nnx.Conv-NCHW-reflect", lambda: nnx_case(
            jnnx.Conv(4, 6, (3, 3), strides=2, padding=1, padding_mode="reflect",
                      feature_group_count=2, dimension_numbers=("NCHW", "OIHW", "NCHW"), rngs=r),
            x_((2, 4, 7, 6)))),
        ("jaxconv.nnx.Conv-indil-circular", lambda: nnx_case(
            jnnx.Conv(3, 2, (3, 3), input_dilation=2, padding=1, padding_mode="circular",
                      rngs=r), x_((1, 4, 5, 3)))),
        ("jaxconv.nnx.ConvTranspose-NCHW", lambda: nnx_case(
            jnnx.ConvTranspose(4, 3, (3, 2), strides=(2, 3), padding=((1, 2), (0, 1)),
                               dimension_numbers=("NCHW", "OIHW", "NCHW"), rngs=r),
            x_((2, 4, 3, 4)))),
        ("jaxconv.nnx.ConvTranspose-tk", lambda: nnx_case(
            jnnx.ConvTranspose(3, 2, (4, 4), strides=2, padding="SAME", transpose_kernel=True,
                               rngs=r), x_((1, 3, 3, 3)))),
        ("jaxconv.nnx.ConvLocal", lambda: nnx_case(
            jnnx.ConvLocal(4, 5, (3, 2), input_size=(7, 6), strides=(1, 2), padding="SAME",
                           rngs=r), x_((2, 7, 6, 4)))),
        ("jaxconv.nnx.ConvLocal-NCW-indil", lambda: nnx_case(
            jnnx.ConvLocal(2, 3, (3,), input_size=5, input_dilation=2, padding=((1, 2),),
                           dimension_numbers=("NCW", "OIW", "NCW"), rngs=r), x_((2, 2, 5)))),
        ("flax.linen.Conv-multibatch", lambda: linen_case(
            linen.Conv(5, (3, 3), padding="CIRCULAR"), x_((3, 2, 6, 5, 2)))),
        ("flax.linen.ConvTranspose", lambda: linen_case(
            linen.ConvTranspose(3, (3,), strides=(2,), padding="VALID"), x_((2, 5, 2)))),
        ("flax.linen.ConvLocal", lambda: linen_case(
            linen.ConvLocal(3, (2, 2), padding="VALID"), x_((1, 4, 5, 2)))),
        ("jaxconv.linen.Conv-OIHW", lambda: linen_case(
            jlinen.Conv(4, (2, 3), strides=(1, 2), padding="SAME", kernel_dilation=(2, 1),
                        dimension_numbers=("NHWC", "OIHW", "NCHW")), x_((2, 6, 7, 3)))),
        ("jaxconv.linen.ConvTranspose-tk", lambda: linen_case(
            jlinen.ConvTranspose(2, (3, 3), strides=(2, 2), transpose_kernel=True,
                                 use_bias=False), x_((1, 3, 3, 2)))),
        ("jaxconv.linen.ConvLocal-unbatched", lambda: linen_case(
            jlinen.ConvLocal(3, (3,), padding="VALID"), x_((8, 2)))),
    ]  # fmt: skip


LAYERS = _layers()


@pytest.mark.parametrize("build", [b for _, b in LAYERS], ids=[n for n, _ in LAYERS])
def test_layer_matches_its_output(build):
    call, layer, kwargs, x = build()
    y = call()
    uses_bias = getattr(layer, "use_bias", True)
    for index in _picks(y.shape, seed=y.size):
        e = jaxconv.explain(layer, x, index, **kwargs)
        assert e.index == tuple(index)
        want = y[index]
        np.testing.assert_allclose(float(e.value), want, **F32)
        assert e.arrays["x"] is x
        got = eval(e.numpy_expression, {"np": np, **e.arrays})
        np.testing.assert_allclose(got, want, **F32)
        assert (e.bias is not None) == bool(uses_bias)
        total = np.sum(e.products) + (0.0 if e.bias is None else float(e.bias))
        np.testing.assert_allclose(total, want, **F32)
        for p in np.ndindex(*e.patch.shape):
            if e.input_indices[p] is not None:
                assert e.patch[p] == x[e.input_indices[p]]
    text = " ".join(str(e).split())
    assert "layer " in text and type(layer).__name__ in text
    assert ("b = " in text) == bool(uses_bias)  # where the bias comes from
    lhs, rhs, out = e.layouts
    assert f"input {lhs}" in text and f"output {out}" in text


def test_layer_argument_errors():
    import jax.numpy as jnp
    from flax import linen, nnx

    x = np.ones((1, 5, 5, 2), np.float32)
    layer = nnx.Conv(2, 3, (3, 3), rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="do not pass `strides`, `bias`"):
        jaxconv.explain(layer, x, (0, 0, 0, 0), 2, bias=np.ones(3))
    with pytest.raises(TypeError, match="`variables` is only for Linen"):
        jaxconv.explain(layer, x, (0, 0, 0, 0), variables={"params": {}})
    lin = linen.Conv(3, (3, 3))
    with pytest.raises(TypeError, match="needs its variables"):
        jaxconv.explain(lin, x, (0, 0, 0, 0))
    with pytest.raises(ValueError, match="variables\\['params'\\]\\['kernel'\\]"):
        jaxconv.explain(lin, x, (0, 0, 0, 0), variables={"kernel": jnp.ones((3, 3, 2, 3))})
    with pytest.raises(TypeError, match="`variables` is only for explaining a Linen layer"):
        jaxconv.explain(x, np.ones((3, 3, 2, 3), np.float32), (0, 0, 0, 0), variables={})
    circ = nnx.ConvTranspose(2, 3, (3, 3), strides=2, padding="CIRCULAR", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="CIRCULAR"):
        jaxconv.explain(circ, x, (0, 0, 0, 0))
    with pytest.raises(IndexError, match="`index`"):
        jaxconv.explain(layer, x, (0, 5, 0, 0))


def test_core_imports_neither_flax_nor_matplotlib():
    code = (
        "import sys, numpy as np, jaxconv\n"
        "x = np.ones((1, 4, 4, 2), np.float32); w = np.ones((3, 3, 2, 1), np.float32)\n"
        "jaxconv.explain(x, w, (0, 0, 0, 0))\n"
        "str(jaxconv.explain_conv_transpose(x, w, (0, 1, 1, 0), (2, 2), 'SAME'))\n"
        "assert 'flax' not in sys.modules, 'explain imported flax'\n"
        "assert 'matplotlib' not in sys.modules, 'explain imported matplotlib'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


# ------------------------------------------------------------------------------ pictures
def _assert_picture(path, max_inches=(16, 30)):
    """A PNG that exists, is of a readable size and is not a blank canvas."""
    import matplotlib.image

    assert path.is_file() and path.stat().st_size > 10_000
    img = matplotlib.image.imread(path)
    h, w = img.shape[:2]
    assert 400 <= w <= max_inches[0] * 110 and 300 <= h <= max_inches[1] * 110, (w, h)
    rgb = img[..., :3].reshape(-1, 3)
    assert rgb.std() > 0.05  # not one flat colour
    assert len(np.unique((rgb * 255).astype(np.uint8), axis=0)) > 50  # cells, text, lines
    assert (rgb < 0.99).any(axis=1).mean() > 0.05  # a fair share of the canvas is drawn on


def test_plot_forward_and_folded_features(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 12, 12, 16)).astype(np.float32)
    w = rng.standard_normal((3, 3, 16, 4)).astype(np.float32)
    e = jaxconv.explain(x, w, (0, 2, 5, 2), 1, 2, dilation=2)
    fig = e.plot(tmp_path / "conv.png")
    _assert_picture(tmp_path / "conv.png")
    w_in, h_in = fig.get_size_inches()
    assert w_in <= 16 and h_in <= 30
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "13 more folded" in texts and "16 input features" in texts
    titles = [a.get_title() for a in fig.axes]
    assert sum("input feature" in t for t in titles) == 3  # the 3 largest, by default
    fig = e.plot(tmp_path / "one.png", max_features=1)
    assert sum("input feature" in a.get_title() for a in fig.axes) == 1
    _assert_picture(tmp_path / "one.png")
    with pytest.raises(ValueError, match="max_features"):
        e.plot(max_features=0)


def test_plot_transposed_scatter_and_gather(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, (1, 2, 4, 4)).astype(np.float32)
    w = rng.integers(-2, 3, (2, 3, 3, 3)).astype(np.float32)
    e = jaxconv.explain_conv_transpose(
        x, w, (0, 1, 2, 5), (2, 2), ((1, 0), (1, 0)), dimension_numbers=("NCHW", "OIHW", "NCHW"),
        transpose_kernel=True, use_consistent_padding=True, bias=np.ones(3, np.float32),
    )  # fmt: skip
    fig = e.plot(tmp_path / "t.png")
    _assert_picture(tmp_path / "t.png")
    titles = " ".join(a.get_title(loc="left") + a.get_title() for a in fig.axes)
    assert "scatter" in titles and "dilated input" in titles
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "Scatter view" in texts and "gather" in texts and "bias b[1]" in texts


@pytest.mark.parametrize("kind", ["1d", "3d", "layer"])
def test_plot_other_shapes(tmp_path, kind):
    rng = np.random.default_rng(2)
    if kind == "1d":
        x = rng.standard_normal((1, 12, 3)).astype(np.float32)
        w = rng.standard_normal((4, 3, 2)).astype(np.float32)
        e = jaxconv.explain(x, w, (0, 2, 1), 2, "SAME", dilation=2, padding_mode="reflect")
    elif kind == "3d":
        x = rng.standard_normal((1, 4, 5, 5, 2)).astype(np.float32)
        w = rng.standard_normal((3, 3, 3, 2, 2)).astype(np.float32)
        e = jaxconv.explain(x, w, (0, 0, 2, 3, 1), 1, 1)
    else:
        from flax import nnx

        import jaxconv.nnx as jnnx

        layer = jnnx.ConvLocal(2, 3, (3, 3), input_size=(6, 6), padding="VALID", rngs=nnx.Rngs(0))
        x = rng.standard_normal((6, 6, 2)).astype(np.float32)  # no batch axis
        e = jaxconv.explain(layer, x, (1, 2, 0))
    e.plot(tmp_path / f"{kind}.png")
    _assert_picture(tmp_path / f"{kind}.png")


# ------------------------------------------------------------------------- command line
def _cli(argv):
    import contextlib
    import io

    from jaxconv.__main__ import main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(argv)
    return rc, buf.getvalue()


def test_cli_keras_example_shows_the_bias():
    rc, out = _cli(["explain", "--keras-example"])
    assert rc == 0 and "MISMATCH" not in out
    assert "model pre-activation out[0, 0, 0, 0] = 65" in out
    assert "bias b[0] = 2" in out and "value = 63 + 2 = 65" in out
    assert "np.sum(x[0, 0:3, 0:3, :] * w[:, :, :, 0]) + b[0]" in out


def test_cli_transpose_pytorch_padding_and_png(tmp_path):
    png = tmp_path / "t.png"
    argv = (
        "explain --transpose --transpose-kernel --layout NCHW --kernel-layout OIHW "
        "--input-shape 1,2,4,4 --strides 2 --torch-padding 1 --output-padding 1 "
        f"--index 0,1,2,5 --seed 4 --png {png}"
    )
    rc, out = _cli(argv.split())
    assert rc == 0 and "(agrees)" in out
    assert "conv_transpose(strides (2, 2), padding ((1, 0), (1, 0)), use_consistent_padding" in out
    assert "out (1, 3, 8, 8) NCHW" in out  # PyTorch: (4 - 1) * 2 - 2 * 1 + 3 + 1 = 8
    _assert_picture(png)


def test_cli_general_form_with_bias(tmp_path):
    np.save(tmp_path / "b.npy", np.arange(4, dtype=np.float32))
    argv = (
        "explain --lhs-dilation 2 --batch-groups 2 --input-shape 4,5,5,2 "
        f"--padding ((1,1),(2,0)) --index 1,3,4,3 --b {tmp_path / 'b.npy'}"
    )
    rc, out = _cli(argv.split())
    assert rc == 0 and "(agrees)" in out and "with the bias" in out
    assert "input dilation (2, 2), batch groups 2" in out and "bias b[3] = 3" in out


# ---------------------------------------------------------------------------- docs build
def test_docs_pictures_are_drawn_by_the_build(tmp_path):
    """The explain pictures the pages show (figures/...) are drawn by docs/make_figures.py's
    mkdocs hook at build time, from the pages' own examples; each one draws."""
    import re
    from pathlib import Path

    from conftest import REPO, load_script

    docs = REPO / "docs"
    make_figures = load_script("docs/make_figures.py")
    shown = {
        m
        for page in docs.glob("*.md")
        for m in re.findall(r"\]\((figures/[^)]+)\)", page.read_text())
    }
    assert shown == set(make_figures.GENERATED), (shown, set(make_figures.GENERATED))
    for name in sorted(shown):
        path = tmp_path / Path(name).name
        path.write_bytes(make_figures.explain_png(name))
        _assert_picture(path)
    mkdocs = (docs.parent / "mkdocs.yml").read_text()
    hooks = re.search(r"^hooks:\n((?:  - .*\n)+)", mkdocs, re.MULTILINE)
    assert hooks is not None and "  - docs/make_figures.py\n" in hooks.group(1), mkdocs
