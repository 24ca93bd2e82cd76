"""The layout doctor: when shapes do not fit the layouts jaxconv assumed, say which do.

Most failed convolutions are arrays read in the wrong layout: a PyTorch ``(O, I, kh, kw)``
kernel given where ``(kh, kw, I, O)`` is assumed, an ``NCHW`` batch given to a channels-last
layer. Sometimes that raises (the features do not match); sometimes it silently returns an
empty array, because a kernel read as ``HWIO`` has a 16-pixel window. The doctor tries the
common readings of the two shapes -- input ``NHWC``/``NCHW`` times kernel ``HWIO``/``OIHW``/
``IOHW``, and Theano's flipped ``OIHW`` kernels, which no shape can tell apart from PyTorch's
-- with the same strides, padding, dilation and groups, and names those that fit together with
the exact argument or conversion that makes jaxconv read the arrays that way.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ._layout import channels_first, channels_last

_SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


class LayoutGuess(NamedTuple):
    """One reading of an input shape and a kernel shape under which the convolution fits.

    Attributes:
        dimension_numbers: the layouts ``(input, kernel, output)`` of this reading, e.g.
            ``("NHWC", "OIHW", "NHWC")``; the output keeps the input's layout.
        flip: whether the kernel is read as a true convolution's (Theano, Keras 1), which
            must be flipped in its spatial axes to become the cross-correlation kernel that
            jaxconv, lax, PyTorch and TensorFlow apply. Shapes cannot tell; it is listed
            beside every ``OI...`` reading.
        out_shape: the output's shape under this reading, in the output layout.
        source: where arrays laid out this way usually come from.
        fix: the code that makes jaxconv read the arrays this way, given the layouts it
            assumed: a ``dimension_numbers=...`` argument, or ``jaxconv.convert_kernel`` /
            ``jaxconv.convert_layout`` calls that move the arrays into the assumed layouts;
            ``"nothing to change"`` for the assumed reading itself.
    """

    dimension_numbers: tuple[str, str, str]
    flip: bool
    out_shape: tuple[int, ...]
    source: str
    fix: str

    def __str__(self) -> str:
        lhs, rhs, _ = self.dimension_numbers
        kernel = f"{rhs} flipped" if self.flip else rhs
        return f"x {lhs}, w {kernel} ({self.source}) -> output {self.out_shape}:\n    {self.fix}"


def _letters(n: int) -> str:
    return _SPATIAL.get(n) or "".join(chr(ord("a") + i) for i in range(n))


def _input_source(layout: str) -> str:
    return "channels-last input" if layout.endswith("C") else "channels-first input"


def _kernel_source(layout: str, flip: bool, n: int) -> str:
    name = f"{n}d" if n <= 3 else "Nd"
    if flip:
        return "a true convolution's (out, in, *k) kernel: Theano, Keras 1; flip it"
    if layout.endswith("IO"):
        return "(*k, in, out) kernel: TensorFlow, Keras, Flax"
    if layout.startswith("OI"):
        return f"(out, in, *k) kernel: PyTorch Conv{name}.weight, lax's default"
    return f"(in, out, *k) kernel: PyTorch ConvTranspose{name}.weight"


def _fix(
    lhs: str, rhs: str, flip: bool, assumed: tuple[str, str, str], module: bool
) -> tuple[str, tuple[str, str, str]]:
    """The code that makes the assumed call read ``x`` as ``lhs`` and ``w`` as ``rhs``, and
    the resulting dimension numbers."""
    a_lhs, a_rhs, a_out = assumed
    out = a_out if lhs == a_lhs else lhs
    where = "in the module's constructor" if module else "in the call"
    if (lhs, rhs, flip) == (a_lhs, a_rhs, False):
        return "nothing to change", assumed
    steps = []
    if lhs != a_lhs:
        steps.append(f"x = jaxconv.convert_layout(x, {lhs!r}, {a_lhs!r})")
    if rhs != a_rhs or flip:
        flag = ", flip=True" if flip else ""
        steps.append(f"w = jaxconv.convert_kernel(w, {rhs!r}, {a_rhs!r}{flag})")
    convert = "; ".join(steps)
    if flip:  # no layout argument flips a kernel
        return convert, (lhs, rhs, out)
    dn = (lhs, rhs, out)
    return f"dimension_numbers={dn!r} {where}, or {convert}", dn


def readings(
    x_shape: Sequence[int],
    w_shape: Sequence[int],
    assumed: tuple[str, str, str],
    fits: Callable[[tuple[str, str, str]], tuple[int, ...] | None],
    *,
    kernels: bool = True,
    module: bool = False,
) -> list[LayoutGuess]:
    """The common readings of ``x_shape`` and ``w_shape`` for which ``fits(dn)`` returns an
    output shape (``None``: does not fit), fewest changes first.

    ``kernels=False`` keeps the kernel in its assumed layout and tries only the input's (a
    Flax module owns its kernel). ``module`` words the fix for a module's constructor.
    """
    n = len(x_shape) - 2
    s = _letters(n)
    inputs = [assumed[0]] + [
        lay for lay in (channels_last(n)[0], channels_first(n)[0]) if lay != assumed[0]
    ]
    kernel_layouts = [assumed[1]]
    if kernels:
        kernel_layouts += [k for k in (s + "IO", "OI" + s, "IO" + s) if k != assumed[1]]
    found = []
    for lhs in inputs:
        if len(lhs) != len(x_shape):
            continue
        for rhs in kernel_layouts:
            options = [False, True] if kernels and rhs.startswith("OI") else [False]
            for flip in options:
                fix, dn = _fix(lhs, rhs, flip, assumed, module)
                out = fits(dn)
                if out is None:
                    continue
                source = f"{_input_source(lhs)}, {_kernel_source(rhs, flip, n)}"
                changes = (lhs != assumed[0]) + (rhs != assumed[1]) + flip
                # Square windows are the common ones: a reading that makes the kernel 6 x 3
                # comes after one that makes it 3 x 3, then fewer changes come first.
                k = [w_shape[i] for i, c in enumerate(rhs) if c not in "OI" and i < len(w_shape)]
                found.append((len(set(k)) > 1, changes, LayoutGuess(dn, flip, out, source, fix)))
    found.sort(key=lambda item: item[:2])
    return [item[-1] for item in found]


def empty_dims(in_spatial: Sequence[int], out_spatial: Sequence[int]) -> list[int]:
    """Spatial dims whose output is empty although the input is not: the window is larger
    than the padded input there."""
    return [j for j, (i, o) in enumerate(zip(in_spatial, out_spatial, strict=True)) if i and not o]


def advice(
    assumed: tuple[str, str, str],
    guesses: Sequence[LayoutGuess],
    names: tuple[str, str] = ("x", "w"),
    groups_hint: str = "",
    kernels: bool = True,
) -> str:
    """The doctor's paragraph for an error or warning message (``kernels=False``: only the
    input's layout was varied, as for a module that owns its kernel)."""
    x, w = names
    lhs, rhs, out = assumed
    lines = [f"Layouts assumed: `{x}` {lhs!r}, `{w}` {rhs!r}, output {out!r}."]
    if guesses:
        lines.append("Readings of these shapes that fit:")
        lines += [f"  - {_indent(str(g))}" for g in guesses]
    else:
        tried = "input NHWC/NCHW, kernel HWIO/OIHW/IOHW" if kernels else "input NHWC/NCHW"
        lines.append(
            f"No common reading of these shapes fits ({tried}); check the shapes, `padding` "
            "and the groups."
        )
    if groups_hint:
        lines.append(groups_hint)
    return "\n".join(lines)


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")


def plan_advice(
    message: str,
    lhs_shape: Sequence[int],
    rhs_shape: Sequence[int],
    dn: Any,
    replan: Callable[[tuple[str, str, str]], Any],
    features: tuple[int, int, int, int, int],
    names: tuple[str, str, str],
) -> str:
    """``message`` followed by the doctor's advice for a convolution whose plan failed.

    ``replan(layouts)`` plans the same call with other layouts (raising where they do not
    fit either); ``features`` are ``(C, kernel I, kernel O, feature groups, batch groups)``
    under the assumed layouts ``dn``; ``names`` the input's, kernel's and groups' argument
    names.
    """

    def fits(strings: tuple[str, str, str]) -> tuple[int, ...] | None:
        try:
            plan = replan(strings)
        except (TypeError, ValueError):
            return None
        return None if empty_dims(plan.in_spatial, plan.out_spatial) else plan.out_shape

    cin, kin, cout, fg, bg = features
    lhs_name, rhs_name, groups_name = names
    assumed = dn.to_strings()
    hint = ""
    g = cin // kin if kin and cin % kin == 0 else 0
    if g and g != fg and cout % g == 0 and bg == 1:
        kind = " (depthwise)" if kin == 1 else ""
        hint = f"With the assumed layouts the shapes fit `{groups_name}={g}`{kind}."
    guesses = readings(lhs_shape, rhs_shape, assumed, fits)
    return f"{message}\n{advice(assumed, guesses, (lhs_name, rhs_name), hint)}"


def report(message: str, how: str) -> None:
    """Raise ``message`` as a ValueError (``how='error'``) or warn with it (``'warn'``)."""
    if how == "error":
        raise ValueError(message)
    if how == "warn":
        # report <- make_plan <- conv_general_dilated <- caller
        warnings.warn(message, stacklevel=4)


def guess_layouts(
    x_shape: Any,
    w_shape: Any,
    *,
    strides: int | Sequence[int] = 1,
    padding: Any = "VALID",
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    assumed: tuple[str, str, str] | None = None,
) -> list[LayoutGuess]:
    """Which common layouts of an input and a kernel fit together, and how to ask for them.

    Tries the input as channels-last or channels-first (``NHWC``/``NCHW`` for 2-d) and the
    kernel as ``HWIO`` (TensorFlow, Keras, Flax), ``OIHW`` (PyTorch's ``Conv2d``, lax's
    default), ``IOHW`` (PyTorch's ``ConvTranspose2d``) or a flipped ``OIHW`` (Theano, Keras 1:
    shapes cannot tell it from PyTorch's), with the given strides, padding, dilation and
    groups, and keeps the readings whose output is not empty.

    Args:
        x_shape: the input's shape (or the input itself), rank ``n + 2``.
        w_shape: the kernel's shape (or the kernel itself), rank ``n + 2``.
        strides: as for [`jaxconv.conv`][jaxconv.conv].
        padding: as for [`jaxconv.conv`][jaxconv.conv].
        dilation: as for [`jaxconv.conv`][jaxconv.conv].
        groups: as for [`jaxconv.conv`][jaxconv.conv].
        assumed: the layouts the fixes start from; default channels-last, the default of
            [`jaxconv.conv`][jaxconv.conv] (``("NHWC", "HWIO", "NHWC")`` for 2-d).

    Returns:
        The readings that fit: those with a square window first (the common kernels), then
        by how many arrays must be read differently (so the assumed reading leads if it
        fits). Each says its ``dimension_numbers``, output shape and the exact ``fix``.

    Examples:
        A PyTorch kernel ``(16, 3, 3, 3)`` with a channels-last image: read as ``HWIO`` its
        window would be 16 x 3 pixels and the output empty.

        >>> import jaxconv
        >>> for guess in jaxconv.guess_layouts((1, 8, 8, 3), (16, 3, 3, 3)):
        ...     print(guess.dimension_numbers, guess.flip, guess.out_shape)
        ('NHWC', 'OIHW', 'NHWC') False (1, 6, 6, 16)
        ('NHWC', 'OIHW', 'NHWC') True (1, 6, 6, 16)
        >>> guess = jaxconv.guess_layouts((1, 8, 8, 3), (16, 3, 3, 3))[0]
        >>> for part in guess.fix.split(", or "):
        ...     print(part)
        dimension_numbers=('NHWC', 'OIHW', 'NHWC') in the call
        w = jaxconv.convert_kernel(w, 'OIHW', 'HWIO')
    """
    from ._plan import FRIENDLY, make_plan

    x_shape = tuple(getattr(x_shape, "shape", x_shape))
    w_shape = tuple(getattr(w_shape, "shape", w_shape))
    if len(x_shape) != len(w_shape) or len(x_shape) < 3:
        raise ValueError(
            f"`x_shape` and `w_shape` must have the same rank, at least 3, got {x_shape} and "
            f"{w_shape}."
        )
    if assumed is None:
        assumed = channels_last(len(x_shape) - 2)

    def fits(dn: tuple[str, str, str]) -> tuple[int, ...] | None:
        try:
            plan = make_plan(
                x_shape, w_shape, strides, padding, None, dilation, dn, groups,
                form=FRIENDLY, diagnose=False,
            )  # fmt: skip
        except (TypeError, ValueError):
            return None
        return None if empty_dims(plan.in_spatial, plan.out_spatial) else plan.out_shape

    return readings(x_shape, w_shape, tuple(assumed), fits)
