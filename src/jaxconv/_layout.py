"""Layouts: which axis of an array is the batch, the feature and each spatial dimension.

A layout is a string with one letter per axis. For activations ``N`` is the batch and
``C`` the feature axis; for kernels ``O`` is the output feature and ``I`` the input
feature axis. Every other letter names a spatial dimension, and the same letter in the
three strings of a convolution names the same spatial dimension.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.typing import ArrayLike

_SPATIAL_LETTERS = {1: "W", 2: "HW", 3: "DHW"}


class DimensionNumbers(NamedTuple):
    """Where the batch, feature and spatial axes of a convolution's three arrays sit.

    The same numbers as `jax.lax.ConvDimensionNumbers`: each field lists axis
    indices in the canonical order ``(batch, feature, *spatial)`` for ``lhs_spec`` and
    ``out_spec`` and ``(out feature, in feature, *spatial)`` for ``rhs_spec``. The spatial
    dimensions are ordered as their letters appear in the kernel's layout string, which is
    also the order in which strides, padding and dilations are given.

    Examples:
        >>> import jaxconv
        >>> dn = jaxconv.conv_dimension_numbers(4, ("NHWC", "HWIO", "NHWC"))
        >>> dn.lhs_spec, dn.rhs_spec, dn.out_spec
        ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    """

    lhs_spec: tuple[int, ...]
    rhs_spec: tuple[int, ...]
    out_spec: tuple[int, ...]

    @property
    def num_spatial(self) -> int:
        """The number of spatial dimensions."""
        return len(self.lhs_spec) - 2

    def to_strings(self, spatial: str | None = None) -> tuple[str, str, str]:
        """The three layout strings, with ``spatial`` (default ``W``/``HW``/``DHW``) as letters.

        Examples:
            >>> import jaxconv
            >>> jaxconv.conv_dimension_numbers(4, None).to_strings()
            ('NCHW', 'OIHW', 'NCHW')
        """
        n = self.num_spatial
        if spatial is None:
            spatial = _SPATIAL_LETTERS.get(n) or "".join(chr(ord("a") + i) for i in range(n))
        return (
            _spec_to_string(self.lhs_spec, "NC", spatial),
            _spec_to_string(self.rhs_spec, "OI", spatial),
            _spec_to_string(self.out_spec, "NC", spatial),
        )


def _spec_to_string(spec: Sequence[int], pair: str, spatial: str) -> str:
    letters = [""] * len(spec)
    for letter, axis in zip(pair + spatial, spec, strict=True):
        letters[axis] = letter
    return "".join(letters)


def channels_last(num_spatial: int) -> tuple[str, str, str]:
    """Channels-last layouts for ``num_spatial`` dims: ``("NHWC", "HWIO", "NHWC")`` for 2."""
    s = _SPATIAL_LETTERS.get(num_spatial) or "".join(chr(ord("a") + i) for i in range(num_spatial))
    return ("N" + s + "C", s + "IO", "N" + s + "C")


def channels_first(num_spatial: int) -> tuple[str, str, str]:
    """Channels-first layouts for ``num_spatial`` dims: ``("NCHW", "OIHW", "NCHW")`` for 2."""
    s = _SPATIAL_LETTERS.get(num_spatial) or "".join(chr(ord("a") + i) for i in range(num_spatial))
    return ("NC" + s, "OI" + s, "NC" + s)


def _check_letters(name: str, spec: Any, pair: str) -> str:
    if not isinstance(spec, str):
        raise TypeError(f"`{name}` must be a layout string such as 'NHWC', got {spec!r}.")
    repeated = sorted({c for c in spec if spec.count(c) > 1})
    if repeated:
        raise TypeError(f"`{name}` layout {spec!r} repeats the letter(s) {''.join(repeated)!r}.")
    missing = [c for c in pair if c not in spec]
    if missing:
        raise TypeError(
            f"`{name}` layout {spec!r} is missing the letter(s) {''.join(missing)!r}; it "
            f"needs {pair[0]!r}, {pair[1]!r} and one letter per spatial dimension."
        )
    bad = [c for c in spec if not c.isalpha()]
    if bad:
        raise TypeError(f"`{name}` layout {spec!r} has non-letter character(s) {''.join(bad)!r}.")
    return spec


@functools.lru_cache(maxsize=512)
def _parse_strings(ndim: int, lhs: str, rhs: str, out: str) -> DimensionNumbers:
    _check_letters("dimension_numbers[0] (input)", lhs, "NC")
    _check_letters("dimension_numbers[1] (kernel)", rhs, "OI")
    _check_letters("dimension_numbers[2] (output)", out, "NC")
    if not len(lhs) == len(rhs) == len(out):
        raise TypeError(
            f"`dimension_numbers` layouts must all have the same length, got {(lhs, rhs, out)!r}."
        )
    lhs_spatial = set(lhs) - set("NC")
    rhs_spatial = set(rhs) - set("OI")
    out_spatial = set(out) - set("NC")
    if not lhs_spatial == rhs_spatial == out_spatial:
        raise TypeError(
            "`dimension_numbers` layouts must use the same spatial letters, got "
            f"{(lhs, rhs, out)!r} (spatial letters {''.join(sorted(lhs_spatial))!r}, "
            f"{''.join(sorted(rhs_spatial))!r}, {''.join(sorted(out_spatial))!r})."
        )
    if len(lhs) != ndim:
        raise ValueError(
            f"`dimension_numbers` layout {lhs!r} has {len(lhs)} letters, but the input has "
            f"rank {ndim}."
        )
    spatial = [c for c in rhs if c not in "OI"]
    return DimensionNumbers(
        (lhs.index("N"), lhs.index("C"), *(lhs.index(c) for c in spatial)),
        (rhs.index("O"), rhs.index("I"), *(rhs.index(c) for c in spatial)),
        (out.index("N"), out.index("C"), *(out.index(c) for c in spatial)),
    )


def conv_dimension_numbers(
    ndim: int,
    dimension_numbers: tuple[str, str, str] | DimensionNumbers | lax.ConvDimensionNumbers | None,
    default: str = "channels_first",
) -> DimensionNumbers:
    """Parse ``dimension_numbers`` once into a hashable
    [`DimensionNumbers`][jaxconv.DimensionNumbers].

    Args:
        ndim: rank of the input (and kernel and output), ``num_spatial + 2``.
        dimension_numbers: ``None``, three layout strings such as
            ``("NHWC", "HWIO", "NHWC")``, a [`DimensionNumbers`][jaxconv.DimensionNumbers] or a
            `jax.lax.ConvDimensionNumbers`.
        default: ``"channels_first"`` (lax's default, ``NCHW``/``OIHW``) or
            ``"channels_last"`` (``NHWC``/``HWIO``), used when ``dimension_numbers`` is None.

    Raises:
        TypeError: for a malformed layout (a repeated, unknown or missing letter, not three
            strings).
        ValueError: when the layouts do not have ``ndim`` letters.
    """
    if ndim < 3:
        raise ValueError(
            f"a convolution needs at least one spatial dimension (rank >= 3), got rank {ndim}."
        )
    if dimension_numbers is None:
        make = channels_last if default == "channels_last" else channels_first
        dimension_numbers = make(ndim - 2)
    if isinstance(dimension_numbers, tuple) and len(dimension_numbers) == 3:
        if all(isinstance(s, str) for s in dimension_numbers):
            return _parse_strings(ndim, *dimension_numbers)
        if all(isinstance(s, Sequence) and not isinstance(s, str) for s in dimension_numbers):
            return _from_ints(ndim, dimension_numbers)
    if isinstance(dimension_numbers, list) and len(dimension_numbers) == 3:
        return conv_dimension_numbers(ndim, tuple(dimension_numbers), default)
    raise TypeError(
        "`dimension_numbers` must be None, three layout strings such as "
        "('NHWC', 'HWIO', 'NHWC') or a DimensionNumbers, got "
        f"{dimension_numbers!r}."
    )


def _from_ints(ndim: int, specs: Sequence[Sequence[int]]) -> DimensionNumbers:
    out = []
    for name, spec in zip(("lhs_spec", "rhs_spec", "out_spec"), specs, strict=True):
        spec = tuple(int(a) for a in spec)
        if len(spec) != ndim:
            raise ValueError(
                f"`dimension_numbers.{name}` has {len(spec)} axes, but the input has rank {ndim}."
            )
        if sorted(spec) != list(range(ndim)):
            raise TypeError(
                f"`dimension_numbers.{name}` must be a permutation of range({ndim}), got {spec}."
            )
        out.append(spec)
    return DimensionNumbers(*out)


def layout_from_string(ndim: int, layout: Any) -> DimensionNumbers:
    """Dimension numbers for a single activation layout such as ``"NCHW"``.

    The kernel layout is taken as ``spatial + "IO"`` with the spatial letters in the
    order they appear in ``layout``, so strides and window sizes follow that order.
    """
    _check_letters("layout", layout, "NC")
    spatial = "".join(c for c in layout if c not in "NC")
    return conv_dimension_numbers(ndim, (layout, spatial + "IO", layout))


def _permutation(name_src: str, src: Any, name_dst: str, dst: Any, ndim: int) -> tuple[int, ...]:
    for name, spec in ((name_src, src), (name_dst, dst)):
        if not isinstance(spec, str):
            raise TypeError(f"`{name}` must be a layout string such as 'NCHW', got {spec!r}.")
        if len(set(spec)) != len(spec):
            raise TypeError(f"`{name}` layout {spec!r} repeats a letter.")
    if sorted(src) != sorted(dst):
        raise TypeError(
            f"`{name_src}` {src!r} and `{name_dst}` {dst!r} must hold the same letters."
        )
    if len(src) != ndim:
        raise ValueError(
            f"`{name_src}` {src!r} has {len(src)} letters but the array has rank {ndim}."
        )
    return tuple(src.index(c) for c in dst)


def convert_layout(x: ArrayLike, src: str, dst: str) -> jnp.ndarray:
    """Move the axes of an activation from layout ``src`` to layout ``dst``.

    Args:
        x: array laid out as ``src``, for example ``(N, C, H, W)`` for ``"NCHW"``.
        src: the current layout string.
        dst: the wanted layout string, a permutation of ``src``.

    Returns:
        ``x`` transposed to ``dst``, for example ``(N, H, W, C)`` for ``"NHWC"``.

    Examples:
        >>> import jax.numpy as jnp, jaxconv
        >>> jaxconv.convert_layout(jnp.zeros((2, 3, 5, 7)), "NCHW", "NHWC").shape
        (2, 5, 7, 3)
    """
    x = jnp.asarray(x)
    return jnp.transpose(x, _permutation("src", src, "dst", dst, x.ndim))


def convert_kernel(w: ArrayLike, src: str, dst: str, *, flip: bool = False) -> jnp.ndarray:
    """Move the axes of a kernel from layout ``src`` to ``dst``, optionally flipping it.

    Args:
        w: kernel laid out as ``src``, for example ``(O, I, kh, kw)`` for ``"OIHW"``.
        src: the current layout string (``O`` and ``I`` plus spatial letters).
        dst: the wanted layout string, a permutation of ``src``, such as ``"HWIO"``.
        flip: also reverse every spatial axis. This turns the kernel of a true
            convolution (Theano's default, Keras 1 on Theano) into the kernel of the
            cross-correlation that jaxconv, lax, PyTorch and TensorFlow compute, and back.

    Returns:
        The kernel in layout ``dst``.

    Examples:
        >>> import jax.numpy as jnp, jaxconv
        >>> jaxconv.convert_kernel(jnp.zeros((8, 3, 5, 5)), "OIHW", "HWIO").shape
        (5, 5, 3, 8)
    """
    w = jnp.asarray(w)
    w = jnp.transpose(w, _permutation("src", src, "dst", dst, w.ndim))
    if flip:
        w = jnp.flip(w, axis=tuple(i for i, c in enumerate(dst) if c not in "OI"))
    return w


def canonical_order(spec: Sequence[int], channels_first: bool = False) -> tuple[int, ...]:
    """The axes of an activation laid out as ``spec = (batch, feature, *spatial)``, in the
    canonical order: ``(N, *spatial, C)``, or ``(N, C, *spatial)`` with ``channels_first``."""
    if channels_first:
        return tuple(spec)
    return (spec[0], *spec[2:], spec[1])


def to_canonical(x: jnp.ndarray, spec: Sequence[int], channels_first: bool = False) -> jnp.ndarray:
    """``x`` with axes ``spec = (batch, feature, *spatial)`` moved to the canonical order."""
    return jnp.transpose(x, canonical_order(spec, channels_first))


def from_canonical(
    y: jnp.ndarray, spec: Sequence[int], channels_first: bool = False
) -> jnp.ndarray:
    """Inverse of :func:`to_canonical`: a canonical ``y`` laid out as ``spec``."""
    return jnp.transpose(y, tuple(np.argsort(canonical_order(spec, channels_first))))
