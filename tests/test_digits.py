"""The digits example trains: a shortened run of examples/digits_cnn.py clears 90 %."""

from __future__ import annotations

from conftest import load_script


def test_digits_cnn_short_run_learns(capsys):
    accuracy = load_script("examples/digits_cnn.py").main(["--steps", "60", "--lr", "3e-3"])
    out = capsys.readouterr().out
    assert "test accuracy" in out
    assert accuracy >= 0.90, f"test accuracy {accuracy:.1%} after 60 steps"
