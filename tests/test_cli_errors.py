"""The command line as a new user meets it: bad arguments are one clean line on stderr and
exit status 2; ``explain --guess``; ``python -m jaxconv`` without a command."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import numpy as np
import pytest

import jaxconv
from jaxconv.__main__ import main


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--index", "0,9,9,0"], "`index` (0, 9, 9, 0) is out of range for the output"),
        (["--index", "0,1"], "`index` must give one int per output axis"),
        (["--x", "/nonexistent/x.npy"], "--x: cannot read '/nonexistent/x.npy'"),
        (["--index", "a,b"], "--index must be comma-separated ints"),
        (["--padding", "(("], "--padding must be VALID, SAME, SAME_LOWER, ints or pairs"),
        (
            ["--input-shape", "2,3,8,8", "--kernel-shape", "3,3,3,4"],
            "the input features of `x` (=8, shape (2, 3, 8, 8)) must equal the kernel's",
        ),
        (
            ["--input-shape", "1,8,8,3", "--kernel-shape", "16,3,3,3"],
            "the output would be empty, shape (1, 0, 6, 3). (--guess lists the layouts",
        ),
        (["--guess"], "--guess needs --input-shape and --kernel-shape"),
    ],
    ids=[
        "index_range",
        "index_length",
        "missing_x",
        "index_text",
        "padding_text",
        "incompatible_shapes",
        "oversize_window",
        "guess_without_shapes",
    ],  # fmt: skip
)
def test_explain_errors_are_one_line_and_exit_2(argv, says):
    rc, out, err = _run(["explain", *argv])
    assert rc == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("explain: "), err
    assert says in err
    assert "Traceback" not in err


def test_explain_guess_prints_the_readings(tmp_path):
    rc, out, _ = _run(["explain", "--guess", "--input-shape", "1,8,8,3", "--kernel-shape",
                       "16,3,3,3"])  # fmt: skip
    assert rc == 0
    assert "Layouts assumed: input 'NHWC', kernel 'HWIO', output 'NHWC'." in out
    assert "1. x NHWC, w OIHW (" in out and "-> output (1, 6, 6, 16)" in out
    assert "dimension_numbers=('NHWC', 'OIHW', 'NHWC')" in out
    assert "here: --layout NHWC --kernel-layout OIHW" in out
    assert "convert_kernel(w, 'OIHW', 'HWIO', flip=True)" in out
    # The flags it suggests work: explain runs with them and agrees.
    rc, out, err = _run(["explain", "--input-shape", "1,8,8,3", "--kernel-shape", "16,3,3,3",
                         "--layout", "NHWC", "--kernel-layout", "OIHW"])  # fmt: skip
    assert rc == 0 and "(agrees)" in out, err
    # From files, with an assumed channels-first layout; nothing fits: exit 1.
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 3, 3), np.float32))
    np.save(tmp_path / "w.npy", np.zeros((5, 7, 4, 4), np.float32))
    rc, out, _ = _run(["explain", "--guess", "--x", str(tmp_path / "x.npy"), "--w",
                       str(tmp_path / "w.npy"), "--layout", "NCHW"])  # fmt: skip
    assert rc == 1
    assert "Layouts assumed: input 'NCHW', kernel 'OIHW'" in out and "No common reading" in out


def test_python_m_jaxconv_without_command_exits_2_with_usage():
    proc = subprocess.run(
        [sys.executable, "-m", "jaxconv"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: python -m jaxconv")
    assert "choose a command: bench, explain" in proc.stderr


def test_non_array_error_keeps_numbers_whole_and_suggests_asarray():
    value = [[0.123456789012345, 1.5, -2.25, 3.0, 4.0] * 6] * 4
    with pytest.raises(TypeError) as info:
        jaxconv.conv(value, np.ones((3, 3, 1, 1)))
    message = str(info.value)
    assert "`x` must be an array, got list: [[0.123456789012345, 1.5, -2.25, ...]" in message
    assert "jnp.asarray(x)" in message
    # Every number shown is one of the numbers given, whole.
    shown = message.split("got list: ")[1].split(";")[0]
    for token in shown.replace("[", " ").replace("]", " ").replace(",", " ").split():
        assert token == "..." or float(token) in (0.123456789012345, 1.5, -2.25)
