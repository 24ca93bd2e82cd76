"""jaxconv.linen against flax.linen: same parameter trees, same outputs, numpy references."""

from __future__ import annotations

import doctest

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import HIGHEST, tolerance
from jax import lax

import jaxconv
import jaxconv.linen as jlinen

F32 = tolerance(np.float32)
BF16 = tolerance(jnp.bfloat16)


def _x(shape, seed=1):
    return jax.random.normal(jax.random.key(seed), shape, jnp.float32)


def _same_tree_and_output(ours, theirs, x):
    """Both modules initialise the same tree from the same key and agree on Flax's params."""
    variables = jax.jit(theirs.init)(jax.random.key(0), x)
    mine = jax.jit(ours.init)(jax.random.key(0), x)
    assert jax.tree.structure(mine) == jax.tree.structure(variables)
    jax.tree.map(np.testing.assert_array_equal, mine, variables)
    y = jax.jit(ours.apply)(variables, x)
    np.testing.assert_allclose(y, jax.jit(theirs.apply)(variables, x), **F32)
    return variables, y


def np_conv_nhwc(x, w, pads=((0, 0), (0, 0))):
    """Direct 2-d cross-correlation, ``x (N, H, W, C)``, ``w (kh, kw, C, O)``, stride 1."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), *pads, (0, 0)))
    w = np.asarray(w, np.float64)
    kh, kw = w.shape[:2]
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    out = np.zeros((x.shape[0], oh, ow, w.shape[-1]))
    for p in range(oh):
        for q in range(ow):
            out[:, p, q] = np.tensordot(x[:, p : p + kh, q : q + kw], w, axes=3)
    return out


CONV_CASES = [
    {"padding": "SAME", "strides": 2},
    {"padding": "CIRCULAR", "kernel_dilation": 2},
    {"padding": 1, "feature_group_count": 2, "use_bias": False},
    {"padding": [(1, 0), (2, 1)], "input_dilation": (2, 1)},
]


@pytest.mark.parametrize("options", CONV_CASES, ids=str)
def test_conv_matches_flax(options):
    kw = dict(features=6, kernel_size=(3, 2), precision=HIGHEST, **options)
    _same_tree_and_output(jlinen.Conv(**kw), nn.Conv(**kw), _x((2, 7, 6, 4)))


@pytest.mark.parametrize("padding", ["CAUSAL", 2])
def test_conv_1d(padding):
    kw = dict(features=3, kernel_size=3, padding=padding, precision=HIGHEST)
    _same_tree_and_output(jlinen.Conv(**kw), nn.Conv(**kw), _x((2, 9, 2)))


def test_batch_dims_unbatched_and_mask():
    mask = jnp.tril(jnp.ones((3, 3, 4, 3)))
    kw = dict(features=3, kernel_size=(3, 3), mask=mask, precision=HIGHEST)
    _same_tree_and_output(jlinen.Conv(**kw), nn.Conv(**kw), _x((2, 3, 5, 5, 4)))
    _same_tree_and_output(jlinen.Conv(**kw), nn.Conv(**kw), _x((5, 5, 4)))
    bad = jlinen.Conv(features=3, kernel_size=(3, 3), mask=jnp.ones((3, 3, 3)))
    with pytest.raises(ValueError, match="mask"):
        bad.init(jax.random.key(0), _x((1, 5, 5, 4)))


def test_dtypes():
    x = _x((2, 5, 5, 3))
    kw = dict(features=4, kernel_size=(3, 3), param_dtype=jnp.bfloat16, dtype=jnp.bfloat16)
    ours, theirs = jlinen.Conv(**kw), nn.Conv(**kw)
    variables = theirs.init(jax.random.key(0), x)
    assert all(v.dtype == jnp.bfloat16 for v in jax.tree.leaves(variables))
    y = jax.jit(ours.apply)(variables, x)
    assert y.dtype == jnp.bfloat16
    np.testing.assert_allclose(
        y.astype(np.float32),
        jax.jit(theirs.apply)(variables, x).astype(np.float32),
        **BF16,
    )


def test_lax_injection_and_padding_mode():
    x = _x((2, 6, 5, 3))
    kw = dict(features=4, kernel_size=(3, 3), padding=(2, 1), precision=HIGHEST)
    ours = jlinen.Conv(padding_mode="replicate", **kw)
    variables = ours.init(jax.random.key(0), x)
    w, b = variables["params"]["kernel"], variables["params"]["bias"]
    xp = np.pad(np.asarray(x), ((0, 0), (2, 2), (1, 1), (0, 0)), mode="edge")
    ref = np_conv_nhwc(xp, w) + np.asarray(b)
    np.testing.assert_allclose(jax.jit(ours.apply)(variables, x), ref, **F32)
    with_lax = jlinen.Conv(
        padding_mode="replicate", conv_general_dilated=lax.conv_general_dilated, **kw
    )
    np.testing.assert_allclose(jax.jit(with_lax.apply)(variables, x), ref, **F32)


def test_nchw_module_with_loaded_weights():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 3, 3, 3)).astype(np.float32)  # PyTorch OIHW
    b = rng.standard_normal(5).astype(np.float32)
    x = rng.standard_normal((2, 6, 6, 3)).astype(np.float32)
    ref = np_conv_nhwc(x, w.transpose(2, 3, 1, 0), ((1, 1), (1, 1))) + b
    nhwc = jlinen.Conv(features=5, kernel_size=(3, 3), padding=1, precision=HIGHEST)
    y = jax.jit(nhwc.apply)(jlinen.load_kernel(w, b, layout="pytorch"), x)
    np.testing.assert_allclose(y, ref, **F32)
    dn = ("NCHW", "OIHW", "NCHW")
    nchw = jlinen.Conv(
        features=5, kernel_size=(3, 3), padding=1, dimension_numbers=dn, precision=HIGHEST
    )
    variables = jlinen.load_kernel(w, b, layout="OIHW", dimension_numbers=dn)
    np.testing.assert_array_equal(variables["params"]["kernel"], w)
    assert jax.tree.map(jnp.shape, nchw.init(jax.random.key(0), x.transpose(0, 3, 1, 2))) == {
        "params": {"kernel": (5, 3, 3, 3), "bias": (5,)}
    }
    y = jax.jit(nchw.apply)(variables, x.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(y, ref.transpose(0, 3, 1, 2), **F32)


@pytest.mark.parametrize(
    ("layout", "flip", "to_hwio"),
    [
        ("HWIO", None, lambda w: w),  # TensorFlow, Keras 3
        ("keras", None, lambda w: w),
        ("OIHW", True, lambda w: w.transpose(2, 3, 1, 0)[::-1, ::-1]),  # Keras 1 on Theano
        ("theano", None, lambda w: w.transpose(2, 3, 1, 0)[::-1, ::-1]),
    ],
)
def test_load_kernel_foreign_layouts(layout, flip, to_hwio):
    rng = np.random.default_rng(1)
    shape = (3, 2, 4, 5) if layout in ("HWIO", "keras") else (5, 4, 3, 2)
    w = rng.standard_normal(shape).astype(np.float32)
    x = rng.standard_normal((2, 6, 5, 4)).astype(np.float32)
    variables = jlinen.load_kernel(w, layout=layout, flip=flip)
    layer = jlinen.Conv(
        features=5, kernel_size=(3, 2), padding="VALID", use_bias=False, precision=HIGHEST
    )
    np.testing.assert_allclose(
        jax.jit(layer.apply)(variables, x), np_conv_nhwc(x, to_hwio(w)), **F32
    )


def test_load_kernel_errors():
    with pytest.raises(TypeError, match="layout"):
        jlinen.load_kernel(np.zeros((4, 3, 3, 3)), layout="NCHW")
    with pytest.raises(ValueError, match="bias"):
        jlinen.load_kernel(np.zeros((4, 3, 3, 3)), np.zeros(3), layout="OIHW")


@pytest.mark.parametrize(
    "options",
    [
        {"padding": "VALID", "strides": (1, 2), "kernel_dilation": (2, 1)},
        {"padding": "CIRCULAR", "strides": (2, 3), "transpose_kernel": True},
    ],
    ids=str,
)
def test_conv_transpose_matches_flax(options):
    kw = dict(features=3, kernel_size=(3, 2), precision=HIGHEST, **options)
    _same_tree_and_output(jlinen.ConvTranspose(**kw), nn.ConvTranspose(**kw), _x((2, 5, 4, 4)))


def test_conv_transpose_pytorch_weights_and_lax():
    """PyTorch's ConvTranspose2d(4, 3, 3, stride=2, padding=1) weight ``(in, out, kh, kw)``."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    x = rng.standard_normal((2, 5, 4, 4)).astype(np.float32)  # NHWC
    full = np.zeros((2, 11, 9, 3))
    for i in range(5):
        for j in range(4):
            full[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3] += np.einsum(
                "nc,cokl->nklo", x[:, i, j], w
            )
    ref = full[:, 1:-1, 1:-1]
    variables = jlinen.load_kernel(w, layout="OIHW", transpose_kernel=True)
    for fn in (None, lax.conv_transpose):
        layer = jlinen.ConvTranspose(
            features=3,
            kernel_size=(3, 3),
            strides=(2, 2),
            padding=1,
            transpose_kernel=True,
            use_bias=False,
            precision=HIGHEST,
            conv_transpose=fn,
        )
        np.testing.assert_allclose(jax.jit(layer.apply)(variables, x), ref, **F32)


@pytest.mark.parametrize(
    "options",
    [
        {"padding": "VALID", "strides": 2, "kernel_dilation": (1, 2)},
        {"padding": [(1, 0), (2, 1)], "input_dilation": 2, "use_bias": False},
    ],
    ids=str,
)
def test_conv_local_matches_flax(options):
    kw = dict(features=4, kernel_size=(3, 2), precision=HIGHEST, **options)
    _same_tree_and_output(jlinen.ConvLocal(**kw), nn.ConvLocal(**kw), _x((2, 6, 5, 3)))


def test_conv_local_padding_mode_and_groups_error():
    x = _x((1, 5, 5, 2))
    a = jlinen.ConvLocal(features=3, kernel_size=(3, 3), padding="SAME", padding_mode="circular")
    b = jlinen.ConvLocal(features=3, kernel_size=(3, 3), padding="CIRCULAR")
    variables = b.init(jax.random.key(0), x)
    np.testing.assert_allclose(
        jax.jit(a.apply)(variables, x), jax.jit(b.apply)(variables, x), **F32
    )
    with pytest.raises(ValueError, match="feature_group_count"):
        jlinen.ConvLocal(features=4, kernel_size=(3, 3), feature_group_count=2).init(
            jax.random.key(0), _x((1, 5, 5, 2))
        )


def test_grad_and_optax_steps_match_flax():
    x, y = _x((4, 6, 6, 3)), _x((4, 6, 6, 2), seed=2)
    kw = dict(features=2, kernel_size=(3, 3), strides=1, padding="REFLECT", precision=HIGHEST)
    ours, theirs = jlinen.Conv(**kw), nn.Conv(**kw)
    params = theirs.init(jax.random.key(0), x)["params"]
    tx = optax.sgd(0.1)

    def make_step(module):
        def loss(p):
            return jnp.mean((module.apply({"params": p}, x) - y) ** 2)

        @jax.jit
        def step(p, s):
            value, grads = jax.value_and_grad(loss)(p)
            updates, s = tx.update(grads, s)
            return optax.apply_updates(p, updates), s, value, grads

        return step

    results = []
    for module in (ours, theirs):
        p, s, step = params, tx.init(params), make_step(module)
        losses = []
        for _ in range(3):
            p, s, value, grads = step(p, s)
            losses.append(float(value))
        results.append((p, losses, grads))
    assert results[0][1][-1] < results[0][1][0]
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5)
    for a, b in ((results[0][0], results[1][0]), (results[0][2], results[1][2])):
        jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, **F32), a, b)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"padding": "FULL"}, ValueError, "padding"),
        ({"padding_mode": "mirror"}, ValueError, "padding_mode"),
        ({"feature_group_count": 3}, ValueError, "feature_group_count"),
        ({"kernel_size": "3"}, TypeError, "kernel_size"),
        ({"strides": (1, 2, 3)}, ValueError, "strides"),
        ({"dimension_numbers": ("NHWC", "HWIO")}, TypeError, "dimension_numbers"),
        ({"features": 0}, ValueError, "features"),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else None,
)
def test_bad_arguments(kwargs, error, name):
    layer = jlinen.Conv(**{"features": 4, "kernel_size": (3, 3), **kwargs})
    with pytest.raises(error, match=name):
        layer.init(jax.random.key(0), jnp.ones((1, 5, 5, 4)))


def test_flax_linen_conv_with_jaxconv_function():
    """Flax's (deprecated) ``conv_general_dilated`` field accepts jaxconv's function."""
    kw = dict(features=3, kernel_size=(3, 3), strides=2, precision=HIGHEST)
    x = _x((2, 7, 7, 2))
    default = nn.Conv(**kw)
    swapped = nn.Conv(conv_general_dilated=jaxconv.conv_general_dilated, **kw)
    variables = default.init(jax.random.key(0), x)
    np.testing.assert_allclose(
        jax.jit(swapped.apply)(variables, x), jax.jit(default.apply)(variables, x), **F32
    )


def test_docstring_examples():
    result = doctest.testmod(jlinen, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted >= 4
    assert result.failed == 0
