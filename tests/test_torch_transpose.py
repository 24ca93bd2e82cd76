"""PyTorch's transposed convolutions, one convention everywhere: the functional
``conv_transpose``, ``jaxconv.nnx.ConvTranspose`` (and ``from_kernel(layout="pytorch")``) and
``jaxconv.linen.ConvTranspose`` take PyTorch's ``padding`` and ``output_padding`` and give
PyTorch's numbers, checked against numpy written from PyTorch's documented definition."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest
from conftest import HIGHEST, assert_close, random_array

import jaxconv

NCHW = ("NCHW", "OIHW", "NCHW")


def torch_conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, dilation=1):
    """``torch.nn.functional.conv_transpose2d`` by its definition (groups = 1), float64:
    every input value ``x[n, c, i, j]`` adds ``x * w[c, o, a, b]`` at output position
    ``(i * stride - padding + a * dilation, j * stride - padding + b * dilation)``; the output
    is ``(in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1`` long."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    n, c, h, wd = x.shape
    _, o, kh, kw = w.shape
    oh = (h - 1) * stride - 2 * padding + dilation * (kh - 1) + output_padding + 1
    ow = (wd - 1) * stride - 2 * padding + dilation * (kw - 1) + output_padding + 1
    out = np.zeros((n, o, oh, ow))
    for i, j, a, bb in itertools.product(range(h), range(wd), range(kh), range(kw)):
        y = i * stride - padding + a * dilation
        z = j * stride - padding + bb * dilation
        if 0 <= y < oh and 0 <= z < ow:
            out[:, :, y, z] += x[:, :, i, j] @ w[:, :, a, bb]
    if b is not None:
        out += np.asarray(b, np.float64)[None, :, None, None]
    return out


def test_hand_worked_1d():
    """x = [1, 2], w = [1, 1, 1], stride 2, padding 1, output_padding 1: input 0 lands on
    -1, 0, 1 (the -1 cropped), input 1 on 1, 2, 3; the output has (2-1)*2 - 2 + 3 + 1 = 4."""
    x = np.array([[[1.0, 2.0]]], np.float32)  # (N, C, W)
    w = np.ones((1, 1, 3), np.float32)  # ConvTranspose1d(1, 1, 3).weight: (in, out, k)
    y = jaxconv.conv_transpose(
        x, w, (2,), ((1, 1),), dimension_numbers=("NCW", "OIW", "NCW"), transpose_kernel=True,
        use_consistent_padding=True, output_padding=1,
    )  # fmt: skip
    np.testing.assert_array_equal(np.asarray(y)[0, 0], [1.0, 3.0, 2.0, 2.0])


CASES = [  # (kernel, stride, padding, output_padding, dilation)
    (4, 2, 1, 1, 1),  # the ConvTranspose2d(8, 4, 4, stride=2, padding=1, output_padding=1)
    (4, 2, 1, 0, 1),
    (3, 2, 1, 1, 1),  # FCN/SegNet's decoder
    (3, 1, 0, 0, 1),
    (3, 3, 2, 2, 1),
    (5, 2, 2, 1, 1),
    (3, 2, 2, 1, 2),
    (2, 2, 0, 0, 1),
]


@pytest.mark.parametrize("k, s, p, op, d", CASES, ids=str)
def test_functional_matches_pytorch_definition(k, s, p, op, d):
    rng = np.random.default_rng(k * 100 + s * 10 + p)
    x, w = random_array(rng, (2, 8, 5, 6)), random_array(rng, (8, 4, k, k))
    want = torch_conv_transpose2d(x, w, stride=s, padding=p, output_padding=op, dilation=d)
    got = jaxconv.conv_transpose(
        x, w, (s, s), ((p, p), (p, p)), rhs_dilation=(d, d), dimension_numbers=NCHW,
        transpose_kernel=True, use_consistent_padding=True, output_padding=op, precision=HIGHEST,
    )  # fmt: skip
    assert_close(got, want.astype(np.float32))


@pytest.mark.parametrize("k, s, p, op, d", CASES, ids=str)
def test_nnx_from_pytorch_weights(k, s, p, op, d):
    import jaxconv.nnx

    rng = np.random.default_rng(k * 7 + s + p)
    x, w, b = random_array(rng, (2, 8, 5, 6)), random_array(rng, (8, 4, k, k)), rng.random(4)
    b = b.astype(np.float32)
    want = torch_conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op, dilation=d)
    # PyTorch's constructor arguments carry over unchanged with layout="pytorch".
    layer = jaxconv.nnx.ConvTranspose.from_kernel(
        w, b, layout="pytorch", strides=s, padding=p, output_padding=op, kernel_dilation=d,
        dimension_numbers=NCHW, precision=HIGHEST,
    )  # fmt: skip
    assert (layer.in_features, layer.out_features) == (8, 4)
    assert_close(layer(x), want.astype(np.float32))
    # The default channels-last module holds the same weights, moved to HWIO.
    last = jaxconv.nnx.ConvTranspose.from_kernel(
        w, b, layout="pytorch", strides=s, padding=p, output_padding=op, kernel_dilation=d,
        precision=HIGHEST,
    )  # fmt: skip
    y = last(jaxconv.convert_layout(x, "NCHW", "NHWC"))
    assert_close(jaxconv.convert_layout(y, "NHWC", "NCHW"), want.astype(np.float32))


@pytest.mark.parametrize("k, s, p, op, d", CASES[:4], ids=str)
def test_linen_with_pytorch_padding(k, s, p, op, d):
    import jaxconv.linen

    rng = np.random.default_rng(k + s + p + 3)
    x, w, b = random_array(rng, (1, 8, 5, 5)), random_array(rng, (8, 4, k, k)), rng.random(4)
    b = b.astype(np.float32)
    want = torch_conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op, dilation=d)
    layer = jaxconv.linen.ConvTranspose(
        features=4, kernel_size=(k, k), strides=(s, s), padding=p, output_padding=op,
        kernel_dilation=d, use_consistent_padding=True, transpose_kernel=True,
        dimension_numbers=NCHW, precision=HIGHEST,
    )  # fmt: skip
    variables = jaxconv.linen.load_kernel(
        w, b, layout="pytorch", transpose_kernel=True, dimension_numbers=NCHW
    )
    assert_close(layer.apply(variables, x), want.astype(np.float32))
    # Flax's parameter tree: the same shapes as init would make.
    init = layer.init(jax.random.key(0), x)
    assert jax.tree_util.tree_map(np.shape, init) == jax.tree_util.tree_map(np.shape, variables)


def test_lax_convention_is_unchanged_without_the_flag():
    """Without use_consistent_padding an int is the padding of the dilated input (lax's and
    Flax's convention): k - 1 - p gives PyTorch's padding p."""
    import jaxconv.nnx

    rng = np.random.default_rng(9)
    x, w = random_array(rng, (1, 8, 6, 6)), random_array(rng, (8, 4, 3, 3))
    want = torch_conv_transpose2d(x, w, stride=2, padding=1)
    layer = jaxconv.nnx.ConvTranspose.from_kernel(
        w, layout="OIHW", transpose_kernel=True, strides=2, padding=3 - 1 - 1,
        dimension_numbers=NCHW, precision=HIGHEST,
    )  # fmt: skip
    assert_close(layer(x), want.astype(np.float32))


def test_missing_flags_are_named():
    import jaxconv.linen
    import jaxconv.nnx

    w, b = np.ones((8, 4, 4, 4), np.float32), np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"Pass `transpose_kernel=True`"):
        jaxconv.nnx.ConvTranspose.from_kernel(w, b, layout="OIHW", strides=2)
    with pytest.raises(ValueError, match=r"Pass `transpose_kernel=True`"):
        jaxconv.linen.load_kernel(w, b, layout="pytorch")
    with pytest.raises(ValueError, match=r"needs `transpose_kernel=True`"):
        jaxconv.nnx.ConvTranspose.from_kernel(w, b, layout="pytorch", transpose_kernel=False)
    # Read without transpose_kernel, the input's 8 features match the kernel's O axis.
    layer = jaxconv.nnx.ConvTranspose.from_kernel(w, layout="OIHW", strides=2)
    with pytest.raises(ValueError, match=r"pass `transpose_kernel=True`\? PyTorch's"):
        layer(np.ones((1, 5, 5, 8), np.float32))
    x = np.ones((1, 4, 4, 8), np.float32)
    with pytest.raises(ValueError, match=r"`output_padding` needs explicit padding"):
        jaxconv.conv_transpose(x, w.transpose(2, 3, 0, 1), (2, 2), "SAME", output_padding=1)
    with pytest.raises(ValueError, match=r"smaller than the stride or the dilation"):
        jaxconv.nnx.ConvTranspose.from_kernel(w, layout="pytorch", strides=2, padding=1,
                                              output_padding=2)  # fmt: skip
    with pytest.raises(ValueError, match=r"`output_padding` needs explicit padding"):
        jaxconv.linen.ConvTranspose(4, (3, 3), output_padding=1).init(jax.random.key(0), x)
