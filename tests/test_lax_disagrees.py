"""Where lax itself is wrong: XLA:CPU's float32 convolution reads out of bounds when a padding
pair has a negative low side and a positive high side (openxla/xla#48713). jaxconv is checked
here against float64 references (numpy by the definition, or lax in float64), and the bench's
and ``explain``'s cross-checks against lax say that lax disagrees rather than fail jaxconv."""

from __future__ import annotations

import contextlib
import io
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import HIGHEST, assert_close, numpy_conv_nhwc, random_array
from jax import lax

import jaxconv
from jaxconv.__main__ import main
from jaxconv._bench import runner, suites

NHWC = ("NHWC", "HWIO", "NHWC")
PADS = ((-1, 1), (0, 0))  # the case: low side negative, high side positive
TOL = runner.tolerance(np.float32, "cpu")


def _operands(groups=1, seed=0):
    rng = np.random.default_rng(seed)
    return random_array(rng, (2, 9, 10, 4)), random_array(rng, (3, 3, 4 // groups, 4))


@pytest.mark.parametrize("groups", [1, 2])
def test_jaxconv_forward_matches_numpy_where_lax_may_not(groups):
    x, w = _operands(groups)
    want = numpy_conv_nhwc(x, w, pads=PADS, groups=groups)
    got = jaxconv.conv_general_dilated(
        x, w, (1, 1), PADS, dimension_numbers=NHWC, feature_group_count=groups, precision=HIGHEST
    )
    assert_close(got, want.astype(np.float32))


def test_jaxconv_gradients_match_float64_lax():
    """The kernel gradient of a grouped convolution is lax's batch_group_count=2 case, where
    lax's float32 answer can be 3e38; both gradients against lax in float64."""
    x, w = _operands(groups=2, seed=1)
    ct = random_array(np.random.default_rng(2), (2, 7, 8, 4))

    def grads(f, *args):
        return jax.vjp(f, *args[:2])[1](args[2])

    def ours(a, b):
        return jaxconv.conv_general_dilated(
            a, b, (1, 1), PADS, dimension_numbers=NHWC, feature_group_count=2, precision=HIGHEST
        )

    def ref(a, b):
        return lax.conv_general_dilated(
            a, b, (1, 1), PADS, dimension_numbers=NHWC, feature_group_count=2, precision=HIGHEST
        )

    got = grads(ours, x, w, ct)
    with jax.enable_x64(True):
        want = [np.asarray(g) for g in grads(ref, *(a.astype(np.float64) for a in (x, w, ct)))]
    assert want[0].dtype == np.float64
    for g, r in zip(got, want, strict=True):
        assert_close(g, r.astype(np.float32))


@pytest.mark.parametrize("direction", ["fwd", "fwd+bwd"])
def test_bench_check_blames_lax_not_jaxconv(direction):
    case = suites.Case("neg_low_pad", 2, (9, 10), 4, 4, (3, 3), (1, 1), padding=PADS, groups=2)
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always")
        rec = runner.run_case(
            "issue", case, jax.devices("cpu")[0], jnp.float32, "NHWC", direction, reps=1
        )
    said = [str(n.message) for n in notes if issubclass(n.category, runner.LaxDisagreement)]
    # jaxconv's error, against float64 where lax's float32 answer was wrong: lax reads out of
    # bounds, so whether it is wrong in a given run varies; the verdict must not.
    assert rec["max_rel_error"] <= TOL
    for text in said:
        assert "lax disagrees with the float64 reference here" in text
        assert "openxla/xla#48713" in text


def test_bench_check_still_fails_jaxconv_when_it_is_wrong():
    want = [np.array([1.0, 2.0])]
    exact = [np.array([1.0, 2.0])]
    with pytest.raises(runner.VerificationError, match="disagrees with lax"):
        runner.check("x", [np.array([1.0, 2.5])], want, 1e-3, lambda: exact)
    # lax wrong, jaxconv right: no error, errors against float64, a warning.
    with pytest.warns(runner.LaxDisagreement, match="lax disagrees with the float64 reference"):
        errs = runner.check(
            "x", [np.array([1.0, 2.0])], [np.array([1.0, 9e30])], 1e-3, lambda: exact
        )
    assert errs == (0.0, 0.0)


def test_explain_cli_says_lax_disagrees(tmp_path):
    x, w = _operands(seed=3)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", w)
    y_lax = np.asarray(
        lax.conv_general_dilated(x, w, (1, 1), PADS, dimension_numbers=NHWC, precision=HIGHEST)
    )
    want = numpy_conv_nhwc(x, w, pads=PADS)
    bad = np.abs(y_lax - want) > 1e-4 * (1 + np.abs(want))
    # The element lax gets most wrong (any element if lax gets none wrong).
    index = np.unravel_index(np.argmax(np.where(bad, np.abs(y_lax - want), -1)), want.shape)
    argv = ["explain", "--x", str(tmp_path / "x.npy"), "--w", str(tmp_path / "w.npy"),
            "--padding", "((-1, 1), (0, 0))", "--index", ",".join(map(str, index))]  # fmt: skip
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(argv)
    out = buf.getvalue()
    assert rc == 0
    assert "jaxconv.conv gives" in out and "(agrees)" in out.split("jaxconv.conv gives")[1]
    lax_line = next(line for line in out.splitlines() if line.startswith("lax.conv_general"))
    # lax reads out of bounds, so its value varies from run to run: judge the line by the
    # value it printed, against the numpy reference (a NaN, from memory it should not read,
    # disagrees too).
    value = float(lax_line.split(" = ")[1].split()[0].rstrip(":"))
    if not abs(value - want[index]) <= 1e-4 * (1 + abs(want[index])):
        assert "lax disagrees with the float64 reference here" in lax_line
    else:
        assert lax_line.endswith("(agrees)")
