"""The public convolutions: lax's drop-in, the friendly N-d form, 2-d and transposed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.lax import PrecisionLike
from jax.sharding import PartitionSpec, Sharding
from jax.typing import ArrayLike, DTypeLike

from . import _grad, _policy, _shard
from ._checks import check_array, check_same_dtype, int_tuple
from ._layout import DimensionNumbers, conv_dimension_numbers, from_canonical, to_canonical
from ._padding import pad_spatial, parse_padding, transposed_pads
from ._plan import FRIENDLY, ConvPlan, dilated_size, make_plan


def _arrays(lhs: Any, rhs: Any, names: tuple[str, str] = ("lhs", "rhs")) -> tuple[Any, Any]:
    """Both arrays checked (arrays, numeric, the same dtype), once."""
    lhs = check_array(names[0], lhs)
    rhs = check_array(names[1], rhs)
    check_same_dtype(lhs, rhs, *names)
    return lhs, rhs


def _friendly_arrays(x: Any, w: Any, num_spatial: int | None = None) -> tuple[Any, Any]:
    """``x`` and ``w`` of ``conv`` (of ``conv{num_spatial}d``: ``x`` of that rank)."""
    x = check_array("x", x)
    if num_spatial is not None and x.ndim != num_spatial + 2:
        raise ValueError(
            f"conv{num_spatial}d needs a rank-{num_spatial + 2} `x`, got shape {x.shape}; use "
            "jaxconv.conv."
        )
    w = check_array("w", w)
    check_same_dtype(x, w, "x", "w")
    return x, w


def _execute(
    lhs: Any, rhs: Any, plan: ConvPlan, strategy: Any, out_sharding: Any = None,
    axis_names: Any = None,
):  # fmt: skip
    """The convolution of ``plan`` on arrays in the user's layout: the strategy and its
    layout decided once, the arrays moved to that layout, computed, moved back. With
    ``axis_names`` (inside ``shard_map``) ``lhs`` is one block of the input ``plan``
    describes, and the result that block of the output."""
    name, plan = _policy.decide(plan, strategy, lhs.dtype)
    if plan.is_empty:  # an empty output, or empty windows: zeros, as lax gives
        y = jnp.zeros(plan.out_shape, plan.out_dtype(lhs.dtype))
    else:
        rhs_spec = plan.dn.rhs_spec
        x = to_canonical(jnp.asarray(lhs), plan.dn.lhs_spec, plan.channels_first)
        w = jnp.transpose(jnp.asarray(rhs), (*rhs_spec[2:], rhs_spec[1], rhs_spec[0]))
        if axis_names is not None:
            # Inside shard_map: this block's halos exchanged, then its outputs.
            y = _shard.block_conv(x, w, plan, axis_names, name, strategy)
        elif _shard.applies(x, plan):
            # On a mesh: one partitioned op, one halo exchange per split spatial dim.
            y = _shard.convolve(x, w, plan, name, strategy)
        else:
            if plan.padding_mode != "zeros":
                # Reflect/replicate/circular build the padded input; the core then sees VALID.
                x = pad_spatial(x, plan.spatial_axes, plan.pads, padding_mode=plan.padding_mode)
                plan = plan.mode_padded()
            y = _grad.convolve(x, w, plan, name, strategy)
        y = from_canonical(y, plan.dn.out_spec, plan.channels_first)
    if out_sharding is not None:
        y = jax.lax.with_sharding_constraint(y, out_sharding)
    return y


def conv_general_dilated(
    lhs: ArrayLike,
    rhs: ArrayLike,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: tuple[str, str, str] | DimensionNumbers | None = None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision: PrecisionLike = None,
    preferred_element_type: DTypeLike | None = None,
    out_sharding: Sharding | PartitionSpec | None = None,
    *,
    padding_mode: str = "zeros",
    strategy: str = "auto",
    spatial_axis_names: Sequence[str | Sequence[str] | None] | None = None,
) -> jax.Array:
    """A drop-in for `jax.lax.conv_general_dilated`, computed from lax primitives.

    The same arguments, defaults and results as lax (cross-correlation: the kernel is not
    flipped). Strides, padding and dilations are listed in the order of the kernel spec's
    spatial letters.

    Args:
        lhs: input of rank ``n + 2``; with the default ``dimension_numbers``
            ``(N, C, *spatial)`` (``NCHW`` for 2-d).
        rhs: kernel of rank ``n + 2``; by default ``(O, I, *spatial)`` (``OIHW``), with
            ``I = C // feature_group_count``.
        window_strides: ``n`` positive ints.
        padding: ``'VALID'``, ``'SAME'`` (odd padding at the end), ``'SAME_LOWER'`` (odd
            padding at the start) or ``n`` ``(low, high)`` pairs; negative pairs crop.
        lhs_dilation: ``n`` ints, zeros inserted between input elements (transposed
            convolution); cannot be combined with string padding.
        rhs_dilation: ``n`` ints, the kernel (atrous) dilation.
        dimension_numbers: ``None`` (``NCHW``/``OIHW``/``NCHW``), three layout strings such as
            ``("NHWC", "HWIO", "NHWC")`` — any permutation of the letters, the output's
            may differ from the input's — or a [`DimensionNumbers`][jaxconv.DimensionNumbers].
        feature_group_count: split the input features into this many groups, each
            convolved with its own slice of the output features.
        batch_group_count: split the batch into this many groups (as in the kernel
            gradient of a grouped convolution).
        precision: as for `jax.lax.dot_general`.
        preferred_element_type: accumulation and output dtype.
        out_sharding: an optional sharding for the output (Flax's ``nnx.Conv`` passes it).
        padding_mode: ``'zeros'`` (lax's), or ``'reflect'``, ``'replicate'``, ``'circular'``
            (PyTorch's meaning).
        strategy: ``'auto'`` or the name of a compute strategy (see ``jaxconv.STRATEGIES``).
        spatial_axis_names: inside ``jax.shard_map`` only: per spatial dim (kernel spec
            order), the mesh axis name (or tuple of names) along which the image is split
            into the blocks ``lhs`` is one of, or ``None`` for a dim ``lhs`` holds whole.
            Then ``lhs`` is this device's block, padding and output sizes are those of the
            whole image, each block gets the rows its windows need from its neighbours
            (one ``ppermute`` each way per split dim, wrapping around for ``'circular'``)
            and the result is this block of the whole output. Without it, a block is
            convolved as an image of its own.

    Returns:
        The output in the layout of ``dimension_numbers[2]``, by default
        ``(N // batch_group_count, O, *out_spatial)``.

    Examples:
        >>> import jax.numpy as jnp, jaxconv
        >>> x, w = jnp.ones((1, 1, 4, 4)), jnp.ones((1, 1, 3, 3))
        >>> jaxconv.conv_general_dilated(x, w, (1, 1), "VALID")[0, 0].tolist()
        [[9.0, 9.0], [9.0, 9.0]]
    """
    lhs, rhs = _arrays(lhs, rhs)
    args = (
        rhs.shape, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
        feature_group_count, batch_group_count, padding_mode,
    )  # fmt: skip
    settings = dict(dtype=lhs.dtype, precision=precision,
                    preferred_element_type=preferred_element_type)  # fmt: skip
    # lax returns an empty output; say why it is empty (of the whole image, for a block).
    block = spatial_axis_names is not None
    plan = make_plan(lhs.shape, *args, **settings, empty_output="allow" if block else "warn")
    if block:  # lhs is one block of the image: the plan is the whole image's
        shape = _shard.whole_shape(lhs.shape, plan, spatial_axis_names)
        plan = make_plan(shape, *args, **settings, empty_output="warn")
    return _execute(lhs, rhs, plan, strategy, out_sharding, spatial_axis_names)


def chosen_strategy(
    lhs: ArrayLike | jax.ShapeDtypeStruct,
    rhs: ArrayLike | jax.ShapeDtypeStruct,
    window_strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: tuple[str, str, str] | DimensionNumbers | None = None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    *,
    padding_mode: str = "zeros",
    strategy: str = "auto",
    precision: Any = None,
    preferred_element_type: Any = None,
) -> str:
    """The strategy ``strategy='auto'`` (or ``'tune'``) runs for
    [`conv_general_dilated`][jaxconv.conv_general_dilated] with these arguments (arrays or
    `jax.ShapeDtypeStruct`).

    For ``'tune'`` it is the choice cached for the default device, measured now if the
    cache has none (as the first program with this convolution would). It is the strategy
    of the convolution where it is not differentiated: differentiated, ``'auto'`` runs
    ``col2im`` where it names ``direct`` on a few-feature channels-first layer (see
    "Choosing a strategy" in the docs)."""
    if strategy not in ("auto", "tune"):
        raise ValueError(f"`strategy` must be 'auto' or 'tune', got {strategy!r}.")
    lhs = lhs if hasattr(lhs, "shape") and hasattr(lhs, "dtype") else check_array("lhs", lhs)
    rhs = rhs if hasattr(rhs, "shape") and hasattr(rhs, "dtype") else check_array("rhs", rhs)
    plan = make_plan(
        lhs.shape, rhs.shape, window_strides, padding, lhs_dilation, rhs_dilation,
        dimension_numbers, feature_group_count, batch_group_count, padding_mode, dtype=lhs.dtype,
        precision=precision, preferred_element_type=preferred_element_type,
    )  # fmt: skip
    return _policy.chosen(plan, strategy, lhs.dtype)


def _friendly_conv(
    x, w, num_spatial, strides, padding, dilation, groups, dimension_numbers, padding_mode,
    precision, preferred_element_type, strategy,
):  # fmt: skip
    """``conv`` (``conv{num_spatial}d``): the arrays checked, one plan, executed."""
    x, w = _friendly_arrays(x, w, num_spatial)
    plan = make_plan(
        x.shape, w.shape, strides, padding, None, dilation, dimension_numbers, groups, 1,
        padding_mode, dtype=x.dtype, precision=precision,
        preferred_element_type=preferred_element_type, form=FRIENDLY, empty_output="error",
    )  # fmt: skip
    return _execute(x, w, plan, strategy)


def conv(
    x: ArrayLike,
    w: ArrayLike,
    strides: int | Sequence[int] = 1,
    padding: str | int | Sequence[int] | Sequence[tuple[int, int]] = "VALID",
    *,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    dimension_numbers: tuple[str, str, str] | DimensionNumbers | None = None,
    padding_mode: str = "zeros",
    precision: PrecisionLike = None,
    preferred_element_type: DTypeLike | None = None,
    strategy: str = "auto",
) -> jax.Array:
    """An N-d convolution (cross-correlation), channels-last by default.

    Args:
        x: input; by default channels-last of its rank: ``(N, W, C)``, ``(N, H, W, C)`` or
            ``(N, D, H, W, C)``.
        w: kernel; by default ``(W, I, O)``, ``(H, W, I, O)`` or ``(D, H, W, I, O)``, with
            ``I = C // groups``.
        strides: an int or one per spatial dim.
        padding: ``'VALID'``, ``'SAME'`` or ``'SAME_LOWER'`` (any case; see
            [`conv_general_dilated`][jaxconv.conv_general_dilated]), an int (every side), one int
            per spatial dim (symmetric) or one ``(low, high)`` pair per spatial dim.
        dilation: kernel dilation, an int or one per spatial dim.
        groups: feature groups; ``groups == C`` with ``I == 1`` is a depthwise convolution.
        dimension_numbers: three layout strings or a [`DimensionNumbers`][jaxconv.DimensionNumbers];
            strides, padding and dilation follow the kernel layout's spatial order.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``, with
            PyTorch's meaning (reflect needs every pad smaller than that input dim).
        precision: as for `jax.lax.dot_general`.
        preferred_element_type: accumulation and output dtype.
        strategy: ``'auto'`` or a compute strategy's name.

    Returns:
        The output in the output layout, by default ``(N, *out_spatial, O)``.

    Examples:
        >>> import jax.numpy as jnp, jaxconv
        >>> x, w = jnp.ones((1, 5, 5, 2)), jnp.ones((3, 3, 2, 4))
        >>> jaxconv.conv(x, w, padding="SAME").shape
        (1, 5, 5, 4)
    """
    return _friendly_conv(
        x, w, None, strides, padding, dilation, groups, dimension_numbers, padding_mode,
        precision, preferred_element_type, strategy,
    )  # fmt: skip


def conv2d(
    x: ArrayLike,
    w: ArrayLike,
    strides: int | Sequence[int] = 1,
    padding: str | int | Sequence[int] | Sequence[tuple[int, int]] = "VALID",
    *,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    dimension_numbers: tuple[str, str, str] | DimensionNumbers = ("NHWC", "HWIO", "NHWC"),
    padding_mode: str = "zeros",
    precision: PrecisionLike = None,
    preferred_element_type: DTypeLike | None = None,
    strategy: str = "auto",
) -> jax.Array:
    """A 2-d convolution: [`conv`][jaxconv.conv] for rank-4 input, ``NHWC``/``HWIO`` by default.

    Args:
        x: ``(N, H, W, C)`` by default.
        w: ``(kh, kw, C // groups, O)`` by default.
        strides: as for [`conv`][jaxconv.conv].
        padding: as for [`conv`][jaxconv.conv].
        dilation: as for [`conv`][jaxconv.conv].
        groups: as for [`conv`][jaxconv.conv].
        dimension_numbers: three layout strings, default ``("NHWC", "HWIO", "NHWC")``.
        padding_mode: as for [`conv`][jaxconv.conv].
        precision: as for [`conv`][jaxconv.conv].
        preferred_element_type: as for [`conv`][jaxconv.conv].
        strategy: as for [`conv`][jaxconv.conv].

    Returns:
        ``(N, H_out, W_out, O)`` by default.

    Examples:
        >>> import jax.numpy as jnp, jaxconv
        >>> x = jnp.ones((1, 10, 10, 1)); w = jnp.ones((3, 3, 1, 32))
        >>> jaxconv.conv2d(x, w, strides=2, padding="SAME").shape
        (1, 5, 5, 32)
    """
    return _friendly_conv(
        x, w, 2, strides, padding, dilation, groups, dimension_numbers, padding_mode,
        precision, preferred_element_type, strategy,
    )  # fmt: skip


def conv1d(
    x: ArrayLike,
    w: ArrayLike,
    strides: int | Sequence[int] = 1,
    padding: str | int | Sequence[int] | Sequence[tuple[int, int]] = "VALID",
    *,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    dimension_numbers: tuple[str, str, str] | DimensionNumbers = ("NWC", "WIO", "NWC"),
    padding_mode: str = "zeros",
    precision: PrecisionLike = None,
    preferred_element_type: DTypeLike | None = None,
    strategy: str = "auto",
) -> jax.Array:
    """A 1-d convolution: [`conv`][jaxconv.conv] for rank-3 input, ``NWC``/``WIO`` by default.

    For PyTorch's ``Conv1d`` layouts pass ``dimension_numbers=("NCW", "OIW", "NCW")``.

    Args:
        x: ``(N, W, C)`` by default.
        w: ``(kw, C // groups, O)`` by default.
        strides: as for [`conv`][jaxconv.conv].
        padding: as for [`conv`][jaxconv.conv].
        dilation: as for [`conv`][jaxconv.conv].
        groups: as for [`conv`][jaxconv.conv].
        dimension_numbers: three layout strings, default ``("NWC", "WIO", "NWC")``.
        padding_mode: as for [`conv`][jaxconv.conv].
        precision: as for [`conv`][jaxconv.conv].
        preferred_element_type: as for [`conv`][jaxconv.conv].
        strategy: as for [`conv`][jaxconv.conv].

    Returns:
        ``(N, W_out, O)`` by default.

    Examples:
        >>> import jax.numpy as jnp, jaxconv
        >>> x, w = jnp.ones((2, 16, 3)), jnp.ones((5, 3, 8))
        >>> jaxconv.conv1d(x, w, padding="SAME").shape
        (2, 16, 8)
    """
    return _friendly_conv(
        x, w, 1, strides, padding, dilation, groups, dimension_numbers, padding_mode,
        precision, preferred_element_type, strategy,
    )  # fmt: skip


def conv3d(
    x: ArrayLike,
    w: ArrayLike,
    strides: int | Sequence[int] = 1,
    padding: str | int | Sequence[int] | Sequence[tuple[int, int]] = "VALID",
    *,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    dimension_numbers: tuple[str, str, str] | DimensionNumbers = ("NDHWC", "DHWIO", "NDHWC"),
    padding_mode: str = "zeros",
    precision: PrecisionLike = None,
    preferred_element_type: DTypeLike | None = None,
    strategy: str = "auto",
) -> jax.Array:
    """A 3-d convolution: [`conv`][jaxconv.conv] for rank-5 input, ``NDHWC``/``DHWIO`` by
    default.

    For PyTorch's ``Conv3d`` layouts pass ``dimension_numbers=("NCDHW", "OIDHW", "NCDHW")``.

    Args:
        x: ``(N, D, H, W, C)`` by default.
        w: ``(kd, kh, kw, C // groups, O)`` by default.
        strides: as for [`conv`][jaxconv.conv].
        padding: as for [`conv`][jaxconv.conv].
        dilation: as for [`conv`][jaxconv.conv].
        groups: as for [`conv`][jaxconv.conv].
        dimension_numbers: three layout strings, default ``("NDHWC", "DHWIO", "NDHWC")``.
        padding_mode: as for [`conv`][jaxconv.conv].
        precision: as for [`conv`][jaxconv.conv].
        preferred_element_type: as for [`conv`][jaxconv.conv].
        strategy: as for [`conv`][jaxconv.conv].

    Returns:
        ``(N, D_out, H_out, W_out, O)`` by default.

    Examples:
        >>> import jax.numpy as jnp, jaxconv
        >>> x, w = jnp.ones((1, 4, 6, 6, 2)), jnp.ones((3, 3, 3, 2, 5))
        >>> jaxconv.conv3d(x, w, strides=(1, 2, 2), padding="SAME").shape
        (1, 4, 3, 3, 5)
    """
    return _friendly_conv(
        x, w, 3, strides, padding, dilation, groups, dimension_numbers, padding_mode,
        precision, preferred_element_type, strategy,
    )  # fmt: skip


def _transpose_pads(k: int, s: int, word: str) -> tuple[int, int]:
    """Padding of the dilated input that makes a transposed conv match lax's 'SAME'/'VALID'."""
    if word == "SAME":
        total = k + s - 2
        low = k - 1 if s > k - 1 else -(-total // 2)
    else:
        total = k + s - 2 + max(k - s, 0)
        low = k - 1
    return low, total - low


def transpose_padding(
    padding: Any,
    kernel: Sequence[int],
    strides: Sequence[int],
    rhs_dilation: Sequence[int],
    use_consistent_padding: bool,
    output_padding: Any = None,
) -> Any:
    """[`conv_transpose`][jaxconv.conv_transpose]'s ``padding`` as the padding of its dilated
    input (pairs), or the pairs/ints as given when they already are (lax's convention).
    ``output_padding`` (PyTorch's) adds rows at the end; it needs explicit pairs."""
    n = len(kernel)
    window = list(map(dilated_size, kernel, rhs_dilation))
    if isinstance(padding, str):
        word = padding.upper()
        if word not in ("SAME", "VALID"):
            raise ValueError(
                f"`padding` of conv_transpose must be 'SAME', 'VALID' or (low, high) pairs, got "
                f"{padding!r}."
            )
        if output_padding is not None:
            raise ValueError(
                f"`output_padding` needs explicit padding pairs (PyTorch's `padding`), got "
                f"padding {padding!r}."
            )
        return tuple(_transpose_pads(k, s, word) for k, s in zip(window, strides, strict=True))
    if use_consistent_padding or output_padding is not None:
        pairs = parse_padding(padding, n, allow_ints=False)
        extra = int_tuple("output_padding", output_padding or 0, n, minimum=0, broadcast=True)
        if not use_consistent_padding:  # pads of the dilated input: back to the forward's
            pairs = tuple(
                (k - 1 - lo, k - 1 - hi) for k, (lo, hi) in zip(window, pairs, strict=True)
            )
        return transposed_pads(pairs, window, extra, strides, rhs_dilation)
    return padding


def conv_transpose(
    lhs: ArrayLike,
    rhs: ArrayLike,
    strides: Sequence[int],
    padding: str | Sequence[tuple[int, int]],
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers: tuple[str, str, str] | DimensionNumbers | None = None,
    transpose_kernel: bool = False,
    precision: PrecisionLike = None,
    preferred_element_type: DTypeLike | None = None,
    *,
    use_consistent_padding: bool = False,
    output_padding: int | Sequence[int] | None = None,
    strategy: str = "auto",
) -> jax.Array:
    """A transposed (fractionally strided) convolution with `jax.lax.conv_transpose`'s
    semantics.

    The input is dilated by ``strides`` and convolved with stride 1. ``'SAME'`` gives
    ``out = in * stride``; ``'VALID'`` gives ``out = in * stride + max(k_eff - stride, 0)``;
    explicit pairs pad the dilated input directly (or, with ``use_consistent_padding``,
    are the padding of the forward convolution this one transposes, as in PyTorch:
    ``out = (in - 1) * stride - lo - hi + k_eff + output_padding``).

    PyTorch's ``ConvTranspose2d(C, O, k, stride=s, padding=p, output_padding=op)`` with
    ``weight`` ``(C, O, kh, kw)`` is ``conv_transpose(x, weight, (s, s), ((p, p), (p, p)),
    dimension_numbers=("NCHW", "OIHW", "NCHW"), transpose_kernel=True,
    use_consistent_padding=True, output_padding=op)``.

    Args:
        lhs: input; by default channels-last ``(N, *spatial, C)``.
        rhs: kernel; by default ``(*spatial, I, O)``. With ``transpose_kernel=True`` its
            spatial axes are flipped and ``I``/``O`` swapped first, so the kernel of the
            forward convolution gives its gradient (Keras' ``Conv2DTranspose``).
        strides: ``n`` positive ints, the upsampling factor.
        padding: ``'SAME'``, ``'VALID'`` or ``n`` ``(low, high)`` pairs.
        rhs_dilation: ``n`` ints, kernel dilation.
        dimension_numbers: three layout strings; default channels-last (``NHWC``/``HWIO``).
        transpose_kernel: flip the kernel's spatial axes and swap its ``I``/``O`` axes.
        precision: as for [`conv_general_dilated`][jaxconv.conv_general_dilated].
        preferred_element_type: as for [`conv_general_dilated`][jaxconv.conv_general_dilated].
        use_consistent_padding: interpret pairs as the forward convolution's padding
            (PyTorch's ``padding``).
        output_padding: an int or one per spatial dim, added to the high side of the
            output (PyTorch's ``output_padding``; each smaller than the stride or the
            dilation); only with explicit padding pairs.
        strategy: ``'auto'`` or a compute strategy's name.

    Returns:
        The output in the output layout, by default ``(N, *out_spatial, O)``.

    Examples:
        >>> import jax.numpy as jnp, jaxconv
        >>> x, w = jnp.ones((1, 4, 4, 2)), jnp.ones((3, 3, 2, 5))
        >>> jaxconv.conv_transpose(x, w, (2, 2), "SAME").shape
        (1, 8, 8, 5)
    """
    lhs, rhs = _arrays(lhs, rhs)
    if lhs.ndim != rhs.ndim:
        raise ValueError(
            f"`lhs` and `rhs` must have the same rank, got shapes {lhs.shape} and {rhs.shape}."
        )
    dn = conv_dimension_numbers(lhs.ndim, dimension_numbers, default="channels_last")
    n = dn.num_spatial
    strides = int_tuple("strides", strides, n)
    rhs_dilation = int_tuple("rhs_dilation", rhs_dilation, n)
    kernel = [rhs.shape[a] for a in dn.rhs_spec[2:]]
    pads = transpose_padding(
        padding, kernel, strides, rhs_dilation, use_consistent_padding, output_padding
    )
    if transpose_kernel:
        rhs = jnp.flip(jnp.asarray(rhs), axis=dn.rhs_spec[2:])
        rhs = jnp.swapaxes(rhs, dn.rhs_spec[0], dn.rhs_spec[1])
    plan = make_plan(
        lhs.shape, rhs.shape, (1,) * n, pads, strides, rhs_dilation, dn, dtype=lhs.dtype,
        precision=precision, preferred_element_type=preferred_element_type, diagnose=False,
    )  # fmt: skip
    return _execute(lhs, rhs, plan, strategy)
