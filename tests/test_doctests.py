"""The examples in jaxconv's docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "jaxconv._conv",
    "jaxconv._layout",
    "jaxconv._patches",
    "jaxconv._local",
    "jaxconv._explain",
    "jaxconv._doctor",
]
FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    # Each example imports what it uses: no extra globals.
    result = doctest.testmod(module, optionflags=FLAGS)
    assert result.attempted > 0, f"{name} has no docstring examples"
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
