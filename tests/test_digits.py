"""The digits example trains: a shortened run of examples/digits_cnn.py clears 90 %."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits_cnn.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("digits_cnn", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_cnn_short_run_learns(capsys):
    accuracy = _load_example().main(["--steps", "60", "--lr", "3e-3"])
    out = capsys.readouterr().out
    assert "test accuracy" in out
    assert accuracy >= 0.90, f"test accuracy {accuracy:.1%} after 60 steps"
