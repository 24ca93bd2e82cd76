"""Argument checks shared by the public functions; all run on static Python values."""

from __future__ import annotations

import operator
import reprlib
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

# Shortens a value for an error message element by element, so a number is never cut in half.
_SHORT = reprlib.Repr()  # keyword arguments need Python 3.12
_SHORT.maxlevel, _SHORT.maxtuple, _SHORT.maxlist, _SHORT.maxdict = 2, 3, 3, 3
_SHORT.maxstring = _SHORT.maxother = 40


def check_array(name: str, x: Any) -> jax.Array:
    """``x`` itself if it is an array (a jax or numpy array, or a tracer), else TypeError."""
    if not isinstance(x, jax.Array | np.ndarray):
        raise TypeError(
            f"`{name}` must be an array, got {type(x).__name__}: {_SHORT.repr(x)}; convert it "
            f"first with `jnp.asarray({name})`."
        )
    if x.dtype == np.bool_:
        raise TypeError(f"`{name}` must have a numeric dtype, got {x.dtype}.")
    return x


def check_same_dtype(lhs: Any, rhs: Any, lhs_name: str = "lhs", rhs_name: str = "rhs") -> None:
    if lhs.dtype != rhs.dtype:
        raise TypeError(
            f"`{lhs_name}` and `{rhs_name}` must have the same dtype, got {lhs.dtype} and "
            f"{rhs.dtype}; cast one of them first (as lax.conv_general_dilated requires)."
        )


def int_tuple(
    name: str, value: Any, n: int, *, minimum: int = 1, broadcast: bool = False
) -> tuple[int, ...]:
    """``value`` as ``n`` ints, each at least ``minimum``.

    With ``broadcast`` a single int stands for all ``n``.
    """
    if value is None:
        return (1,) * n
    if broadcast and not isinstance(value, Sequence | np.ndarray):
        value = (value,) * n
    if isinstance(value, str) or not isinstance(value, Sequence | np.ndarray):
        raise TypeError(f"`{name}` must be a sequence of {n} ints, got {value!r}.")
    if len(value) != n:
        raise ValueError(
            f"`{name}` must give one value per spatial dimension ({n}), got {len(value)}: "
            f"{tuple(value)!r}."
        )
    out = []
    for v in value:
        try:
            v = operator.index(v)
        except TypeError:
            raise TypeError(f"`{name}` must hold ints, got {tuple(value)!r}.") from None
        if v < minimum:
            raise ValueError(f"`{name}` must be >= {minimum}, got {tuple(value)!r}.")
        out.append(v)
    return tuple(out)


def positive_int(name: str, value: Any) -> int:
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"`{name}` must be an int, got {value!r}.") from None
    if v < 1:
        raise ValueError(f"`{name}` must be a positive int, got {v}.")
    return v
