"""Padding: the ``padding`` argument parsed to (low, high) pairs, and the padding modes.

Semantics follow :func:`jax.lax.conv_general_dilated`:

- ``'VALID'``: no padding.
- ``'SAME'``: pad so that ``out = ceil(in / stride)``; the total padding
  ``max((out - 1) * stride + k_eff - in, 0)`` (``k_eff = (k - 1) * dilation + 1``) is split
  with the odd element at the end (high side), as TensorFlow does.
- ``'SAME_LOWER'``: the same total with the odd element at the start.
- explicit ``(low, high)`` pairs, negative ones crop the input.

Padding modes follow PyTorch's ``padding_mode``: ``'zeros'``, ``'reflect'`` (mirror without
repeating the edge, each pad smaller than the input), ``'replicate'`` (repeat the edge) and
``'circular'`` (wrap around, each pad at most the input size).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import lax

PADDING_WORDS = ("VALID", "SAME", "SAME_LOWER")
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_JNP_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}

Pads = tuple[tuple[int, int], ...]


def _as_int(name: str, value: Any) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"`{name}` must hold integers, got {value!r}.") from None


def parse_padding(padding: Any, num_spatial: int, *, allow_ints: bool = True) -> str | Pads:
    """``padding`` as an upper-case word or as ``num_spatial`` (low, high) pairs.

    Accepts 'VALID', 'SAME' or 'SAME_LOWER' in any case; with ``allow_ints`` also one
    int (the same on every side), one int per spatial dim (symmetric), or one (low, high)
    pair per spatial dim.
    """
    if isinstance(padding, str):
        word = padding.upper()
        if word not in PADDING_WORDS:
            raise ValueError(
                f"`padding` must be one of {', '.join(map(repr, PADDING_WORDS))} or (low, high) "
                f"pairs, got {padding!r}."
            )
        return word
    if isinstance(padding, np.ndarray) and padding.ndim:
        padding = padding.tolist()  # lax accepts an array of (low, high) pairs too
    if allow_ints and not isinstance(padding, Sequence) and hasattr(padding, "__index__"):
        p = operator.index(padding)
        return ((p, p),) * num_spatial
    if not isinstance(padding, Sequence):
        raise TypeError(
            "`padding` must be a string, an int or a sequence of (low, high) pairs, got "
            f"{padding!r}."
        )
    if len(padding) != num_spatial:
        raise ValueError(
            f"`padding` must give one entry per spatial dimension ({num_spatial}), got "
            f"{len(padding)}: {padding!r}."
        )
    pairs = []
    for entry in padding:
        if isinstance(entry, Sequence) and not isinstance(entry, str):
            if len(entry) != 2:
                raise ValueError(f"`padding` entries must be (low, high) pairs, got {entry!r}.")
            pairs.append((_as_int("padding", entry[0]), _as_int("padding", entry[1])))
        elif allow_ints and hasattr(entry, "__index__"):
            p = operator.index(entry)
            pairs.append((p, p))
        else:
            raise ValueError(f"`padding` entries must be (low, high) pairs, got {entry!r}.")
    return tuple(pairs)


def transposed_pads(
    forward: Pads,
    window: Sequence[int],
    output_padding: Sequence[int],
    strides: Sequence[int],
    dilation: Sequence[int],
) -> Pads:
    """PyTorch's transposed-convolution padding as pads of the dilated input (lax's).

    ``forward`` is the padding of the forward convolution being transposed (PyTorch's
    ``padding``), ``window`` the dilated kernel size and ``output_padding`` the extra rows
    PyTorch adds at the end of each spatial dim, each smaller than the stride or the
    dilation (PyTorch's rule): ``out = (in - 1) * stride - lo - hi + window + output_padding``.
    """
    for op, s, d in zip(output_padding, strides, dilation, strict=True):
        if not 0 <= op < max(s, d):
            raise ValueError(
                f"`output_padding` {tuple(output_padding)} must be >= 0 and smaller than the "
                f"stride or the dilation (PyTorch's rule), got strides {tuple(strides)} and "
                f"dilation {tuple(dilation)}."
            )
    return tuple(
        (k - 1 - lo, k - 1 - hi + op)
        for (lo, hi), k, op in zip(forward, window, output_padding, strict=True)
    )


def check_padding_mode(padding_mode: Any) -> str:
    if padding_mode not in PADDING_MODES:
        raise ValueError(
            f"`padding_mode` must be one of {', '.join(map(repr, PADDING_MODES))}, got "
            f"{padding_mode!r}."
        )
    return padding_mode


def check_mode_pads(padding_mode: str, pads: Pads, in_shape: Sequence[int]) -> None:
    """Raise when ``pads`` cannot be made with ``padding_mode`` on an input of ``in_shape``."""
    if padding_mode == "zeros":
        return
    for dim, ((lo, hi), n) in enumerate(zip(pads, in_shape, strict=True)):
        if lo < 0 or hi < 0:
            raise ValueError(
                f"`padding_mode={padding_mode!r}` needs non-negative padding, got {(lo, hi)} "
                f"on spatial dim {dim}."
            )
        if padding_mode == "reflect" and max(lo, hi) >= n:
            raise ValueError(
                f"`padding_mode='reflect'` needs each pad smaller than the input size, got "
                f"padding {(lo, hi)} for spatial dim {dim} of size {n}."
            )
        if padding_mode == "circular" and max(lo, hi) > n:
            raise ValueError(
                f"`padding_mode='circular'` needs each pad at most the input size, got "
                f"padding {(lo, hi)} for spatial dim {dim} of size {n}."
            )
        if padding_mode == "replicate" and n == 0 and (lo or hi):
            raise ValueError(f"`padding_mode='replicate'` cannot pad the empty spatial dim {dim}.")


def pad_spatial(
    x: jnp.ndarray,
    spatial_axes: Sequence[int],
    pads: Pads,
    lhs_dilation: Sequence[int] | None = None,
    padding_mode: str = "zeros",
) -> jnp.ndarray:
    """Pad (and, for ``'zeros'``, interior-dilate) the spatial axes of ``x``.

    Input dilation inserts ``d - 1`` zeros between neighbours before the edges are
    padded, as ``lax.pad``'s interior padding does.
    """
    ndim = x.ndim
    if padding_mode == "zeros":
        config = [(0, 0, 0)] * ndim
        dil = lhs_dilation or (1,) * len(spatial_axes)
        for ax, (lo, hi), d in zip(spatial_axes, pads, dil, strict=True):
            config[ax] = (lo, hi, d - 1)
        if all(c == (0, 0, 0) for c in config):
            return x
        return lax.pad(x, jnp.zeros((), x.dtype), config)
    width = [(0, 0)] * ndim
    for ax, pair in zip(spatial_axes, pads, strict=True):
        width[ax] = pair
    return jnp.pad(x, width, mode=_JNP_MODE[padding_mode])
