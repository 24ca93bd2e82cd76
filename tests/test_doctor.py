"""The layout doctor: each common wrong layout gives the right suggestion, and the fix it
suggests computes what lax computes with the right layouts. Eager and under jit."""

from __future__ import annotations

import re
import warnings

import jax
import numpy as np
import pytest
from conftest import HIGHEST, assert_close, random_array
from jax import lax

import jaxconv

NHWC = ("NHWC", "HWIO", "NHWC")


def _lax(x, w, dn, **kw):
    return lax.conv_general_dilated(
        x, w, (1, 1), "VALID", dimension_numbers=dn, precision=HIGHEST, **kw
    )


# (name, x shape, w shape, the layouts the arrays really have, what the message must say)
MISTAKES = [
    (
        # The example: HWIO reads the PyTorch kernel as a 16 x 3 window; the output
        # would be empty, not an error, without the doctor.
        "pytorch_kernel_nhwc_input",
        (1, 8, 8, 3),
        (16, 3, 3, 3),
        ("NHWC", "OIHW", "NHWC"),
        [
            "the output would be empty, shape (1, 0, 6, 3)",
            "dimension_numbers=('NHWC', 'OIHW', 'NHWC')",
            "w = jaxconv.convert_kernel(w, 'OIHW', 'HWIO')",
            "w = jaxconv.convert_kernel(w, 'OIHW', 'HWIO', flip=True)",  # Theano's kernels
        ],
    ),
    (
        "nchw_input_hwio_kernel",
        (2, 3, 12, 12),
        (3, 3, 3, 16),
        ("NCHW", "HWIO", "NCHW"),
        [
            "the input features of `x` (=12, shape (2, 3, 12, 12)) must equal the kernel's "
            "input features (=3",
            "dimension_numbers=('NCHW', 'HWIO', 'NCHW')",
            "x = jaxconv.convert_layout(x, 'NCHW', 'NHWC')",
        ],
    ),
    (
        "pytorch_arrays",
        (2, 4, 9, 9),
        (16, 4, 3, 3),
        ("NCHW", "OIHW", "NCHW"),
        [
            "dimension_numbers=('NCHW', 'OIHW', 'NCHW')",
            "x = jaxconv.convert_layout(x, 'NCHW', 'NHWC'); "
            "w = jaxconv.convert_kernel(w, 'OIHW', 'HWIO')",
        ],
    ),
    (
        "pytorch_conv_transpose_weight",
        (1, 8, 8, 16),
        (16, 4, 3, 3),
        ("NHWC", "IOHW", "NHWC"),
        ["dimension_numbers=('NHWC', 'IOHW', 'NHWC')", "PyTorch ConvTranspose2d.weight"],
    ),
    (
        "theano_kernel_nchw",
        (1, 1, 10, 10),
        (32, 1, 3, 3),
        ("NCHW", "OIHW", "NCHW"),
        [
            "dimension_numbers=('NCHW', 'OIHW', 'NCHW')",
            "Theano, Keras 1",
            "w = jaxconv.convert_kernel(w, 'OIHW', 'HWIO', flip=True)",
        ],
    ),
]


@pytest.mark.parametrize("under_jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize(
    "name, x_shape, w_shape, truth, says", MISTAKES, ids=[m[0] for m in MISTAKES]
)
def test_wrong_layout_gets_the_right_suggestion(name, x_shape, w_shape, truth, says, under_jit):
    rng = np.random.default_rng(0)
    x, w = random_array(rng, x_shape), random_array(rng, w_shape)
    conv2d = jax.jit(jaxconv.conv2d) if under_jit else jaxconv.conv2d
    with pytest.raises(ValueError) as info:
        conv2d(x, w)
    message = str(info.value)
    assert "Layouts assumed: `x` 'NHWC', `w` 'HWIO', output 'NHWC'." in message
    for text in says:
        assert text in message, f"{text!r} not in:\n{message}"
    assert "divided by" not in message  # groups is 1
    # The first reading offered is the truth, and its fix computes lax's answer.
    first = message.split("Readings of these shapes that fit:\n  - ")[1]
    assert first.startswith(f"x {truth[0]}, w {truth[1]} (")
    fixed = jaxconv.conv2d(x, w, dimension_numbers=truth, precision=HIGHEST)
    assert_close(fixed, _lax(x, w, truth))
    # guess_layouts says the same, first.
    guess = jaxconv.guess_layouts(x_shape, w_shape)[0]
    assert guess.dimension_numbers == truth and not guess.flip
    assert guess.out_shape == fixed.shape


def test_the_conversion_fixes_agree_with_lax():
    """The other half of each fix: convert the arrays to the assumed layouts."""
    rng = np.random.default_rng(1)
    x, w = random_array(rng, (2, 4, 9, 9)), random_array(rng, (16, 4, 3, 3))  # PyTorch's
    (guess,) = [g for g in jaxconv.guess_layouts(x, w) if g.dimension_numbers[0] == "NCHW"][:1]
    conversion = guess.fix.split(", or ")[1]
    namespace = {"jaxconv": jaxconv, "x": x, "w": w}
    exec(conversion, namespace)
    got = jaxconv.conv2d(namespace["x"], namespace["w"], precision=HIGHEST)
    want = _lax(x, w, ("NCHW", "OIHW", "NHWC"))
    assert_close(got, want)


def test_theano_fix_flips_the_kernel():
    """Theano's kernel is a true convolution's: the suggested convert_kernel(..., flip=True)
    gives the true convolution computed by hand."""
    rng = np.random.default_rng(2)
    image = random_array(rng, (1, 1, 5, 5))
    kernel = random_array(rng, (2, 1, 3, 3))  # Theano: (out, in, kh, kw)
    (flipped,) = [g for g in jaxconv.guess_layouts(image, kernel) if g.flip]
    assert flipped.fix == (
        "x = jaxconv.convert_layout(x, 'NCHW', 'NHWC'); "
        "w = jaxconv.convert_kernel(w, 'OIHW', 'HWIO', flip=True)"
    )
    namespace = {"jaxconv": jaxconv, "x": image, "w": kernel}
    exec(flipped.fix, namespace)
    got = jaxconv.conv2d(namespace["x"], namespace["w"], precision=HIGHEST)
    # A true convolution, by its definition: out[i, j] = sum x[i + a, j + b] * k[2 - a, 2 - b].
    want = np.zeros((3, 3, 2))
    for o in range(2):
        for i in range(3):
            for j in range(3):
                patch = image[0, 0, i : i + 3, j : j + 3].astype(np.float64)
                want[i, j, o] = np.sum(patch * kernel[o, 0, ::-1, ::-1])
    assert_close(got[0], want.astype(np.float32))


def test_conv_general_dilated_warns_and_keeps_lax_behaviour():
    rng = np.random.default_rng(3)
    x, w = random_array(rng, (1, 8, 8, 3)), random_array(rng, (16, 3, 3, 3))
    for fn in (
        jaxconv.conv_general_dilated,
        jax.jit(jaxconv.conv_general_dilated, static_argnums=(2, 3, 6)),
    ):
        with pytest.warns(
            UserWarning, match=re.escape("dimension_numbers=('NHWC', 'OIHW', 'NHWC')")
        ):
            got = fn(x, w, (1, 1), "VALID", None, None, NHWC)
        want = _lax(x, w, NHWC)
        assert got.shape == want.shape == (1, 0, 6, 3)
    # No warning where the window fits.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jaxconv.conv_general_dilated(
            x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "OIHW", "NHWC")
        )


def test_empty_batch_stays_legal_and_padding_counts():
    rng = np.random.default_rng(4)
    w = random_array(rng, (3, 3, 3, 4))
    assert jaxconv.conv2d(random_array(rng, (0, 8, 8, 3)), w).shape == (0, 6, 6, 4)
    small = random_array(rng, (1, 2, 2, 3))
    with pytest.raises(ValueError, match=r"spans 3 along 'H', more than the 2 of the padded"):
        jaxconv.conv2d(small, w)
    # Padded enough, the same window fits.
    assert jaxconv.conv2d(small, w, padding=1).shape == (1, 2, 2, 4)


def test_groups_message_and_hint():
    rng = np.random.default_rng(5)
    x, w = random_array(rng, (1, 6, 6, 8)), random_array(rng, (3, 3, 1, 8))  # depthwise kernel
    with pytest.raises(ValueError) as info:
        jaxconv.conv(x, w)
    assert "must equal the kernel's input features (=1" in str(info.value)
    assert "divided by" not in str(info.value)
    assert "With the assumed layouts the shapes fit `groups=8` (depthwise)." in str(info.value)
    with pytest.raises(ValueError, match=r"divided by `groups` \(=2\)"):
        jaxconv.conv(x, w[:, :, :, :4].repeat(3, axis=2), groups=2)


def test_guess_layouts_lists_the_assumed_reading_first():
    guesses = jaxconv.guess_layouts((2, 16, 16, 3), (3, 3, 3, 8))
    assert guesses[0].dimension_numbers == NHWC
    assert guesses[0].fix == "nothing to change"
    assert guesses[0].out_shape == (2, 14, 14, 8)
    # With a stride and padding the output shape follows them.
    (g,) = jaxconv.guess_layouts((1, 3, 10, 10), (6, 3, 3, 3), strides=2, padding="SAME")[:1]
    assert g.dimension_numbers == ("NCHW", "OIHW", "NCHW") and g.out_shape == (1, 6, 5, 5)
    with pytest.raises(ValueError, match="same rank"):
        jaxconv.guess_layouts((1, 8, 8, 3), (3, 3, 3))


def test_conv1d_and_conv3d_match_lax():
    rng = np.random.default_rng(6)
    x, w = random_array(rng, (2, 11, 3)), random_array(rng, (4, 3, 5))
    want = lax.conv_general_dilated(
        x, w, (2,), ((1, 2),), dimension_numbers=("NWC", "WIO", "NWC"), precision=HIGHEST
    )
    assert_close(jaxconv.conv1d(x, w, 2, ((1, 2),), precision=HIGHEST), want)
    x, w = random_array(rng, (1, 3, 5, 6, 2)), random_array(rng, (4, 3, 2, 3, 2))
    dn = ("NCDHW", "OIDHW", "NCDHW")
    want = lax.conv_general_dilated(
        x, w, (1, 2, 1), "SAME", dimension_numbers=dn, precision=HIGHEST
    )
    got = jaxconv.conv3d(x, w, (1, 2, 1), "SAME", dimension_numbers=dn, precision=HIGHEST)
    assert_close(got, want)
    with pytest.raises(ValueError, match=r"conv1d needs a rank-3 `x`"):
        jaxconv.conv1d(x, w)
    with pytest.raises(ValueError, match=r"conv3d needs a rank-5 `x`"):
        jaxconv.conv3d(x[0], w[0])


@pytest.mark.parametrize("under_jit", [False, True], ids=["eager", "jit"])
def test_flax_modules_suggest_the_input_layout(under_jit):
    from flax import nnx

    import jaxconv.linen
    import jaxconv.nnx

    rng = np.random.default_rng(7)
    x = random_array(rng, (2, 3, 9, 9))  # NCHW, given to a channels-last layer
    layer = jaxconv.nnx.Conv(3, 4, (3, 3), padding="VALID", rngs=nnx.Rngs(0))
    call = nnx.jit(lambda m, a: m(a)) if under_jit else (lambda m, a: m(a))
    with pytest.raises(ValueError) as info:
        call(layer, x)
    message = str(info.value)
    assert "has 9 features on its 'C' axis, but the kernel expects 3" in message
    assert "dimension_numbers=('NCHW', 'HWIO', 'NCHW') in the module's constructor" in message
    assert "x = jaxconv.convert_layout(x, 'NCHW', 'NHWC')" in message
    # The suggested constructor computes lax's answer with the same kernel.
    fixed = jaxconv.nnx.Conv(
        3, 4, (3, 3), padding="VALID", dimension_numbers=("NCHW", "HWIO", "NCHW"), use_bias=False,
        rngs=nnx.Rngs(0),
    )  # fmt: skip
    kernel = np.asarray(fixed.kernel[...])
    assert_close(fixed(x), _lax(x, kernel, ("NCHW", "HWIO", "NCHW")))

    # Linen says the same; and a window larger than the input is an error there too.
    lin = jaxconv.linen.Conv(features=4, kernel_size=(3, 3), padding="VALID")
    variables = lin.init(jax.random.key(0), random_array(rng, (1, 9, 9, 3)))
    with pytest.raises(ValueError, match=re.escape("dimension_numbers=('NCHW', 'HWIO', 'NCHW')")):
        lin.apply(variables, x)
    with pytest.raises(ValueError, match=r"less than the module's window of 3 there"):
        call(layer, random_array(rng, (2, 9, 2, 3)))
    assert call(layer, random_array(rng, (0, 9, 9, 3))).shape == (0, 7, 7, 4)  # empty batch
