"""jaxconv.nnx against flax.nnx (same parameters, same outputs) and against numpy references."""

from __future__ import annotations

import doctest
import functools
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import HIGHEST, tolerance
from flax import linen, nnx
from jax import lax
from jax.test_util import check_grads

import jaxconv
import jaxconv.nnx as jnnx

F32 = tolerance(np.float32)
BF16 = tolerance(jnp.bfloat16)


def _apply(module, *args):
    """Call ``module`` under ``jax.jit``: one compilation instead of op-by-op dispatch."""
    return jax.jit(lambda *a: module(*a))(*args)


def _x(shape, seed=1):
    return jax.random.normal(jax.random.key(seed), shape, jnp.float32)


# ----------------------------------------------------------------------------- references


def np_conv_nhwc(x, w, strides=(1, 1), pads=((0, 0), (0, 0)), groups=1, mode="constant"):
    """Direct 2-d cross-correlation: ``x (N, H, W, C)``, ``w (kh, kw, C // groups, O)``."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), *pads, (0, 0)), mode=mode)
    w = np.asarray(w, np.float64)
    kh, kw, ig, o = w.shape
    n, h, wd, c = x.shape
    oh, ow = (h - kh) // strides[0] + 1, (wd - kw) // strides[1] + 1
    og = o // groups
    out = np.zeros((n, oh, ow, o))
    for p in range(oh):
        for q in range(ow):
            win = x[:, p * strides[0] : p * strides[0] + kh, q * strides[1] : q * strides[1] + kw]
            for g in range(groups):
                part = win[..., g * ig : (g + 1) * ig]
                out[:, p, q, g * og : (g + 1) * og] = np.tensordot(
                    part, w[..., g * og : (g + 1) * og], axes=([1, 2, 3], [0, 1, 2])
                )
    return out


def np_true_conv_nchw(x, w):
    """A true (flipped-kernel) 'VALID' convolution, as Theano computes it.

    ``x (N, C, H, W)``, ``w (O, C, kh, kw)``: ``y[p, q] = sum x[p + kh-1-a, q + kw-1-b] w[a, b]``.
    """
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    o, c, kh, kw = w.shape
    n, _, h, wd = x.shape
    out = np.zeros((n, o, h - kh + 1, wd - kw + 1))
    for a in range(kh):
        for b in range(kw):
            patch = x[
                :, :, kh - 1 - a : kh - 1 - a + h - kh + 1, kw - 1 - b : kw - 1 - b + wd - kw + 1
            ]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, a, b])
    return out


def np_torch_conv_transpose(x, w, stride, pad):
    """PyTorch's ``ConvTranspose2d`` by scatter-add: ``x (N, Cin, H, W)``,
    ``w (Cin, Cout, kh, kw)``, symmetric ``pad``, no output padding."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    n, cin, h, wd = x.shape
    _, cout, kh, kw = w.shape
    full = np.zeros((n, cout, (h - 1) * stride + kh, (wd - 1) * stride + kw))
    for i in range(h):
        for j in range(wd):
            full[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw] += np.einsum(
                "nc,cokl->nokl", x[:, :, i, j], w
            )
    return full[:, :, pad : full.shape[2] - pad, pad : full.shape[3] - pad]


# ------------------------------------------------------------------------- Conv vs Flax

PADDINGS = ["SAME", "VALID", "CIRCULAR", "REFLECT", 1, (1, 2), [(1, 0), (0, 2)]]
OPTIONS = [
    {},
    {"strides": 2},
    {"strides": (1, 2), "kernel_dilation": (2, 1)},
    {"feature_group_count": 2},
    {"use_bias": False},
    {"input_dilation": 2},
]


# every padding with the default options, every option with one padding
CONV_CASES = [(p, {}) for p in PADDINGS] + [
    (("CIRCULAR", [(1, 0), (0, 2)])[i % 2], o) for i, o in enumerate(OPTIONS[1:])
]


@pytest.mark.parametrize(("padding", "options"), CONV_CASES, ids=str)
def test_conv_matches_flax(padding, options):
    if "input_dilation" in options and isinstance(padding, str):
        padding = [(1, 1), (2, 0)]  # Flax (lax) refuses string padding with input dilation
    kwargs = dict(padding=padding, precision=HIGHEST, **options)
    theirs = nnx.Conv(4, 6, (3, 2), rngs=nnx.Rngs(0), **kwargs)
    ours = jnnx.Conv(4, 6, (3, 2), rngs=nnx.Rngs(0), **kwargs)
    assert ours.kernel.shape == theirs.kernel.shape
    np.testing.assert_array_equal(ours.kernel[...], theirs.kernel[...])
    assert (ours.bias is None) == (theirs.bias is None)
    x = _x((2, 7, 6, 4))
    np.testing.assert_allclose(_apply(ours, x), _apply(theirs, x), **F32)


def test_conv_by_hand():
    """All-ones kernel on all-ones input: 9 inside, 4 in the corners, 6 on the edges."""
    layer = jnnx.Conv(1, 1, (3, 3), kernel_init=nnx.initializers.ones, rngs=nnx.Rngs(0))
    y = _apply(layer, jnp.ones((1, 4, 4, 1)))[0, :, :, 0]
    expected = [[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]]
    np.testing.assert_array_equal(y, np.array(expected, np.float32))


@pytest.mark.parametrize("padding", ["CAUSAL", "SAME", 2])
def test_conv_1d_and_causal(padding):
    x = _x((3, 9, 2))
    theirs = nnx.Conv(
        2, 5, 3, kernel_dilation=2, padding=padding, precision=HIGHEST, rngs=nnx.Rngs(0)
    )
    ours = jnnx.Conv(
        2, 5, 3, kernel_dilation=2, padding=padding, precision=HIGHEST, rngs=nnx.Rngs(0)
    )
    np.testing.assert_allclose(_apply(ours, x), _apply(theirs, x), **F32)
    if padding == "CAUSAL":  # the output at t sees only inputs up to t
        bumped = x.at[:, 5].add(1.0)
        np.testing.assert_array_equal(_apply(ours, bumped)[:, :5], _apply(ours, x)[:, :5])


def test_conv_3d():
    x = _x((1, 4, 3, 5, 2))
    kw = dict(strides=(1, 2, 1), padding="SAME", precision=HIGHEST)
    np.testing.assert_allclose(
        _apply(jnnx.Conv(2, 3, (2, 2, 3), **kw, rngs=nnx.Rngs(0)), x),
        _apply(nnx.Conv(2, 3, (2, 2, 3), **kw, rngs=nnx.Rngs(0)), x),
        **F32,
    )


@pytest.mark.parametrize("shape", [(7, 6, 4), (2, 3, 7, 6, 4)], ids=["unbatched", "batch2x3"])
def test_batch_dims_as_flax(shape):
    x = _x(shape)
    theirs = nnx.Conv(4, 3, (3, 3), strides=2, precision=HIGHEST, rngs=nnx.Rngs(0))
    ours = jnnx.Conv(4, 3, (3, 3), strides=2, precision=HIGHEST, rngs=nnx.Rngs(0))
    y = _apply(ours, x)
    assert y.shape == (*shape[:-3], 4, 3, 3)
    np.testing.assert_allclose(y, _apply(theirs, x), **F32)


def test_batch_dims_channels_first():
    """Several leading batch dims stand where N is, also for NCHW."""
    ours = jnnx.Conv(
        4,
        3,
        (3, 3),
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=HIGHEST,
        rngs=nnx.Rngs(0),
    )
    x = _x((2, 3, 4, 5, 5))
    y = _apply(ours, x)
    assert y.shape == (2, 3, 3, 5, 5)
    np.testing.assert_allclose(y[1, 2], _apply(ours, x[1, 2][None])[0], **F32)
    np.testing.assert_allclose(_apply(ours, x[1, 2]), _apply(ours, x[1, 2][None])[0], **F32)


# ---------------------------------------------------------------- dtypes, mask, drop-in


def test_param_dtype_and_dtype():
    layer = jnnx.Conv(3, 4, (3, 3), param_dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
    assert layer.kernel.dtype == jnp.bfloat16 and layer.bias.dtype == jnp.bfloat16
    x = _x((2, 5, 5, 3))
    assert _apply(layer, x).dtype == jnp.float32  # promoted with the float32 input
    assert _apply(layer, x.astype(jnp.bfloat16)).dtype == jnp.bfloat16

    kw = dict(dtype=jnp.bfloat16)
    ours, theirs = (
        jnnx.Conv(3, 4, (3, 3), **kw, rngs=nnx.Rngs(0)),
        nnx.Conv(3, 4, (3, 3), **kw, rngs=nnx.Rngs(0)),
    )
    assert ours.kernel.dtype == jnp.float32
    y = _apply(ours, x)
    assert y.dtype == jnp.bfloat16
    np.testing.assert_allclose(y.astype(np.float32), _apply(theirs, x).astype(np.float32), **BF16)
    np.testing.assert_allclose(
        y.astype(np.float32),
        np_conv_nhwc(
            x.astype(jnp.bfloat16).astype(np.float32),
            ours.kernel[...].astype(jnp.bfloat16).astype(np.float32),
            pads=((1, 1),) * 2,
        ),
        **BF16,
    )


def test_preferred_element_type():
    kw = dict(dtype=jnp.bfloat16, preferred_element_type=jnp.float32)
    ours, theirs = (
        jnnx.Conv(3, 4, (3, 3), **kw, rngs=nnx.Rngs(0)),
        nnx.Conv(3, 4, (3, 3), **kw, rngs=nnx.Rngs(0)),
    )
    x = _x((2, 5, 5, 3))
    y_ours, y_theirs = _apply(ours, x), _apply(theirs, x)
    assert y_ours.dtype == y_theirs.dtype == jnp.float32
    np.testing.assert_allclose(y_ours, y_theirs, **BF16)


def test_mask():
    mask = jnp.tril(jnp.ones((3, 3, 2, 4)))
    kw = dict(mask=mask, precision=HIGHEST)
    ours, theirs = (
        jnnx.Conv(2, 4, (3, 3), **kw, rngs=nnx.Rngs(0)),
        nnx.Conv(2, 4, (3, 3), **kw, rngs=nnx.Rngs(0)),
    )
    x = _x((2, 5, 5, 2))
    y = _apply(ours, x)
    np.testing.assert_allclose(y, _apply(theirs, x), **F32)
    masked = np_conv_nhwc(x, ours.kernel[...] * mask, pads=((1, 1), (1, 1)))
    np.testing.assert_allclose(y, masked, **F32)
    with pytest.raises(ValueError, match="mask"):
        jnnx.Conv(2, 4, (3, 3), mask=jnp.ones((3, 3, 4)), rngs=nnx.Rngs(0))


DROP_IN = [
    {"padding": "SAME"},
    {"padding": "CIRCULAR", "strides": 2},
    {"padding": [(2, 0), (1, 1)], "input_dilation": (2, 1)},
    {"padding": "VALID", "feature_group_count": 2, "kernel_dilation": 2},
]


@pytest.mark.parametrize("options", DROP_IN, ids=str)
def test_flax_conv_with_jaxconv_function(options):
    """``flax.nnx.Conv(conv_general_dilated=jaxconv.conv_general_dilated)`` is the default."""
    kw = dict(precision=HIGHEST, **options)
    default = nnx.Conv(4, 6, (3, 2), **kw, rngs=nnx.Rngs(0))
    swapped = nnx.Conv(
        4, 6, (3, 2), conv_general_dilated=jaxconv.conv_general_dilated, rngs=nnx.Rngs(0), **kw
    )
    x = _x((2, 7, 6, 4))
    np.testing.assert_allclose(_apply(swapped, x), _apply(default, x), **F32)
    np.testing.assert_allclose(nnx.jit(lambda m, x: m(x))(swapped, x), _apply(default, x), **F32)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_mode_with_lax_or_jaxconv(mode):
    """padding_mode matches numpy's padding; lax and a strategy partial give the same."""
    x = _x((2, 6, 5, 3))
    kw = dict(padding=(2, 1), padding_mode=mode, precision=HIGHEST)
    base = jnnx.Conv(3, 4, (3, 3), rngs=nnx.Rngs(0), **kw)
    np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    ref = np_conv_nhwc(x, base.kernel[...], pads=((2, 2), (1, 1)), mode=np_mode)
    np.testing.assert_allclose(_apply(base, x), ref, **F32)
    for fn in (
        lax.conv_general_dilated,
        functools.partial(jaxconv.conv_general_dilated, strategy="taps"),
    ):
        other = jnnx.Conv(3, 4, (3, 3), conv_general_dilated=fn, rngs=nnx.Rngs(0), **kw)
        np.testing.assert_allclose(_apply(other, x), ref, **F32)


def test_padding_mode_same_and_flax_word():
    x = _x((1, 6, 6, 2))
    a = jnnx.Conv(2, 3, (3, 3), padding="SAME", padding_mode="circular", rngs=nnx.Rngs(0))
    b = jnnx.Conv(2, 3, (3, 3), padding="CIRCULAR", rngs=nnx.Rngs(0))
    np.testing.assert_allclose(_apply(a, x), _apply(b, x), **F32)


# ------------------------------------------------------------------ layouts and loading


def test_nchw_oihw_module_equals_nhwc():
    kw = dict(strides=(2, 1), padding="SAME", feature_group_count=2, precision=HIGHEST)
    nhwc = jnnx.Conv(4, 6, (3, 2), rngs=nnx.Rngs(0), **kw)
    nchw = jnnx.Conv(
        4, 6, (3, 2), dimension_numbers=("NCHW", "OIHW", "NCHW"), rngs=nnx.Rngs(0), **kw
    )
    assert nchw.kernel.shape == (6, 2, 3, 2)  # (out, in / groups, kh, kw)
    # the same rngs give the same weights, transposed
    np.testing.assert_array_equal(
        nchw.kernel[...], jaxconv.convert_kernel(nhwc.kernel[...], "HWIO", "OIHW")
    )
    x = _x((2, 7, 6, 4))
    y = _apply(nchw, jaxconv.convert_layout(x, "NHWC", "NCHW"))
    assert y.shape == (2, 6, 4, 6)
    np.testing.assert_allclose(jaxconv.convert_layout(y, "NCHW", "NHWC"), _apply(nhwc, x), **F32)
    # a loaded kernel agrees the other way round too
    loaded = jnnx.Conv.from_kernel(nchw.kernel[...], nchw.bias[...], layout="OIHW", **kw)
    np.testing.assert_allclose(_apply(loaded, x), _apply(nhwc, x), **F32)


def test_from_kernel_pytorch():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)  # Conv2d(4, 6, 3, groups=2)
    b = rng.standard_normal(6).astype(np.float32)
    x = rng.standard_normal((2, 4, 7, 6)).astype(np.float32)  # NCHW
    layer = jnnx.Conv.from_kernel(
        w,
        b,
        layout="pytorch",
        strides=2,
        padding=1,
        feature_group_count=2,
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=HIGHEST,
    )
    np.testing.assert_array_equal(layer.kernel[...], w)  # stored as is: no transpose
    ref = np_conv_nhwc(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), (2, 2), ((1, 1),) * 2, 2)
    ref = ref.transpose(0, 3, 1, 2) + b[:, None, None]
    np.testing.assert_allclose(_apply(layer, x), ref, **F32)
    # the same PyTorch weights in the default channels-last module
    nhwc = jnnx.Conv.from_kernel(
        w, b, layout="OIHW", strides=2, padding=1, feature_group_count=2, precision=HIGHEST
    )
    assert nhwc.kernel.shape == (3, 3, 2, 6)
    np.testing.assert_allclose(
        _apply(nhwc, x.transpose(0, 2, 3, 1)), ref.transpose(0, 2, 3, 1), **F32
    )


@pytest.mark.parametrize("layout", ["HWIO", "tensorflow", "keras"])
def test_from_kernel_tensorflow_keras3(layout):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 2, 4, 5)).astype(np.float32)  # HWIO
    b = rng.standard_normal(5).astype(np.float32)
    x = rng.standard_normal((2, 6, 6, 4)).astype(np.float32)
    layer = jnnx.Conv.from_kernel(w, b, layout=layout, padding="VALID", precision=HIGHEST)
    assert (layer.in_features, layer.out_features, layer.kernel_size) == (4, 5, (3, 2))
    np.testing.assert_allclose(_apply(layer, x), np_conv_nhwc(x, w) + b, **F32)


@pytest.mark.parametrize("how", [{"layout": "theano"}, {"layout": "OIHW", "flip": True}])
def test_from_kernel_theano_flipped(how):
    """Keras 1 on Theano: OIHW kernels of a true convolution."""
    rng = np.random.default_rng(2)
    w = rng.standard_normal((5, 3, 3, 2)).astype(np.float32)
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    layer = jnnx.Conv.from_kernel(
        w,
        layout=how["layout"],
        flip=how.get("flip"),
        padding="VALID",
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=HIGHEST,
    )
    assert layer.bias is None
    np.testing.assert_allclose(_apply(layer, x), np_true_conv_nchw(x, w), **F32)


def test_from_kernel_1d_and_bias_only_when_asked():
    w = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)  # Conv1d(3, 2, 4): OIW
    layer = jnnx.Conv.from_kernel(w, layout="OIW", padding="VALID", use_bias=True)
    assert layer.kernel.shape == (4, 3, 2)
    np.testing.assert_array_equal(layer.bias[...], np.zeros(2, np.float32))
    x = np.ones((1, 5, 3), np.float32)
    np.testing.assert_allclose(_apply(layer, x)[0, 0], w.sum(axis=(1, 2)), **F32)


@pytest.mark.parametrize("cls", [jnnx.Conv, jnnx.ConvTranspose])
def test_from_kernel_draws_no_random_kernel(cls):
    # The kernel is given, so none is drawn first (each new shape's draw compiles for
    # seconds on XLA:CPU); an initializer the caller passes is still theirs.
    w = np.arange(4 * 3 * 3 * 2, dtype=np.float32).reshape(4, 3, 3, 2)  # OIHW

    def jaxpr(**kw):
        return str(jax.make_jaxpr(lambda: cls.from_kernel(w, layout="OIHW", **kw).kernel[...])())

    layer = cls.from_kernel(w, layout="OIHW")
    np.testing.assert_array_equal(layer.kernel[...], np.transpose(w, (2, 3, 1, 0)))  # HWIO
    assert "random_bits" not in jaxpr()
    assert "random_bits" in jaxpr(kernel_init=nnx.initializers.lecun_normal())


def test_from_kernel_errors():
    w = np.zeros((4, 3, 3, 3), np.float32)
    with pytest.raises(TypeError, match="layout"):
        jnnx.Conv.from_kernel(w, layout="OIXY")
    with pytest.raises(ValueError, match="bias"):
        jnnx.Conv.from_kernel(w, np.zeros(3), layout="OIHW")
    with pytest.raises(ValueError, match="use_bias"):
        jnnx.Conv.from_kernel(w, np.zeros(4), layout="OIHW", use_bias=False)
    with pytest.raises(ValueError, match="kernel"):
        jnnx.Conv.from_kernel(np.zeros((3, 3)), layout="OI")


# ------------------------------------------------------------------------- ConvTranspose

T_OPTIONS = [
    {},
    {"strides": 2},
    {"strides": (2, 1), "kernel_dilation": (1, 2)},
    {"strides": (2, 3), "transpose_kernel": True},
    {"use_bias": False},
]


T_PADDINGS = ["SAME", "VALID", "CIRCULAR", 1, [(2, 1), (0, 1)]]
T_CASES = [(p, {}) for p in T_PADDINGS] + [
    (("SAME", "CIRCULAR")[i % 2], o) for i, o in enumerate(T_OPTIONS[1:])
]


@pytest.mark.parametrize(("padding", "options"), T_CASES, ids=str)
def test_conv_transpose_matches_flax(padding, options):
    kw = dict(padding=padding, precision=HIGHEST, **options)
    theirs = nnx.ConvTranspose(4, 6, (3, 2), **kw, rngs=nnx.Rngs(0))
    ours = jnnx.ConvTranspose(4, 6, (3, 2), **kw, rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(ours.kernel[...], theirs.kernel[...])
    x = _x((2, 5, 4, 4))
    np.testing.assert_allclose(_apply(ours, x), _apply(theirs, x), **F32)


def test_conv_transpose_batch_mask_dtype_and_lax():
    mask = jnp.tril(jnp.ones((3, 3, 4, 2)))
    kw = dict(strides=2, mask=mask, precision=HIGHEST)
    theirs, ours = (
        nnx.ConvTranspose(4, 2, (3, 3), **kw, rngs=nnx.Rngs(0)),
        jnnx.ConvTranspose(4, 2, (3, 3), **kw, rngs=nnx.Rngs(0)),
    )
    x = _x((2, 3, 4, 4, 4))
    np.testing.assert_allclose(_apply(ours, x), _apply(theirs, x), **F32)
    np.testing.assert_allclose(_apply(ours, x[0, 0]), _apply(theirs, x[0, 0]), **F32)
    with_lax = jnnx.ConvTranspose(
        4, 2, (3, 3), conv_transpose=lax.conv_transpose, rngs=nnx.Rngs(0), **kw
    )
    np.testing.assert_allclose(_apply(with_lax, x), _apply(theirs, x), **F32)
    bf = dict(dtype=jnp.bfloat16, param_dtype=jnp.bfloat16)
    ours, theirs = (
        jnnx.ConvTranspose(4, 2, (3, 3), **bf, rngs=nnx.Rngs(0)),
        nnx.ConvTranspose(4, 2, (3, 3), **bf, rngs=nnx.Rngs(0)),
    )
    y = _apply(ours, x)
    assert ours.kernel.dtype == jnp.bfloat16 and y.dtype == jnp.bfloat16
    np.testing.assert_allclose(y.astype(np.float32), _apply(theirs, x).astype(np.float32), **BF16)


def test_conv_transpose_from_pytorch():
    """PyTorch's ConvTranspose2d weight (in, out, kh, kw), stride 2, padding 1."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    x = rng.standard_normal((2, 4, 5, 4)).astype(np.float32)
    layer = jnnx.ConvTranspose.from_kernel(
        w,
        b,
        layout="OIHW",
        strides=2,
        padding=3 - 1 - 1,
        transpose_kernel=True,
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=HIGHEST,
    )
    assert (layer.in_features, layer.out_features) == (4, 3)
    ref = np_torch_conv_transpose(x, w, 2, 1) + b[:, None, None]
    y = _apply(layer, x)
    assert y.shape == ref.shape == (2, 3, 9, 7)
    np.testing.assert_allclose(y, ref, **F32)


# ----------------------------------------------------------------------------- ConvLocal


@pytest.mark.parametrize(
    "options",
    [
        {"padding": "SAME", "strides": 2},
        {"padding": "REFLECT", "kernel_dilation": 2, "use_bias": False},
        {"padding": [(1, 0), (2, 1)], "input_dilation": 2},
    ],
    ids=str,
)
def test_conv_local_matches_linen(options):
    x = _x((2, 6, 5, 3))
    theirs = linen.ConvLocal(4, (3, 2), precision=HIGHEST, **options)
    variables = theirs.init(jax.random.key(0), x)
    ours = jnnx.ConvLocal(
        3, 4, (3, 2), input_size=(6, 5), precision=HIGHEST, rngs=nnx.Rngs(0), **options
    )
    params = variables["params"]
    assert ours.kernel.shape == params["kernel"].shape
    ours.kernel[...] = params["kernel"]
    if "bias" in params:
        assert ours.bias.shape == params["bias"].shape
        ours.bias[...] = params["bias"] + 0.5
        params = {**params, "bias": params["bias"] + 0.5}
    np.testing.assert_allclose(_apply(ours, x), jax.jit(theirs.apply)({"params": params}, x), **F32)


def test_conv_local_unshared_by_hand_and_nchw():
    """With 1x1 windows, output position p is ``x[p] @ kernel[p]``."""
    x = _x((2, 3, 4, 2))
    layer = jnnx.ConvLocal(2, 3, (1, 1), input_size=(3, 4), padding="VALID", rngs=nnx.Rngs(0))
    k, b = layer.kernel[...], layer.bias[...]
    ref = np.einsum(
        "nhwc,hwco->nhwo", np.asarray(x, np.float64), np.asarray(k, np.float64)
    ) + np.asarray(b)
    np.testing.assert_allclose(_apply(layer, x), ref, **F32)

    nchw = jnnx.ConvLocal(
        2,
        3,
        (3, 3),
        input_size=(3, 4),
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=HIGHEST,
        rngs=nnx.Rngs(0),
    )
    nhwc = jnnx.ConvLocal(2, 3, (3, 3), input_size=(3, 4), precision=HIGHEST, rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(nchw.kernel[...], nhwc.kernel[...])
    y = _apply(nchw, jaxconv.convert_layout(x, "NHWC", "NCHW"))
    np.testing.assert_allclose(jaxconv.convert_layout(y, "NCHW", "NHWC"), _apply(nhwc, x), **F32)
    with pytest.raises(ValueError, match="kernel"):
        _apply(nhwc, _x((2, 5, 4, 2)))


# ------------------------------------------------------------- transformations, training


class _Net(nnx.Module):
    def __init__(self, conv, *, rngs):
        self.c1 = conv(3, 8, (3, 3), precision=HIGHEST, rngs=rngs)
        self.c2 = conv(8, 4, (3, 3), strides=2, padding="VALID", precision=HIGHEST, rngs=rngs)

    def __call__(self, x):
        return self.c2(jax.nn.relu(self.c1(x))).mean(axis=(1, 2))


def test_jit_and_grad_match_flax():
    x, y = _x((4, 7, 7, 3)), _x((4, 4), seed=2)
    ours, theirs = _Net(jnnx.Conv, rngs=nnx.Rngs(0)), _Net(nnx.Conv, rngs=nnx.Rngs(0))

    def loss(model, x, y):
        return jnp.mean((model(x) - y) ** 2)

    np.testing.assert_allclose(nnx.jit(loss)(ours, x, y), nnx.jit(loss)(theirs, x, y), **F32)
    g_ours = nnx.jit(nnx.grad(loss))(ours, x, y)
    g_theirs = nnx.jit(nnx.grad(loss))(theirs, x, y)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, **F32), g_ours, g_theirs)


def test_check_grads():
    layer = jnnx.Conv(
        2, 3, (2, 2), strides=(1, 2), padding="CIRCULAR", precision=HIGHEST, rngs=nnx.Rngs(0)
    )
    graphdef, state = nnx.split(layer)

    @jax.jit  # each derivative compiled once, not run op by op
    def f(state, x):
        return nnx.merge(graphdef, state)(x)

    x = _x((1, 4, 5, 2))
    check_grads(f, (state, x), order=2, modes=["fwd", "rev"], atol=1e-2, rtol=1e-2)


def test_optimizer_steps_match_flax():
    x, y = _x((8, 7, 7, 3)), _x((8, 4), seed=2)
    models = [_Net(conv, rngs=nnx.Rngs(0)) for conv in (jnnx.Conv, nnx.Conv)]
    optimizers = [nnx.Optimizer(m, optax.adam(1e-2), wrt=nnx.Param) for m in models]

    @nnx.jit
    def step(model, optimizer, x, y):
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
        optimizer.update(model, grads)
        return loss

    losses = [
        [float(step(m, o, x, y)) for _ in range(5)] for m, o in zip(models, optimizers, strict=True)
    ]
    assert losses[0][-1] < losses[0][0]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4, atol=1e-5)
    params = [nnx.state(m, nnx.Param) for m in models]
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), *params)


# ------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"padding": "FULL"}, ValueError, "padding"),
        ({"padding": [(1, 2, 3), 1]}, ValueError, "padding"),
        ({"padding": "CAUSAL"}, ValueError, "CAUSAL"),
        ({"padding": "REFLECT", "padding_mode": "circular"}, ValueError, "padding_mode"),
        ({"padding_mode": "mirror"}, ValueError, "padding_mode"),
        ({"feature_group_count": 3}, ValueError, "out_features"),
        ({"feature_group_count": 4}, ValueError, "in_features"),
        ({"kernel_size": "3"}, TypeError, "kernel_size"),
        ({"kernel_size": (3, 0)}, ValueError, "kernel_size"),
        ({"strides": (1, 2, 3)}, ValueError, "strides"),
        ({"strides": 0}, ValueError, "strides"),
        ({"kernel_dilation": 1.5}, TypeError, "kernel_dilation"),
        ({"dimension_numbers": ("NCHW", "OIHW")}, TypeError, "dimension_numbers"),
        ({"dimension_numbers": ("NCHW", "OIHW", "NCHWX")}, TypeError, "dimension_numbers"),
        ({"conv_general_dilated": "lax"}, TypeError, "conv_general_dilated"),
        ({"in_features": 0}, ValueError, "in_features"),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else None,
)
def test_bad_arguments(kwargs, error, name):
    args = {"in_features": 6, "out_features": 4, "kernel_size": (3, 3), **kwargs}
    with pytest.raises(error, match=name):
        jnnx.Conv(**args, rngs=nnx.Rngs(0))


def test_bad_inputs():
    layer = jnnx.Conv(3, 4, (3, 3), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="features"):
        _apply(layer, jnp.ones((1, 5, 5, 2)))
    with pytest.raises(ValueError, match="rank"):
        _apply(layer, jnp.ones((5, 3)))
    with pytest.raises(ValueError, match="padding"):
        jnnx.ConvTranspose(3, 4, (3, 3), padding="REFLECT", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="input_size"):
        jnnx.ConvLocal(3, 4, (3, 3), input_size=(2, 2), padding="VALID", rngs=nnx.Rngs(0))


# -------------------------------------------------------------------- packaging, docs


def test_core_does_not_import_flax_and_missing_flax_is_explained():
    code = (
        "import sys\n"
        "import jaxconv\n"
        "assert 'flax' not in sys.modules, 'import jaxconv imported flax'\n"
        "sys.modules['flax'] = None\n"
        "try:\n"
        "    import jaxconv.nnx\n"
        "except ImportError as e:\n"
        "    assert \"pip install 'jaxconv[flax]'\" in str(e), e\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
        "try:\n"
        "    import jaxconv.linen\n"
        "except ImportError as e:\n"
        "    assert \"pip install 'jaxconv[flax]'\" in str(e), e\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_docstring_examples():
    result = doctest.testmod(jnnx, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted >= 5
    assert result.failed == 0
