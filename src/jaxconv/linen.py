"""Flax Linen modules on jaxconv: ``Conv``, ``ConvTranspose`` and ``ConvLocal``.

Drop-in replacements for ``flax.linen.Conv``, ``flax.linen.ConvTranspose`` and
``flax.linen.ConvLocal``: the same attributes, the same parameter trees (``kernel``,
``bias``), shapes, initialisers and outputs, so ``ours.apply(params_from_flax, x)`` works
unchanged. Beyond Flax they take ``dimension_numbers=`` (the kernel parameter is stored in
the kernel layout), ``padding_mode=``, an injectable contraction function, and
[`load_kernel`][jaxconv.linen.load_kernel] fills a parameter tree from a kernel in another
framework's layout.

Importing this module imports Flax (``pip install 'jaxconv[flax]'``); ``import jaxconv``
does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.lax import PrecisionLike
from jax.typing import ArrayLike, DTypeLike

from . import _flax_common as common
from ._conv import conv_general_dilated as _jaxconv_conv
from ._conv import conv_transpose as _jaxconv_conv_transpose
from ._layout import DimensionNumbers

try:
    import flax.linen as nn
    from flax.linen import initializers
    from flax.linen.dtypes import promote_dtype as _promote_dtype
except ImportError as e:  # pragma: no cover - exercised in a subprocess test
    raise common.missing_flax("jaxconv.linen") from e

__all__ = ["Conv", "ConvLocal", "ConvTranspose", "load_kernel"]

default_kernel_init = initializers.lecun_normal()
default_bias_init = initializers.zeros_init()


def _promote(module: Any, inputs, kernel, bias):
    return module.promote_dtype(inputs, kernel, bias, dtype=module.dtype)


class Conv(nn.Module):
    """A convolution layer, ``flax.linen.Conv``'s drop-in, computed by jaxconv.

    With the default ``dimension_numbers`` the input is channels-last,
    ``(*batch_dims, *spatial, C)`` (``NHWC`` for 2-d), the ``kernel`` parameter
    ``(*kernel_size, C // feature_group_count, features)`` (``HWIO``), ``bias``
    ``(features,)``, and the output ``(*batch_dims, *out_spatial, features)``. With
    ``dimension_numbers=("NCHW", "OIHW", "NCHW")`` the input is ``(N, C, H, W)`` and the
    kernel ``(features, C // groups, kh, kw)``.

    Attributes:
        features: output features.
        kernel_size: an int (1-d) or one int per spatial dim (kernel layout order).
        strides: an int or one per spatial dim.
        padding: ``'SAME'``, ``'VALID'``, ``'SAME_LOWER'``, ``'CIRCULAR'``,
            ``'REFLECT'``, ``'CAUSAL'`` (1-d), an int, or one int or ``(low, high)`` pair
            per spatial dim, as in ``flax.linen.Conv`` (see [`jaxconv.nnx.Conv`][jaxconv.nnx.Conv]).
        input_dilation: an int or one per spatial dim (transposed convolution).
        kernel_dilation: an int or one per spatial dim (atrous convolution).
        feature_group_count: feature groups; must divide ``C`` and ``features``.
        use_bias: add a ``bias`` parameter of shape ``(features,)``.
        mask: optional array of the kernel's shape multiplied into the kernel.
        dtype: computation dtype (default: promote the input and parameters).
        param_dtype: parameter dtype (default float32).
        precision: as for `jax.lax.conv_general_dilated`.
        kernel_init: the kernel's initialiser; the kernel is drawn as Flax draws it,
            ``(*kernel_size, C // groups, features)``, then moved to the kernel layout, so
            the same key gives Flax's values.
        bias_init: the bias's initialiser, called with the shape ``(features,)``.
        promote_dtype: Flax's dtype promotion function.
        preferred_element_type: accumulation and output dtype of the convolution.
        dimension_numbers: ``None`` (channels-last, as Flax), three layout strings or a
            [`jaxconv.DimensionNumbers`][jaxconv.DimensionNumbers].
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.
        conv_general_dilated: the convolution function (``None``: jaxconv's);
            ``jax.lax.conv_general_dilated`` is accepted.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxconv.linen
        >>> layer = jaxconv.linen.Conv(features=4, kernel_size=(3, 3))
        >>> variables = layer.init(jax.random.key(0), jnp.ones((1, 8, 8, 3)))
        >>> jax.tree_util.tree_map(jnp.shape, variables)
        {'params': {'bias': (4,), 'kernel': (3, 3, 3, 4)}}
        >>> layer.apply(variables, jnp.ones((1, 8, 8, 3))).shape
        (1, 8, 8, 4)
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: None | int | Sequence[int] = 1
    padding: str | int | Sequence[int | tuple[int, int]] = "SAME"
    input_dilation: None | int | Sequence[int] = 1
    kernel_dilation: None | int | Sequence[int] = 1
    feature_group_count: int = 1
    use_bias: bool = True
    mask: jax.Array | None = None
    dtype: DTypeLike | None = None
    param_dtype: DTypeLike = jnp.float32
    precision: PrecisionLike = None
    kernel_init: Callable[..., Any] = default_kernel_init
    bias_init: Callable[..., Any] = default_bias_init
    promote_dtype: Callable[..., Any] = _promote_dtype
    preferred_element_type: DTypeLike | None = None
    dimension_numbers: tuple[str, str, str] | DimensionNumbers | None = None
    padding_mode: str = "zeros"
    conv_general_dilated: Callable[..., Any] | None = _jaxconv_conv

    @nn.compact
    def __call__(self, inputs: ArrayLike) -> jax.Array:
        """Convolve ``inputs`` and add the bias; layouts as the class docstring says."""
        cfg = common.conv_config(
            self.kernel_size,
            self.strides,
            self.padding,
            self.input_dilation,
            self.kernel_dilation,
            self.feature_group_count,
            self.dimension_numbers,
            self.padding_mode,
        )
        features = common.positive("features", self.features)
        fn = common.check_callable(
            "conv_general_dilated", self.conv_general_dilated or _jaxconv_conv
        )
        lay = cfg.layouts
        inputs = jnp.asarray(inputs)
        x, _ = common.fold_batch(inputs, lay.lhs, len(cfg.kernel_size))
        in_features = x.shape[lay.dn.lhs_spec[1]]
        groups = cfg.feature_group_count
        for name, value in (("input features", in_features), ("features", features)):
            if value % groups:
                raise ValueError(
                    f"`feature_group_count` (={groups}) must divide the {name} (={value})."
                )
        kernel_shape = lay.kernel_shape(cfg.kernel_size, in_features // groups, features)
        common.check_mask(self.mask, kernel_shape)
        if self.has_variable("params", "kernel"):
            # Say what the input's layout may be before Flax's parameter shape check does.
            stored = self.get_variable("params", "kernel")
            expected = stored.shape[lay.rhs.index("I")] * groups
            out_shape = common.conv_out_shape(x.shape, stored.shape, cfg)
            common.check_features(x, lay, expected, "the kernel", out_shape)
        kernel = self.param(
            "kernel",
            lambda key: common.init_kernel(
                self.kernel_init,
                key,
                lay,
                cfg.kernel_size,
                in_features // groups,
                features,
                self.param_dtype,
            ),
        )
        if self.mask is not None:
            kernel = kernel * self.mask
        bias = (
            self.param("bias", self.bias_init, (features,), self.param_dtype)
            if self.use_bias
            else None
        )
        inputs, kernel, bias = _promote(self, inputs, kernel, bias)
        return common.apply_conv(
            fn,
            common.accepts_keyword(fn, "padding_mode"),
            cfg,
            inputs,
            kernel,
            bias,
            self.precision,
            self.preferred_element_type,
        )


class ConvLocal(nn.Module):
    """A locally connected layer, ``flax.linen.ConvLocal``'s drop-in, built on
    [`jaxconv.extract_patches`][jaxconv.extract_patches] and one einsum.

    Parameters as in Flax: ``kernel`` ``(*out_spatial, C * prod(kernel_size), features)``
    with rows ordered ``(C, *window)``, ``bias`` ``(*out_spatial, features)``. The input
    is channels-last by default; ``dimension_numbers`` moves the input's and output's axes
    (the kernel keeps its shape).

    Attributes:
        features: output features.
        kernel_size: an int (1-d) or one int per spatial dim (kernel layout order).
        strides: an int or one per spatial dim.
        padding: any padding [`Conv`][jaxconv.linen.Conv] takes (``'SAME'``, ``'VALID'``, an int, or
            one int or ``(low, high)`` pair per spatial dim, ...).
        input_dilation: an int or one per spatial dim (transposed convolution).
        kernel_dilation: an int or one per spatial dim (atrous convolution).
        feature_group_count: must be 1, as in Flax.
        use_bias: add a ``bias`` parameter of shape ``(*out_spatial, features)``.
        mask: optional array of the kernel's shape multiplied into the kernel.
        dtype: computation dtype (default: promote the input and parameters).
        param_dtype: parameter dtype (default float32).
        precision: precision of the einsum, as for `jax.numpy.einsum`.
        kernel_init: the kernel's initialiser, called with the kernel shape
            ``(*out_spatial, C * prod(kernel_size), features)``.
        bias_init: the bias's initialiser, called with the shape
            ``(*out_spatial, features)``.
        promote_dtype: Flax's dtype promotion function.
        preferred_element_type: accumulation and output dtype of the einsum.
        dimension_numbers: ``None`` (channels-last, as Flax), three layout strings or a
            [`jaxconv.DimensionNumbers`][jaxconv.DimensionNumbers]; only the input's and output's
            axes move.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxconv.linen
        >>> layer = jaxconv.linen.ConvLocal(4, kernel_size=(3,), padding="VALID")
        >>> variables = layer.init(jax.random.key(0), jnp.ones((1, 8, 3)))
        >>> jax.tree_util.tree_map(jnp.shape, variables)
        {'params': {'bias': (6, 4), 'kernel': (6, 9, 4)}}
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: None | int | Sequence[int] = 1
    padding: str | int | Sequence[int | tuple[int, int]] = "SAME"
    input_dilation: None | int | Sequence[int] = 1
    kernel_dilation: None | int | Sequence[int] = 1
    feature_group_count: int = 1
    use_bias: bool = True
    mask: jax.Array | None = None
    dtype: DTypeLike | None = None
    param_dtype: DTypeLike = jnp.float32
    precision: PrecisionLike = None
    kernel_init: Callable[..., Any] = default_kernel_init
    bias_init: Callable[..., Any] = default_bias_init
    promote_dtype: Callable[..., Any] = _promote_dtype
    preferred_element_type: DTypeLike | None = None
    dimension_numbers: tuple[str, str, str] | DimensionNumbers | None = None
    padding_mode: str = "zeros"

    @nn.compact
    def __call__(self, inputs: ArrayLike) -> jax.Array:
        """Apply the unshared convolution and the bias."""
        if self.feature_group_count != 1:
            raise ValueError(
                f"`feature_group_count` must be 1 for ConvLocal, got {self.feature_group_count}."
            )
        cfg = common.conv_config(
            self.kernel_size,
            self.strides,
            self.padding,
            self.input_dilation,
            self.kernel_dilation,
            1,
            self.dimension_numbers,
            self.padding_mode,
        )
        features = common.positive("features", self.features)
        lay = cfg.layouts
        inputs = jnp.asarray(inputs)
        x, _ = common.fold_batch(inputs, lay.lhs, len(cfg.kernel_size))
        in_spatial = [x.shape[a] for a in lay.dn.lhs_spec[2:]]
        kernel_shape, bias_shape = common.local_kernel_shape(
            cfg, in_spatial, x.shape[lay.dn.lhs_spec[1]], features
        )
        common.check_mask(self.mask, kernel_shape)
        kernel = self.param("kernel", self.kernel_init, kernel_shape, self.param_dtype)
        if self.mask is not None:
            kernel = kernel * self.mask
        bias = (
            self.param("bias", self.bias_init, bias_shape, self.param_dtype)
            if self.use_bias
            else None
        )
        inputs, kernel, bias = _promote(self, inputs, kernel, bias)
        return common.apply_local(
            cfg, inputs, kernel, bias, self.precision, self.preferred_element_type
        )


class ConvTranspose(nn.Module):
    """A transposed convolution layer, ``flax.linen.ConvTranspose``'s drop-in, computed by
    [`jaxconv.conv_transpose`][jaxconv.conv_transpose].

    With the default ``dimension_numbers`` the input is ``(*batch_dims, *spatial, C)``, the
    ``kernel`` ``(*kernel_size, C, features)`` (``(*kernel_size, features, C)`` with
    ``transpose_kernel=True``) and ``bias`` ``(features,)``. Padding as in
    [`jaxconv.nnx.ConvTranspose`][jaxconv.nnx.ConvTranspose].

    Attributes:
        features: output features.
        kernel_size: an int (1-d) or one int per spatial dim (kernel layout order).
        strides: an int or one per spatial dim: the upsampling factor.
        padding: ``'SAME'`` (``out = in * stride``), ``'VALID'``, ``'CIRCULAR'``, an int
            or one int or ``(low, high)`` pair per spatial dim, applied to the dilated
            input as in lax, or PyTorch's ``padding`` with ``use_consistent_padding=True``
            (see [`jaxconv.nnx.ConvTranspose`][jaxconv.nnx.ConvTranspose]).
        kernel_dilation: an int or one per spatial dim.
        use_bias: add a ``bias`` parameter of shape ``(features,)``.
        mask: optional array of the kernel's shape multiplied into the kernel.
        dtype: computation dtype (default: promote the input and parameters).
        param_dtype: parameter dtype (default float32).
        precision: as for `jax.lax.conv_transpose`.
        kernel_init: the kernel's initialiser; the kernel is drawn as Flax draws it,
            ``(*kernel_size, C, features)`` (``(*kernel_size, features, C)`` with
            ``transpose_kernel=True``), then moved to the kernel layout.
        bias_init: the bias's initialiser, called with the shape ``(features,)``.
        transpose_kernel: flip the kernel's spatial axes and swap its ``I``/``O`` axes,
            as in ``flax.linen.ConvTranspose``.
        promote_dtype: Flax's dtype promotion function.
        preferred_element_type: accumulation and output dtype of the convolution.
        dimension_numbers: layouts, e.g. ``("NCHW", "OIHW", "NCHW")``.
        conv_transpose: the function (``None``: jaxconv's); ``jax.lax.conv_transpose``
            is accepted.
        use_consistent_padding: read integer padding as PyTorch's ``ConvTranspose``
            ``padding``: ``out = (in - 1) * stride - 2 * padding + k + output_padding``.
        output_padding: PyTorch's ``output_padding``, an int or one per spatial dim added
            to the high side of the output; only with integer padding.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxconv.linen
        >>> layer = jaxconv.linen.ConvTranspose(4, kernel_size=(3, 3), strides=(2, 2))
        >>> x = jnp.ones((1, 5, 5, 3))
        >>> out, variables = layer.init_with_output(jax.random.key(0), x)
        >>> out.shape
        (1, 10, 10, 4)
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: None | int | Sequence[int] = None
    padding: str | int | Sequence[int | tuple[int, int]] = "SAME"
    kernel_dilation: None | int | Sequence[int] = None
    use_bias: bool = True
    mask: jax.Array | None = None
    dtype: DTypeLike | None = None
    param_dtype: DTypeLike = jnp.float32
    precision: PrecisionLike = None
    kernel_init: Callable[..., Any] = default_kernel_init
    bias_init: Callable[..., Any] = default_bias_init
    transpose_kernel: bool = False
    promote_dtype: Callable[..., Any] = _promote_dtype
    preferred_element_type: DTypeLike | None = None
    dimension_numbers: tuple[str, str, str] | DimensionNumbers | None = None
    conv_transpose: Callable[..., Any] | None = _jaxconv_conv_transpose
    use_consistent_padding: bool = False
    output_padding: None | int | Sequence[int] = None

    @nn.compact
    def __call__(self, inputs: ArrayLike) -> jax.Array:
        """Apply the transposed convolution and the bias."""
        cfg = common.transpose_config(
            self.kernel_size,
            self.strides,
            self.padding,
            self.kernel_dilation,
            self.dimension_numbers,
            self.transpose_kernel,
            self.use_consistent_padding,
            self.output_padding,
        )
        features = common.positive("features", self.features)
        fn = common.check_callable("conv_transpose", self.conv_transpose or _jaxconv_conv_transpose)
        lay = cfg.layouts
        inputs = jnp.asarray(inputs)
        x, _ = common.fold_batch(inputs, lay.lhs, len(cfg.kernel_size))
        c = x.shape[lay.dn.lhs_spec[1]]
        i, o = (features, c) if cfg.transpose_kernel else (c, features)
        kernel_shape = lay.kernel_shape(cfg.kernel_size, i, o)
        common.check_mask(self.mask, kernel_shape)
        kernel = self.param(
            "kernel",
            lambda key: common.init_kernel(
                self.kernel_init, key, lay, cfg.kernel_size, i, o, self.param_dtype
            ),
        )
        if self.mask is not None:
            kernel = kernel * self.mask
        bias = (
            self.param("bias", self.bias_init, (features,), self.param_dtype)
            if self.use_bias
            else None
        )
        inputs, kernel, bias = _promote(self, inputs, kernel, bias)
        return common.apply_conv_transpose(
            fn, cfg, inputs, kernel, bias, self.precision, self.preferred_element_type
        )


def load_kernel(
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    layout: str = "OIHW",
    flip: bool | None = None,
    dimension_numbers: Any = None,
    transpose_kernel: bool = False,
    dtype: Any = None,
) -> dict[str, dict[str, jax.Array]]:
    """A Linen variable tree ``{"params": {"kernel": ..., "bias": ...}}`` for
    [`Conv`][jaxconv.linen.Conv] (or [`ConvTranspose`][jaxconv.linen.ConvTranspose], or Flax's own
    modules) from a kernel in another layout.

    Args:
        kernel: the weights in ``layout``: PyTorch's ``Conv2d.weight``
            ``(out, in // groups, kh, kw)`` is ``"OIHW"``; TensorFlow and Keras 3 use
            ``"HWIO"``; Keras 1 on Theano stores flipped ``"OIHW"`` kernels
            (``layout="OIHW", flip=True`` or ``layout="theano"``). For 1-d and 3-d use the
            spatial letters of the module's layout (``"OIW"``, ``"OIDHW"``).
        bias: ``(out,)`` or None (then the tree has no ``bias``: use ``use_bias=False``).
        layout: the kernel's layout string or a framework name (``"pytorch"``,
            ``"tensorflow"``, ``"keras"``, ``"theano"``).
        flip: reverse the spatial axes (``None``: only for ``"theano"``).
        dimension_numbers: the module's ``dimension_numbers`` (``None``: channels-last,
            kernel ``HWIO``); the kernel is moved to its kernel layout.
        transpose_kernel: for a [`ConvTranspose`][jaxconv.linen.ConvTranspose] with
            ``transpose_kernel=True``: the kernel is the forward convolution's, its ``I`` axis is
            the output features (PyTorch's ``ConvTranspose2d.weight`` ``(in, out, kh, kw)`` is
            ``"OIHW"``).
        dtype: cast the arrays to this dtype (the module's ``param_dtype``).

    Returns:
        ``{"params": {"kernel": kernel, "bias": bias}}``, ready for ``module.apply``.

    Examples:
        >>> import numpy as np, jax.numpy as jnp, jaxconv.linen
        >>> w = np.ones((8, 3, 5, 5), np.float32)  # a PyTorch Conv2d(3, 8, 5) weight
        >>> b = np.zeros(8, np.float32)
        >>> variables = jaxconv.linen.load_kernel(w, b, layout="OIHW")
        >>> variables["params"]["kernel"].shape
        (5, 5, 3, 8)
        >>> layer = jaxconv.linen.Conv(features=8, kernel_size=(5, 5), padding=2)
        >>> layer.apply(variables, jnp.ones((1, 6, 6, 3))).shape
        (1, 6, 6, 8)
    """
    ndim = jnp.ndim(kernel)
    if ndim < 3:
        raise ValueError(
            f"`kernel` must have rank >= 3 (two feature axes and the spatial axes), got shape "
            f"{jnp.shape(kernel)}."
        )
    layouts = common.parse_layouts(dimension_numbers, ndim - 2)
    w, sizes = common.foreign_kernel(kernel, layout, flip, layouts)
    out, other = ("I", "O") if transpose_kernel else ("O", "I")
    hint = "" if transpose_kernel else common.TORCH_TRANSPOSED_HINT
    b = common.check_bias(bias, sizes[out], sizes[other], hint)
    params = {"kernel": w if dtype is None else w.astype(dtype)}
    if b is not None:
        params["bias"] = b if dtype is None else b.astype(dtype)
    return {"params": params}
