"""``python -m jaxconv explain``: show how one output element of a convolution is computed.

jax is imported only in :func:`run`, so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import ast
import sys
from typing import Any

_MODES = ("zeros", "reflect", "replicate", "circular")
_SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Shapes are given in the layouts named; without --input-shape/--x a 2-d input "
        "of 1 image, 2 features and 5x5 pixels is used. Example: python -m jaxconv explain "
        "--layout NCHW --kernel-layout OIHW --strides 2 --padding SAME --index 0,1,1,2"
    )
    layout = parser.add_argument_group("layouts")
    layout.add_argument("--layout", help="input layout, e.g. NHWC (default channels-last)")
    layout.add_argument(
        "--kernel-layout", help="kernel layout, e.g. HWIO or OIHW (default: matches --layout)"
    )
    layout.add_argument("--out-layout", help="output layout (default: --layout)")
    data = parser.add_argument_group("data")
    data.add_argument("--input-shape", help="input shape in --layout, e.g. 1,5,5,2")
    data.add_argument("--kernel-shape", help="kernel shape in --kernel-layout, e.g. 3,3,2,4")
    data.add_argument("--x", metavar="FILE.npy", help="load the input from a .npy file")
    data.add_argument("--w", metavar="FILE.npy", help="load the kernel from a .npy file")
    data.add_argument("--seed", type=int, default=0, help="seed of the random data (default 0)")
    data.add_argument("--dtype", default="float32", help="dtype of the random data")
    conv = parser.add_argument_group("convolution (as jaxconv.conv)")
    conv.add_argument("--strides", default="1", help="an int or one per spatial dim: 2 or 2,1")
    conv.add_argument(
        "--padding",
        default="VALID",
        help="VALID, SAME, SAME_LOWER, an int, one int per dim, or pairs: '((1,0),(0,1))'",
    )
    conv.add_argument("--dilation", default="1", help="kernel dilation, an int or one per dim")
    conv.add_argument("--groups", type=int, default=1, help="feature groups (default 1)")
    conv.add_argument("--padding-mode", default="zeros", choices=_MODES)
    parser.add_argument(
        "--index",
        help="the output element in the output layout, e.g. 0,2,2,0 (default: the centre, "
        "batch 0, feature 0)",
    )
    parser.add_argument(
        "--guess",
        action="store_true",
        help="say which layouts the input and kernel shapes fit (input NHWC/NCHW, kernel "
        "HWIO/OIHW/IOHW, Theano's flipped kernels) and how to ask for them; needs "
        "--input-shape and --kernel-shape (or --x and --w)",
    )
    parser.add_argument(
        "--keras-example",
        action="store_true",
        help="replay the Keras Conv2D question: why a hand computation differed from the model",
    )
    _add_form_arguments(parser)


def _add_form_arguments(parser: argparse.ArgumentParser) -> None:
    """The other forms (conv_transpose, conv_general_dilated), the bias and the picture."""
    form = parser.add_argument_group(
        "transposed and input-dilated convolutions, bias, picture",
        "--transpose explains jaxconv.conv_transpose: --strides are the upsampling factors, "
        "--padding SAME, VALID or pairs of the dilated input (lax's convention), or PyTorch's "
        "with --torch-padding. --lhs-dilation/--batch-groups explain conv_general_dilated.",
    )
    form.add_argument(
        "--transpose", action="store_true", help="explain conv_transpose instead of conv"
    )
    form.add_argument(
        "--transpose-kernel",
        action="store_true",
        help="with --transpose: flip the kernel and swap its I/O axes (w is the forward "
        "convolution's kernel: PyTorch's ConvTranspose weight as OIHW, Keras')",
    )
    form.add_argument(
        "--torch-padding",
        metavar="P",
        help="with --transpose: PyTorch's ConvTranspose padding (an int or one per dim); "
        "implies use_consistent_padding",
    )
    form.add_argument(
        "--output-padding",
        metavar="OP",
        default="0",
        help="with --torch-padding: PyTorch's output_padding (an int or one per dim)",
    )
    form.add_argument(
        "--lhs-dilation", help="input dilation, an int or one per dim (conv_general_dilated)"
    )
    form.add_argument(
        "--batch-groups", type=int, default=1, help="batch_group_count (conv_general_dilated)"
    )
    form.add_argument("--b", metavar="FILE.npy", help="load a bias (O,) to add as its own term")
    form.add_argument("--png", metavar="FILE", help="also draw the explanation into a PNG file")


class _UsageError(Exception):
    """A bad command line: reported as one line on stderr, exit status 2."""


def _ints(name: str, text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(t) for t in text.replace("x", ",").split(",") if t.strip())
    except ValueError:
        raise _UsageError(f"--{name} must be comma-separated ints, got {text!r}") from None


def _int_or_ints(name: str, text: str) -> Any:
    vals = _ints(name, text)
    return vals[0] if vals is not None and len(vals) == 1 else vals


def _padding(text: str) -> Any:
    if text.upper() in ("VALID", "SAME", "SAME_LOWER"):
        return text.upper()
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise _UsageError(
            f"--padding must be VALID, SAME, SAME_LOWER, ints or pairs, got {text!r}"
        ) from None
    return value


def _layouts(args: argparse.Namespace, ndim: int | None) -> tuple[str, str, str]:
    lhs = args.layout
    if lhs is None:
        if args.kernel_layout:
            ndim = len(args.kernel_layout)
        n = (ndim or 4) - 2
        lhs = "N" + _SPATIAL.get(n, "".join(chr(ord("a") + i) for i in range(n))) + "C"
    spatial = "".join(c for c in lhs if c not in "NC")
    rhs = args.kernel_layout
    if rhs is None:
        channels_first = lhs.index("C") < min(lhs.index(c) for c in spatial)
        rhs = "OI" + spatial if channels_first else spatial + "IO"
    return lhs, rhs, args.out_layout or lhs


def _shape(layout: str, sizes: dict[str, int], default: int) -> tuple[int, ...]:
    return tuple(sizes.get(c, default) for c in layout)


def _load(name: str, path: str | None, np: Any) -> Any:
    if path is None:
        return None
    try:
        return np.load(path)
    except (OSError, ValueError) as e:
        raise _UsageError(f"--{name}: cannot read {path!r} as a .npy file: {e}") from None


def run(args: argparse.Namespace) -> int:
    """Run ``explain``; the exit status: 0 when jaxconv agrees with the float64 reference, 1
    when not, 2 for a bad command line or arguments that do not fit (one line on stderr)."""
    try:
        return _run(args)
    except (_UsageError, ValueError, TypeError, IndexError) as e:
        lines = str(e).strip().splitlines() or [type(e).__name__]
        message = lines[0]
        if any(line.startswith("Layouts assumed") for line in lines):
            message += " (--guess lists the layouts these shapes fit)"
        print(f"explain: {message}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    import numpy as np

    if args.keras_example:
        return _keras_example(np)

    import jaxconv

    rng = np.random.default_rng(args.seed)
    x = _load("x", args.x, np)
    w = _load("w", args.w, np)
    if args.guess:
        return _guess(args, x, w, jaxconv)
    in_shape = _ints("input-shape", args.input_shape)
    ndim = x.ndim if x is not None else len(in_shape) if in_shape else None
    if ndim is None and w is not None:
        ndim = w.ndim
    if ndim is None and args.kernel_shape:
        ndim = len(_ints("kernel-shape", args.kernel_shape))
    layouts = _layouts(args, ndim)
    lhs, rhs, out = layouts
    g = args.groups
    if x is None:
        if in_shape is None:
            c = 2 * g if g > 1 else 2
            in_shape = _shape(lhs, {"N": 1, "C": c}, 5)
        x = rng.standard_normal(in_shape).round(2).astype(args.dtype)
        x_note = f"seeded random (seed {args.seed}), shape {x.shape}"
    else:
        x_note = f"from {args.x}, shape {x.shape}"
    if w is None:
        w_shape = _ints("kernel-shape", args.kernel_shape)
        if w_shape is None:
            c = x.shape[lhs.index("C")]
            groups = max(g, args.batch_groups)
            sizes = {"O": 2 * groups if groups > 1 else 3, "I": max(c // g, 1)}
            if args.transpose and args.transpose_kernel:  # w's O axis is x's features
                sizes = {"O": c, "I": 3}
            w_shape = _shape(rhs, sizes, 3)
        w = rng.standard_normal(w_shape).round(2).astype(x.dtype)
        w_note = f"seeded random (seed {args.seed}), shape {w.shape}"
    else:
        w_note = f"from {args.w}, shape {w.shape}"
    kwargs = dict(
        dilation=_int_or_ints("dilation", args.dilation),
        groups=g,
        dimension_numbers=layouts,
        padding_mode=args.padding_mode,
    )
    strides = _int_or_ints("strides", args.strides)
    padding = _padding(args.padding)
    b = np.load(args.b) if args.b else None
    if args.transpose or args.lhs_dilation or args.batch_groups != 1:
        return _run_form(args, np, x, w, b, layouts, x_note, w_note)
    y = np.asarray(jaxconv.conv(x, w, strides, padding, **kwargs))
    index = _ints("index", args.index)
    if index is None:
        index = tuple(
            0 if letter in "NC" else size // 2 for letter, size in zip(out, y.shape, strict=True)
        )
    e = jaxconv.explain(x, w, index, strides, padding, bias=b, **kwargs)
    print(f"x ({lhs}): {x_note}")
    print(f"w ({rhs}): {w_note}")
    print()
    print(e)
    print()
    got = y[e.index] + (0 if b is None else b[e.out_feature])
    at = f"out[{', '.join(map(str, e.index))}]"
    ok = np.isclose(got, e.value, rtol=1e-4, atol=1e-5)
    print(f"jaxconv.conv gives {at} = {got:.7g}", end="")
    print((" with the bias" if b is not None else "") + (" (agrees)" if ok else " (MISMATCH)"))
    if args.padding_mode == "zeros" and np.issubdtype(x.dtype, np.floating):
        # lax's answer too, judged like jaxconv's against the float64 sum above: where they
        # differ it is XLA's convolution that is wrong (openxla/xla#48713), not jaxconv.
        from jax import lax

        p = e.plan
        y_lax = lax.conv_general_dilated(
            x, w, p.strides, p.pads, rhs_dilation=p.rhs_dilation, dimension_numbers=layouts,
            feature_group_count=g, precision=lax.Precision.HIGHEST,
        )  # fmt: skip
        value = np.asarray(y_lax)[e.index] + (0 if b is None else b[e.out_feature])
        print(f"lax.conv_general_dilated gives {at} = {value:.7g}", end="")
        if np.isclose(value, e.value, rtol=1e-4, atol=1e-5):
            print(" (agrees)")
        else:
            print(
                ": lax disagrees with the float64 reference here (the sum above); XLA's own "
                "convolution is known to be wrong for some paddings (openxla/xla#48713)"
            )
    _png(args, e)
    return 0 if ok else 1


def _png(args: argparse.Namespace, e: Any) -> None:
    if args.png:
        e.plot(args.png)
        print(f"picture written to {args.png}")


def _run_form(args, np, x, w, b, layouts, x_note, w_note) -> int:
    """``--transpose`` (conv_transpose) or ``--lhs-dilation``/``--batch-groups``
    (conv_general_dilated): explain one element and check it against jaxconv."""
    import jaxconv

    lhs, rhs, out = layouts
    n = len(lhs) - 2
    strides = _per_dim("strides", args.strides, n)
    dilation = _per_dim("dilation", args.dilation, n)
    if args.transpose:
        padding: Any = _padding(args.padding)
        consistent = args.torch_padding is not None
        if consistent:
            # PyTorch's ConvTranspose(padding=p, output_padding=op): the forward
            # convolution's padding (p, p - op) with use_consistent_padding.
            p = _per_dim("torch-padding", args.torch_padding, n)
            op = _per_dim("output-padding", args.output_padding, n)
            padding = tuple((a, a - c) for a, c in zip(p, op, strict=True))
        fn_args = (strides, padding, dilation, layouts, args.transpose_kernel)
        kw = {"use_consistent_padding": consistent}
        y = np.asarray(jaxconv.conv_transpose(x, w, *fn_args, **kw))
        name = "jaxconv.conv_transpose"
        explain = jaxconv.explain_conv_transpose
    else:
        padding = _padding(args.padding)
        lhs_dil = _per_dim("lhs-dilation", args.lhs_dilation or "1", n)
        fn_args = (strides, padding, lhs_dil, dilation, layouts, args.groups, args.batch_groups)
        kw = {"padding_mode": args.padding_mode}
        y = np.asarray(jaxconv.conv_general_dilated(x, w, *fn_args, **kw))
        name = "jaxconv.conv_general_dilated"
        explain = jaxconv.explain_conv_general_dilated
    index = _ints("index", args.index)
    if index is None:
        index = tuple(
            0 if letter in "NC" else size // 2 for letter, size in zip(out, y.shape, strict=True)
        )
    e = explain(x, w, index, *fn_args, bias=b, **kw)
    print(f"x ({lhs}): {x_note}")
    print(f"w ({rhs}): {w_note}")
    print()
    print(e)
    print()
    got = y[e.index] + (0 if b is None else b[e.out_feature])
    ok = np.isclose(got, e.value, rtol=1e-4, atol=1e-5)
    print(f"{name} gives out[{', '.join(map(str, e.index))}] = {got:.7g}", end="")
    print((" with the bias" if b is not None else "") + (" (agrees)" if ok else " (MISMATCH)"))
    _png(args, e)
    return 0 if ok else 1


def _per_dim(name: str, text: str, n: int) -> tuple[int, ...]:
    vals = _ints(name, text) or (1,)
    return vals * n if len(vals) == 1 else vals


def _guess(args: argparse.Namespace, x: Any, w: Any, jaxconv: Any) -> int:
    """``--guess``: the readings of the two shapes that fit, and how to ask for each."""
    x_shape = x.shape if x is not None else _ints("input-shape", args.input_shape)
    w_shape = w.shape if w is not None else _ints("kernel-shape", args.kernel_shape)
    if not x_shape or not w_shape:
        raise _UsageError("--guess needs --input-shape and --kernel-shape (or --x and --w)")
    assumed = _layouts(args, len(x_shape))
    strides = _int_or_ints("strides", args.strides)
    padding = _padding(args.padding)
    dilation = _int_or_ints("dilation", args.dilation)
    guesses = jaxconv.guess_layouts(
        x_shape, w_shape, strides=strides, padding=padding, dilation=dilation,
        groups=args.groups, assumed=assumed,
    )  # fmt: skip
    print(f"input shape {tuple(x_shape)}, kernel shape {tuple(w_shape)}; strides {args.strides}, "
          f"padding {args.padding}, dilation {args.dilation}, groups {args.groups}.")  # fmt: skip
    print(f"Layouts assumed: input {assumed[0]!r}, kernel {assumed[1]!r}, output {assumed[2]!r}.")
    if not guesses:
        print("No common reading fits (input NHWC/NCHW, kernel HWIO/OIHW/IOHW).")
        return 1
    print("Readings that fit, likeliest first:")
    for k, guess in enumerate(guesses, 1):
        lhs, rhs, _ = guess.dimension_numbers
        print(f"{k}. {guess}")
        if not guess.flip:
            print(f"    here: --layout {lhs} --kernel-layout {rhs}")
    return 0


def _true_convolution_valid(image, kernel, np):
    """Theano's conv2d (Keras 1): a true convolution, by its definition, 'valid' mode.

    ``out[i, j] = sum_{a, b} image[i + kh - 1 - a, j + kw - 1 - b] * kernel[a, b]``
    """
    kh, kw = kernel.shape
    h, w = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = np.zeros((h, w), np.float64)
    for i in range(h):
        for j in range(w):
            for a in range(kh):
                for b in range(kw):
                    out[i, j] += image[i + kh - 1 - a, j + kw - 1 - b] * kernel[a, b]
    return out


def _keras_example(np) -> int:
    import jax.numpy as jnp

    import jaxconv

    rule = "-" * 78
    # Small integers, so that every product can be checked by eye.
    rng = np.random.default_rng(13)
    image = rng.integers(0, 10, (10, 10)).astype(np.float32)  # one 10x10 grey image
    kernel = rng.integers(-2, 3, (32, 3, 3)).astype(np.float32)  # 32 filters of 3x3
    b = rng.integers(-2, 3, 32).astype(np.float32)
    hand = "np.sum(x[0:3, 0:3] * w[:, :, 0, 0]) + b[0]"
    print("The question: a Keras model")
    print("    Conv2D(32, (3, 3), activation='relu', input_shape=(10, 10, 1))")
    print("on a 10x10 one-channel image x. The first output of filter 0, by hand:")
    print(f"    {hand}")
    print("and the model said something else. Seeded data below (seed 13, small integers):")
    print("the image, 32 filters of 3x3 and the bias b (32,); 'pre-activation' is before relu.")
    mismatches = 0

    def check(label: str, got: float, want: float) -> None:
        nonlocal mismatches
        same = abs(got - want) <= 1e-4 * max(1.0, abs(want))
        print(f"    {label} = {got:.6g}  ->  {'matches' if same else 'differs from'} the model")

    def expect(got: float, want: float) -> None:
        nonlocal mismatches
        if abs(got - want) > 1e-4 * max(1.0, abs(want)):
            mismatches += 1

    # 1. channels_last: TensorFlow, Keras 2 and 3.
    print()
    print(rule)
    print("1. data_format='channels_last' (TensorFlow; Keras 2 and 3)")
    print(rule)
    x = image[None, :, :, None]  # (1, 10, 10, 1) NHWC
    w = np.transpose(kernel, (1, 2, 0))[:, :, None, :].copy()  # (3, 3, 1, 32) HWIO
    out = np.asarray(jaxconv.conv2d(x, w)) + b  # (1, 8, 8, 32), NHWC
    model = float(out[0, 0, 0, 0])
    print(f"x: {x.shape} NHWC, kernel w: {w.shape} HWIO (kh, kw, in, out), cross-correlation.")
    print(f"model pre-activation out[0, 0, 0, 0] = {model:.6g}, relu = {max(model, 0):.6g}")
    print()
    print("jaxconv.explain(x, w, (0, 0, 0, 0), bias=b): the bias is a term of its own")
    e = jaxconv.explain(x, w, (0, 0, 0, 0), bias=b)
    print(_indent(str(e)))
    print()
    print("The hand computation, with x the (10, 10) image, is right in this format:")
    hand_last = float(np.sum(image[0:3, 0:3] * w[:, :, 0, 0]) + b[0])
    check(hand, hand_last, model)
    expect(hand_last, model)
    expect(float(e.value), model)

    # 2. channels_first on Theano: Keras 1.
    print()
    print(rule)
    print("2. data_format='channels_first' on Theano (Keras 1, image_dim_ordering='th')")
    print(rule)
    x_th = image[None, None, :, :]  # (1, 1, 10, 10) NCHW
    w_th = kernel[:, None, :, :].copy()  # (32, 1, 3, 3) OIHW, as Theano stores it
    theano = _true_convolution_valid(image.astype(np.float64), w_th[0, 0].astype(np.float64), np)
    model_th = float(theano[0, 0] + b[0])
    print(f"x: {x_th.shape} NCHW, kernel w: {w_th.shape} OIHW (out, in, kh, kw).")
    print("Theano's conv2d is a true convolution: it flips the kernel before sliding it.")
    print(f"model pre-activation out[0, 0, 0, 0] = {model_th:.6g}, relu = {max(model_th, 0):.6g}")
    print()
    print("What went wrong by hand:")
    print(f"  - w[:, :, 0, 0] of the (32, 1, 3, 3) kernel has shape {w_th[:, :, 0, 0].shape}: the")
    print("    top-left tap of all 32 filters, not filter 0's 3x3 window; and x[0:3, 0:3] of")
    print(f"    the (1, 1, 10, 10) input is the whole array, shape {x_th[0:3, 0:3].shape}.")
    print("  - with the axes fixed, filter 0's window is w[0, 0], but unflipped it is still wrong:")
    unflipped = float(np.sum(image[0:3, 0:3] * w_th[0, 0]) + b[0])
    check("np.sum(x[0, 0, 0:3, 0:3] * w[0, 0]) + b[0]", unflipped, model_th)
    print("  - flipped, as Theano applies it, it is right:")
    flipped = float(np.sum(image[0:3, 0:3] * w_th[0, 0, ::-1, ::-1]) + b[0])
    check("np.sum(x[0, 0, 0:3, 0:3] * w[0, 0, ::-1, ::-1]) + b[0]", flipped, model_th)
    expect(flipped, model_th)
    print()
    print("jaxconv computes cross-correlation (as lax, PyTorch and TensorFlow do), so flip the")
    print("Theano kernel once with convert_kernel(flip=True), then explain in the same layout:")
    w_flip = np.asarray(jaxconv.convert_kernel(w_th, "OIHW", "OIHW", flip=True))
    dn = ("NCHW", "OIHW", "NCHW")
    print("  w = jaxconv.convert_kernel(w_theano, 'OIHW', 'OIHW', flip=True)")
    print(f"  jaxconv.explain(x, w, (0, 0, 0, 0), dimension_numbers={dn}, bias=b):")
    e = jaxconv.explain(x_th, w_flip, (0, 0, 0, 0), dimension_numbers=dn, bias=b)
    print(_indent(str(e)))
    expect(float(e.value), model_th)
    y_th = jaxconv.conv(jnp.asarray(x_th), jnp.asarray(w_flip), dimension_numbers=dn)
    expect(float(y_th[0, 0, 0, 0]) + float(b[0]), model_th)

    # 3. Porting the Theano weights to channels-last.
    print()
    print(rule)
    print("3. Porting: Theano weights into a channels-last (HWIO) model")
    print(rule)
    w_hwio = np.asarray(jaxconv.convert_kernel(w_th, "OIHW", "HWIO", flip=True))
    print("  w = jaxconv.convert_kernel(w_theano, 'OIHW', 'HWIO', flip=True)  # (3, 3, 1, 32)")
    print("and the original hand computation now holds, with x the (10, 10) image:")
    ported = float(np.sum(image[0:3, 0:3] * w_hwio[:, :, 0, 0]) + b[0])
    check(hand, ported, model_th)
    expect(ported, model_th)
    print()
    print("Why it differed: the hand formula assumed channels-last data, an HWIO kernel and")
    print("cross-correlation; the Theano model had channels-first data, an OIHW kernel, and")
    print("a true convolution (the kernel flipped in both spatial axes).")
    if mismatches:
        print(f"MISMATCH: {mismatches} check(s) above disagree with the model")
        return 1
    return 0


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())
