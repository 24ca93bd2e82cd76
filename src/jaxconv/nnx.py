"""Flax NNX modules on jaxconv: ``Conv``, ``ConvTranspose`` and ``ConvLocal``.

``Conv`` and ``ConvTranspose`` are subclasses of ``flax.nnx.Conv`` and
``flax.nnx.ConvTranspose``: the same constructor, parameters (``kernel``, ``bias``),
initial values for the same ``rngs``, and outputs, with the convolution computed by
[`jaxconv.conv_general_dilated`][jaxconv.conv_general_dilated] (``isinstance(m,
flax.nnx.Conv)`` holds). They add what Flax lacks:

- ``dimension_numbers=``: any layouts jaxconv accepts, e.g. ``("NCHW", "OIHW", "NCHW")``;
  the kernel parameter is stored in the kernel layout (``OIHW``: ``(out, in // groups, kh,
  kw)``), so PyTorch weights load without transposes;
- ``padding_mode=``: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``
  (PyTorch's meaning), applied to whatever padding ``padding`` asks for;
- ``from_kernel(...)``: build a module from a kernel in another framework's layout;
- for ``ConvTranspose``, PyTorch's ``padding`` and ``output_padding``.

``ConvLocal`` is a locally connected layer (one kernel per output position) on
[`jaxconv.conv_local`][jaxconv.conv_local], giving the same result as
``flax.linen.ConvLocal`` for the same kernel; NNX has no such layer.

Importing this module imports Flax (``pip install 'jaxconv[flax]'``); ``import jaxconv``
does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import jax
import jax.numpy as jnp
from jax.lax import PrecisionLike
from jax.typing import ArrayLike, DTypeLike

from . import _flax_common as common
from . import _layer
from ._checks import int_tuple, positive_int
from ._conv import conv_general_dilated as _jaxconv_conv
from ._conv import conv_transpose as _jaxconv_conv_transpose
from ._layout import DimensionNumbers
from ._local import local_kernel_shape, local_plan

try:
    from flax import nnx
    from flax.nnx.nn import dtypes, initializers
except ImportError as e:  # pragma: no cover - exercised in a subprocess test
    raise common.missing_flax("jaxconv.nnx") from e

__all__ = ["Conv", "ConvLocal", "ConvTranspose"]

default_kernel_init = initializers.lecun_normal()
default_bias_init = initializers.zeros_init()
_NO_METADATA: Mapping[str, Any] = MappingProxyType({})


def _store_kernel(module: nnx.Module, layouts: _layer.Layouts, metadata: Mapping[str, Any]):
    """Move the kernel Flax drew, ``(*kernel_size, I, O)``, into the kernel layout."""
    if layouts.rhs != layouts.canonical_kernel:
        module.kernel = nnx.Param(common.in_kernel_layout(module.kernel[...], layouts), **metadata)


def _params(module: nnx.Module) -> tuple[jax.Array, jax.Array | None]:
    """The kernel times its mask, and the bias, as Flax reads them."""
    kernel = common.masked(module.kernel[...], module.mask, module.kernel_shape)
    return kernel, module.bias[...] if module.bias is not None else None


def _from_kernel(cls, kernel, bias, layout, flip, swap, conv_kwargs):
    """A ``cls`` holding ``kernel`` from ``layout``, its features read off the kernel
    (``swap``: its ``O`` axis is the input features, as with ``transpose_kernel``)."""
    conv_kwargs = common.loader_kwargs(bias, conv_kwargs)
    conv_kwargs.setdefault("rngs", nnx.Rngs(0))
    # The kernel is given: drawing a random one first would only cost its compile (seconds
    # for each new shape on XLA:CPU).
    conv_kwargs.setdefault("kernel_init", nnx.initializers.zeros_init())
    w, sizes, lay = common.foreign_kernel(
        kernel, layout, flip, conv_kwargs.get("dimension_numbers")
    )
    groups = positive_int("feature_group_count", conv_kwargs.get("feature_group_count", 1))
    in_f, out_f = (sizes["O"], sizes["I"]) if swap else (sizes["I"] * groups, sizes["O"])
    hint = common.TORCH_TRANSPOSED_HINT if issubclass(cls, ConvTranspose) and not swap else ""
    b = common.check_bias(bias, out_f, in_f, hint)
    module = cls(in_f, out_f, tuple(sizes[c] for c in lay.spatial), **conv_kwargs)
    module.kernel[...] = w.astype(module.kernel.dtype)
    if b is not None:
        module.bias[...] = b.astype(module.bias.dtype)
    return module


class Conv(nnx.Conv):
    """A convolution layer: ``flax.nnx.Conv`` computed by jaxconv, in any layout.

    With the default ``dimension_numbers`` the input is channels-last,
    ``(*batch_dims, *spatial, in_features)`` (``NHWC`` for 2-d), the kernel parameter is
    ``(*kernel_size, in_features // feature_group_count, out_features)`` (``HWIO``) and the
    output ``(*batch_dims, *out_spatial, out_features)``. Several leading batch dims are
    flattened and restored; an input without a batch dim gets one for the call, as in Flax.

    With ``dimension_numbers=("NCHW", "OIHW", "NCHW")`` the input is ``(N, C, H, W)`` and
    the kernel parameter ``(out_features, in_features // groups, kh, kw)``, PyTorch's
    layouts. Sizes, strides and dilations follow the kernel layout's spatial order.

    Args:
        in_features: as for ``flax.nnx.Conv``, and every argument not listed here.
        out_features: output features.
        kernel_size: an int (1-d) or one int per spatial dim.
        padding: ``'SAME'``, ``'VALID'``, ``'SAME_LOWER'``, ``'CIRCULAR'`` (periodic),
            ``'REFLECT'``, ``'CAUSAL'`` (1-d: pad ``k - 1`` on the left), an int (every
            side), or one int or ``(low, high)`` pair per spatial dim. ``'CIRCULAR'`` and
            ``'REFLECT'`` pad ``((k - 1) // 2, k // 2)`` of the dilated kernel, as Flax does.
        kernel_init: the kernel's initialiser; the kernel is drawn as Flax draws it,
            ``(*kernel_size, in // groups, out)``, then moved to the kernel layout, so the
            same ``rngs`` give Flax's values.
        conv_general_dilated: the convolution function; jaxconv's by default,
            ``jax.lax.conv_general_dilated`` or a ``functools.partial`` of jaxconv's with a
            ``strategy=`` also work.
        dimension_numbers: ``None`` (channels-last, as Flax), three layout strings or a
            [`jaxconv.DimensionNumbers`][jaxconv.DimensionNumbers].
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``: how
            the padding is filled. With ``input_dilation`` the undilated input is padded.

    Examples:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> import jaxconv.nnx
        >>> layer = jaxconv.nnx.Conv(3, 4, (3, 3), padding="SAME", rngs=nnx.Rngs(0))
        >>> layer.kernel.shape, layer(jnp.ones((2, 8, 8, 3))).shape
        ((3, 3, 3, 4), (2, 8, 8, 4))
        >>> torch_like = jaxconv.nnx.Conv(
        ...     3, 4, (3, 3), padding=1, padding_mode="reflect",
        ...     dimension_numbers=("NCHW", "OIHW", "NCHW"), rngs=nnx.Rngs(0))
        >>> torch_like.kernel.shape, torch_like(jnp.ones((2, 3, 8, 8))).shape
        ((4, 3, 3, 3), (2, 4, 8, 8))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int],
        strides: None | int | Sequence[int] = 1,
        *,
        padding: str | int | Sequence[int | tuple[int, int]] = "SAME",
        input_dilation: None | int | Sequence[int] = 1,
        kernel_dilation: None | int | Sequence[int] = 1,
        feature_group_count: int = 1,
        use_bias: bool = True,
        mask: jax.Array | None = None,
        dtype: DTypeLike | None = None,
        param_dtype: DTypeLike = jnp.float32,
        precision: PrecisionLike = None,
        kernel_init: Callable[..., Any] = default_kernel_init,
        bias_init: Callable[..., Any] = default_bias_init,
        conv_general_dilated: Callable[..., Any] = _jaxconv_conv,
        promote_dtype: Callable[..., Any] = dtypes.promote_dtype,
        preferred_element_type: DTypeLike | None = None,
        dimension_numbers: tuple[str, str, str] | DimensionNumbers | None = None,
        padding_mode: str = "zeros",
        rngs: nnx.Rngs,
        kernel_metadata: Mapping[str, Any] = _NO_METADATA,
        bias_metadata: Mapping[str, Any] = _NO_METADATA,
    ):
        cfg = _layer.conv_config(
            kernel_size, strides, padding, input_dilation, kernel_dilation, feature_group_count,
            dimension_numbers, padding_mode,
        )  # fmt: skip
        groups = cfg.feature_group_count
        names = ("in_features", "out_features")
        common.check_feature_counts(in_features, out_features, groups, names)
        common.check_callable("conv_general_dilated", conv_general_dilated)
        kernel_shape = cfg.layouts.kernel_shape(
            cfg.kernel_size, in_features // groups, out_features
        )
        common.check_mask(mask, kernel_shape)
        super().__init__(
            in_features, out_features, cfg.kernel_size, strides, padding=padding,
            input_dilation=input_dilation, kernel_dilation=kernel_dilation,
            feature_group_count=groups, use_bias=use_bias, mask=mask, dtype=dtype,
            param_dtype=param_dtype, precision=precision, kernel_init=kernel_init,
            bias_init=bias_init, conv_general_dilated=conv_general_dilated,
            promote_dtype=promote_dtype, preferred_element_type=preferred_element_type, rngs=rngs,
            kernel_metadata=kernel_metadata, bias_metadata=bias_metadata,
        )  # fmt: skip
        _store_kernel(self, cfg.layouts, kernel_metadata)
        self.kernel_shape = kernel_shape
        self.dimension_numbers = dimension_numbers
        self.padding_mode = padding_mode
        self._config = cfg
        self._native_mode = common.accepts_keyword(conv_general_dilated, "padding_mode")

    def __call__(self, inputs: ArrayLike, out_sharding: Any = None) -> jax.Array:
        """Convolve ``inputs`` (in the input layout, optionally with several or no batch
        dims) and add the bias; returns the output in the output layout."""
        kernel, bias = _params(self)
        inputs, kernel, bias = self.promote_dtype((inputs, kernel, bias), dtype=self.dtype)
        return common.apply_conv(
            self.conv_general_dilated, self._native_mode, self._config, inputs, kernel, bias,
            self.precision, self.preferred_element_type, out_sharding,
        )  # fmt: skip

    @classmethod
    def from_kernel(
        cls,
        kernel: ArrayLike,
        bias: ArrayLike | None = None,
        *,
        layout: str = "OIHW",
        flip: bool | None = None,
        **conv_kwargs: Any,
    ) -> Conv:
        """A ``Conv`` holding ``kernel`` (and ``bias``) given in another framework's layout.

        ``in_features``, ``out_features`` and ``kernel_size`` are read off the kernel; the
        kernel is moved into this module's kernel layout (``HWIO`` by default, or that of
        ``dimension_numbers``) and cast to ``param_dtype``.

        Args:
            kernel: the weights, laid out as ``layout`` says. PyTorch's ``Conv2d.weight`` is
                ``(out, in // groups, kh, kw)``: ``layout="OIHW"``. TensorFlow and Keras 3
                store ``(kh, kw, in // groups, out)``: ``layout="HWIO"``. Keras 1 on Theano
                stores ``(out, in, kh, kw)`` kernels of a true (flipped) convolution:
                ``layout="OIHW", flip=True``. Use the module's spatial letters (``"OIW"``
                for 1-d, ``"OIDHW"`` for 3-d).
            bias: ``(out,)`` or None. Without a bias the module gets ``use_bias=False``
                unless ``use_bias=True`` is passed (then the bias starts at zero).
            layout: the kernel's layout string, or a framework name: ``"pytorch"``
                (``"OIHW"``), ``"tensorflow"``/``"keras"`` (``"HWIO"``) or ``"theano"``
                (``"OIHW"`` and ``flip=True``).
            flip: reverse every spatial axis (a true convolution's kernel to a
                cross-correlation's, see [`jaxconv.convert_kernel`][jaxconv.convert_kernel]).
                ``None``: only for ``"theano"``.
            **conv_kwargs: any other constructor argument (``padding``, ``strides``,
                ``feature_group_count``, ``dimension_numbers``, ``rngs``, ...).

        Examples:
            >>> import numpy as np, jaxconv.nnx
            >>> w = np.ones((8, 3, 5, 5), np.float32)  # a PyTorch Conv2d(3, 8, 5) weight
            >>> b = np.zeros(8, np.float32)
            >>> layer = jaxconv.nnx.Conv.from_kernel(w, b, layout="OIHW", padding=2)
            >>> layer.kernel.shape, layer.bias.shape
            ((5, 5, 3, 8), (8,))
        """
        return _from_kernel(cls, kernel, bias, layout, flip, False, dict(conv_kwargs))


class ConvTranspose(nnx.ConvTranspose):
    """A transposed convolution layer: ``flax.nnx.ConvTranspose`` computed by
    [`jaxconv.conv_transpose`][jaxconv.conv_transpose] (``jax.lax.conv_transpose``'s
    semantics), in any layout.

    With the default ``dimension_numbers`` the input is ``(*batch_dims, *spatial, in)``, the
    kernel parameter ``(*kernel_size, in, out)`` — or ``(*kernel_size, out, in)`` with
    ``transpose_kernel=True``, the kernel of the forward convolution this one transposes —
    and the output ``(*batch_dims, *out_spatial, out)``.

    Args:
        in_features: as for ``flax.nnx.ConvTranspose``, and every argument not listed here.
        out_features: output features (the ``C`` axis of the output).
        kernel_size: an int (1-d) or one int per spatial dim.
        padding: ``'SAME'`` (``out = in * stride``), ``'VALID'``
            (``out = in * stride + max(k - stride, 0)``), ``'CIRCULAR'`` (the ``'VALID'``
            output folded periodically onto ``in * stride``), an int or one int or
            ``(low, high)`` pair per spatial dim: padding of the dilated input as in lax
            and Flax, or, with ``use_consistent_padding=True``, PyTorch's ``padding``.
        use_consistent_padding: read integer padding as PyTorch's ``ConvTranspose``
            ``padding`` (the padding of the forward convolution this one transposes):
            ``out = (in - 1) * stride - 2 * padding + k + output_padding``, as
            [`jaxconv.conv_transpose`][jaxconv.conv_transpose] does with this flag.
        output_padding: PyTorch's ``output_padding``, an int or one per spatial dim added
            to the high side of the output (each smaller than the stride or the dilation);
            only with integer padding.
        kernel_init: the kernel's initialiser; the kernel is drawn as Flax draws it,
            ``(*kernel_size, in, out)`` (``(*kernel_size, out, in)`` with
            ``transpose_kernel=True``), then moved to the kernel layout.
        dimension_numbers: layouts as for [`Conv`][jaxconv.nnx.Conv], e.g. ``("NCHW", "OIHW",
            "NCHW")``.
        conv_transpose: the function; jaxconv's by default, ``jax.lax.conv_transpose`` too.

    Examples:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> import jaxconv.nnx
        >>> up = jaxconv.nnx.ConvTranspose(3, 4, (3, 3), strides=2, rngs=nnx.Rngs(0))
        >>> up(jnp.ones((1, 5, 5, 3))).shape
        (1, 10, 10, 4)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int],
        strides: None | int | Sequence[int] = None,
        *,
        padding: str | int | Sequence[int | tuple[int, int]] = "SAME",
        use_consistent_padding: bool = False,
        output_padding: None | int | Sequence[int] = None,
        kernel_dilation: None | int | Sequence[int] = None,
        use_bias: bool = True,
        mask: jax.Array | None = None,
        dtype: DTypeLike | None = None,
        param_dtype: DTypeLike = jnp.float32,
        precision: PrecisionLike = None,
        kernel_init: Callable[..., Any] = default_kernel_init,
        bias_init: Callable[..., Any] = default_bias_init,
        transpose_kernel: bool = False,
        promote_dtype: Callable[..., Any] = dtypes.promote_dtype,
        preferred_element_type: DTypeLike | None = None,
        dimension_numbers: tuple[str, str, str] | DimensionNumbers | None = None,
        conv_transpose: Callable[..., Any] = _jaxconv_conv_transpose,
        rngs: nnx.Rngs,
        kernel_metadata: Mapping[str, Any] = _NO_METADATA,
        bias_metadata: Mapping[str, Any] = _NO_METADATA,
    ):
        cfg = _layer.transpose_config(
            kernel_size, strides, padding, kernel_dilation, dimension_numbers, transpose_kernel,
            use_consistent_padding, output_padding,
        )  # fmt: skip
        common.check_feature_counts(in_features, out_features, 1, ("in_features", "out_features"))
        common.check_callable("conv_transpose", conv_transpose)
        i, o = (out_features, in_features) if cfg.transpose_kernel else (in_features, out_features)
        kernel_shape = cfg.layouts.kernel_shape(cfg.kernel_size, i, o)
        common.check_mask(mask, kernel_shape)
        super().__init__(
            in_features, out_features, cfg.kernel_size, strides, padding=padding,
            kernel_dilation=kernel_dilation, use_bias=use_bias, mask=mask, dtype=dtype,
            param_dtype=param_dtype, precision=precision, kernel_init=kernel_init,
            bias_init=bias_init, transpose_kernel=cfg.transpose_kernel,
            promote_dtype=promote_dtype, preferred_element_type=preferred_element_type, rngs=rngs,
            kernel_metadata=kernel_metadata, bias_metadata=bias_metadata,
        )  # fmt: skip
        _store_kernel(self, cfg.layouts, kernel_metadata)
        self.kernel_shape = kernel_shape
        self.use_consistent_padding = use_consistent_padding
        self.output_padding = output_padding
        self.dimension_numbers = dimension_numbers
        self.conv_transpose = conv_transpose
        self._config = cfg

    def __call__(self, inputs: ArrayLike) -> jax.Array:
        """Apply the transposed convolution and the bias; layouts as the constructor says."""
        kernel, bias = _params(self)
        inputs, kernel, bias = self.promote_dtype((inputs, kernel, bias), dtype=self.dtype)
        return common.apply_conv_transpose(
            self.conv_transpose, self._config, inputs, kernel, bias, self.precision,
            self.preferred_element_type,
        )  # fmt: skip

    @classmethod
    def from_kernel(
        cls,
        kernel: ArrayLike,
        bias: ArrayLike | None = None,
        *,
        layout: str = "OIHW",
        flip: bool | None = None,
        **conv_kwargs: Any,
    ) -> ConvTranspose:
        """A ``ConvTranspose`` holding ``kernel`` (and ``bias``) from another layout.

        Arguments as for [`Conv.from_kernel`][jaxconv.nnx.Conv.from_kernel]. ``O`` and ``I``
        name the kernel's axes as this module reads them: with ``transpose_kernel=True``
        the kernel is the forward convolution's, ``O`` is this layer's input features and
        ``I`` its output features.

        PyTorch's ``ConvTranspose2d(C, O, k, stride, padding, output_padding)`` stores
        ``weight`` as ``(C, O, kh, kw)``, the forward convolution's kernel: pass it with
        ``layout="pytorch"``, which reads it as ``OIHW`` with ``transpose_kernel=True`` and
        reads ``padding`` and ``output_padding`` as PyTorch does
        (``use_consistent_padding=True``), so PyTorch's arguments carry over unchanged (its
        default ``padding=0`` included: the module's default is ``'SAME'``). A layout
        string such as ``"OIHW"`` sets neither flag.

        Examples:
            >>> import numpy as np, jaxconv.nnx
            >>> w = np.ones((8, 4, 4, 4), np.float32)  # ConvTranspose2d(8, 4, 4).weight
            >>> up = jaxconv.nnx.ConvTranspose.from_kernel(
            ...     w, np.zeros(4, np.float32), layout="pytorch", strides=2, padding=1,
            ...     output_padding=1, dimension_numbers=("NCHW", "OIHW", "NCHW"))
            >>> x = np.ones((1, 8, 5, 5), np.float32)
            >>> up.in_features, up.out_features, up(x).shape
            (8, 4, (1, 4, 11, 11))
        """
        conv_kwargs = dict(conv_kwargs)
        if isinstance(layout, str) and layout.lower() in ("pytorch", "torch"):
            if conv_kwargs.setdefault("transpose_kernel", True) is not True:
                raise ValueError(
                    "`layout='pytorch'` reads PyTorch's ConvTranspose weight (in, out, *k), the "
                    "kernel of the forward convolution, which needs `transpose_kernel=True`; "
                    "for another reading give a layout string such as 'IOHW'."
                )
            conv_kwargs.setdefault("use_consistent_padding", True)
        swap = bool(conv_kwargs.get("transpose_kernel", False))
        return _from_kernel(cls, kernel, bias, layout, flip, swap, conv_kwargs)


class ConvLocal(nnx.Module):
    """A locally connected layer: a convolution with a separate kernel at each output
    position, [`jaxconv.conv_local`][jaxconv.conv_local] with ``flax.linen.ConvLocal``'s
    parameters.

    The kernel is ``(*out_spatial, in_features * prod(kernel_size), out_features)``, rows
    ordered ``(in_feature, *window)`` as in ``jax.lax.conv_general_dilated_local``, and the
    bias ``(*out_spatial, out_features)``. Given the same kernel it computes the same output
    as ``flax.linen.ConvLocal``. Because NNX builds parameters eagerly, the input's spatial
    size is a constructor argument.

    With the default ``dimension_numbers`` the input is ``(*batch_dims, *input_size,
    in_features)``; other layouts (``("NCHW", "OIHW", "NCHW")``) change where the input's and
    output's axes are; the kernel keeps the shape above (spatial dims in the kernel layout's
    order).

    Args:
        in_features: input features (the ``C`` axis of the input).
        out_features: output features.
        kernel_size: an int (1-d) or one int per spatial dim.
        strides: an int or one per spatial dim.
        input_size: the input's spatial sizes (an int for all dims, or one per dim).
        padding: any padding [`Conv`][jaxconv.nnx.Conv] takes.
        input_dilation: an int or one per spatial dim (transposed convolution).
        kernel_dilation: an int or one per spatial dim (atrous convolution).
        use_bias: add a bias of shape ``(*out_spatial, out_features)``.
        mask: optional array of the kernel's shape multiplied into the kernel.
        dtype: computation dtype (default: promote the input and parameters).
        param_dtype: parameter dtype (default float32).
        precision: precision of the einsum, as for `jax.numpy.einsum`.
        kernel_init: the kernel's initialiser, called with the kernel shape above.
        bias_init: the bias's initialiser, called with the bias shape above.
        promote_dtype: Flax's dtype promotion function.
        preferred_element_type: accumulation and output dtype of the einsum.
        dimension_numbers: ``None`` (channels-last, as Flax), three layout strings or a
            [`jaxconv.DimensionNumbers`][jaxconv.DimensionNumbers]; only the input's and
            output's axes move.
        padding_mode: how the padding is filled, as for [`Conv`][jaxconv.nnx.Conv].
        rngs: ``nnx.Rngs`` with a ``params`` stream.
        kernel_metadata: metadata for the ``kernel`` ``nnx.Param`` variable.
        bias_metadata: metadata for the ``bias`` ``nnx.Param`` variable.

    Examples:
        >>> import jax.numpy as jnp
        >>> from flax import nnx
        >>> import jaxconv.nnx
        >>> local = jaxconv.nnx.ConvLocal(
        ...     3, 4, (3, 3), input_size=(8, 8), padding="VALID", rngs=nnx.Rngs(0))
        >>> y = local(jnp.ones((2, 8, 8, 3)))
        >>> local.kernel.shape, local.bias.shape, y.shape
        ((6, 6, 27, 4), (6, 6, 4), (2, 6, 6, 4))
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int],
        strides: None | int | Sequence[int] = 1,
        *,
        input_size: int | Sequence[int],
        padding: str | int | Sequence[int | tuple[int, int]] = "SAME",
        input_dilation: None | int | Sequence[int] = 1,
        kernel_dilation: None | int | Sequence[int] = 1,
        use_bias: bool = True,
        mask: jax.Array | None = None,
        dtype: DTypeLike | None = None,
        param_dtype: DTypeLike = jnp.float32,
        precision: PrecisionLike = None,
        kernel_init: Callable[..., Any] = default_kernel_init,
        bias_init: Callable[..., Any] = default_bias_init,
        promote_dtype: Callable[..., Any] = dtypes.promote_dtype,
        preferred_element_type: DTypeLike | None = None,
        dimension_numbers: tuple[str, str, str] | DimensionNumbers | None = None,
        padding_mode: str = "zeros",
        rngs: nnx.Rngs,
        kernel_metadata: Mapping[str, Any] = _NO_METADATA,
        bias_metadata: Mapping[str, Any] = _NO_METADATA,
    ):
        cfg = _layer.conv_config(
            kernel_size, strides, padding, input_dilation, kernel_dilation, 1, dimension_numbers,
            padding_mode,
        )  # fmt: skip
        common.check_feature_counts(in_features, out_features, 1, ("in_features", "out_features"))
        input_size = int_tuple("input_size", input_size, len(cfg.kernel_size), broadcast=True)
        plan = local_plan(
            cfg.layouts.input_shape(input_size, in_features), cfg.kernel_size, out_features,
            cfg.strides, cfg.padding, cfg.input_dilation, cfg.kernel_dilation,
            cfg.layouts.strings, cfg.padding_mode,
        )  # fmt: skip
        self.kernel_shape = local_kernel_shape(plan)
        if 0 in plan.out_spatial:
            raise ValueError(
                f"`input_size` {input_size} is too small for `kernel_size` {cfg.kernel_size} "
                f"with this padding: the output would be empty ({plan.out_spatial})."
            )
        common.check_mask(mask, self.kernel_shape)
        self.kernel = nnx.Param(
            kernel_init(rngs.params(), self.kernel_shape, param_dtype), **kernel_metadata
        )
        bias_shape = (*plan.out_spatial, out_features)
        self.bias = (
            nnx.Param(bias_init(rngs.params(), bias_shape, param_dtype), **bias_metadata)
            if use_bias
            else nnx.data(None)
        )
        self.in_features, self.out_features = in_features, out_features
        self.kernel_size, self.strides, self.input_size = cfg.kernel_size, strides, input_size
        self.padding, self.input_dilation = padding, input_dilation
        self.kernel_dilation, self.use_bias, self.mask = kernel_dilation, use_bias, mask
        self.dtype, self.param_dtype, self.precision = dtype, param_dtype, precision
        self.promote_dtype, self.preferred_element_type = promote_dtype, preferred_element_type
        self.dimension_numbers, self.padding_mode = dimension_numbers, padding_mode
        self._config = cfg

    def __call__(self, inputs: ArrayLike) -> jax.Array:
        """Apply the unshared convolution and the bias; layouts as the constructor says."""
        kernel, bias = _params(self)
        inputs, kernel, bias = self.promote_dtype((inputs, kernel, bias), dtype=self.dtype)
        return common.apply_local(
            self._config, inputs, kernel, bias, self.precision, self.preferred_element_type
        )
