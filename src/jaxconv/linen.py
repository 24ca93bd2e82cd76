"""Flax Linen modules on jaxconv: ``Conv``, ``ConvTranspose`` and ``ConvLocal``.

Subclasses of ``flax.linen.Conv``, ``flax.linen.ConvTranspose`` and
``flax.linen.ConvLocal``: the same attributes, the same parameter trees (``kernel``,
``bias``), shapes, initialisers and outputs, so ``ours.apply(params_from_flax, x)`` works
unchanged, computed by jaxconv. Beyond Flax they take ``dimension_numbers=`` (the kernel
parameter is stored in the kernel layout), ``padding_mode=``, an injectable contraction
function, PyTorch's transposed padding, and [`load_kernel`][jaxconv.linen.load_kernel] fills
a parameter tree from a kernel in another framework's layout.

Importing this module imports Flax (``pip install 'jaxconv[flax]'``); ``import jaxconv``
does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from . import _flax_common as common
from . import _layer
from ._checks import positive_int
from ._conv import conv_general_dilated as _jaxconv_conv
from ._conv import conv_transpose as _jaxconv_conv_transpose
from ._layout import DimensionNumbers
from ._local import local_kernel_shape, local_plan

try:
    import flax.linen as nn
except ImportError as e:  # pragma: no cover - exercised in a subprocess test
    raise common.missing_flax("jaxconv.linen") from e

__all__ = ["Conv", "ConvLocal", "ConvTranspose", "load_kernel"]


def _params(module: Any, kernel_shape: Sequence[int], init: Callable[..., Any], bias_shape):
    """The ``kernel`` (times its mask) and ``bias`` parameters, promoted with ``inputs``."""
    kernel = common.masked(module.param("kernel", init), module.mask, kernel_shape)
    bias = None
    if module.use_bias:
        bias = module.param("bias", module.bias_init, bias_shape, module.param_dtype)
    return kernel, bias


def _flax_init(module: Any, lay: _layer.Layouts, kernel_size, i: int, o: int):
    """Draw the kernel as Flax would, ``(*kernel_size, I, O)``, and store it in ``rhs``."""

    def init(key):
        w = module.kernel_init(key, (*kernel_size, i, o), module.param_dtype)
        return common.in_kernel_layout(w, lay)

    return init


class Conv(nn.Conv):
    """A convolution layer: ``flax.linen.Conv`` computed by jaxconv, in any layout.

    With the default ``dimension_numbers`` the input is channels-last,
    ``(*batch_dims, *spatial, C)`` (``NHWC`` for 2-d), the ``kernel`` parameter
    ``(*kernel_size, C // feature_group_count, features)`` (``HWIO``), ``bias``
    ``(features,)``, and the output ``(*batch_dims, *out_spatial, features)``. With
    ``dimension_numbers=("NCHW", "OIHW", "NCHW")`` the input is ``(N, C, H, W)`` and the
    kernel ``(features, C // groups, kh, kw)``.

    Attributes:
        padding: ``'SAME'``, ``'VALID'``, ``'SAME_LOWER'``, ``'CIRCULAR'``,
            ``'REFLECT'``, ``'CAUSAL'`` (1-d), an int, or one int or ``(low, high)`` pair
            per spatial dim, as in ``flax.linen.Conv`` (see [`jaxconv.nnx.Conv`][jaxconv.nnx.Conv]).
            The other attributes are ``flax.linen.Conv``'s.
        kernel_init: the kernel's initialiser; the kernel is drawn as Flax draws it,
            ``(*kernel_size, C // groups, features)``, then moved to the kernel layout, so
            the same key gives Flax's values.
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

    conv_general_dilated: Callable[..., Any] | None = _jaxconv_conv
    preferred_element_type: DTypeLike | None = None
    dimension_numbers: tuple[str, str, str] | DimensionNumbers | None = None
    padding_mode: str = "zeros"

    @nn.compact
    def __call__(self, inputs: ArrayLike) -> jax.Array:
        """Convolve ``inputs`` and add the bias; layouts as the class docstring says."""
        cfg = _layer.conv_config(
            self.kernel_size, self.strides, self.padding, self.input_dilation,
            self.kernel_dilation, self.feature_group_count, self.dimension_numbers,
            self.padding_mode,
        )  # fmt: skip
        features = positive_int("features", self.features)
        fn = self.conv_general_dilated or _jaxconv_conv
        if self.conv_general_dilated_cls is not None:  # Flax's deprecated field
            fn = self.conv_general_dilated_cls()
        fn = common.check_callable("conv_general_dilated", fn)
        lay, groups = cfg.layouts, cfg.feature_group_count
        inputs = jnp.asarray(inputs)
        x, _ = _layer.fold_batch(inputs, lay.lhs, len(cfg.kernel_size))
        in_features = x.shape[lay.dn.lhs_spec[1]]
        for name, value in (("input features", in_features), ("features", features)):
            if value % groups:
                raise ValueError(
                    f"`feature_group_count` (={groups}) must divide the {name} (={value})."
                )
        if self.has_variable("params", "kernel"):
            # Say what the input's layout may be before Flax's parameter shape check does.
            stored = self.get_variable("params", "kernel")
            expected = stored.shape[lay.rhs.index("I")] * groups
            out_shape = _layer.conv_out_shape(x.shape, stored.shape, cfg)
            _layer.check_inputs(x, lay, expected, "the kernel", out_shape)
        i = in_features // groups
        kernel_shape = lay.kernel_shape(cfg.kernel_size, i, features)
        init = _flax_init(self, lay, cfg.kernel_size, i, features)
        kernel, bias = _params(self, kernel_shape, init, (features,))
        inputs, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        return common.apply_conv(
            fn, common.accepts_keyword(fn, "padding_mode"), cfg, inputs, kernel, bias,
            self.precision, self.preferred_element_type,
        )  # fmt: skip


class ConvLocal(nn.ConvLocal):
    """A locally connected layer: ``flax.linen.ConvLocal`` computed by
    [`jaxconv.conv_local`][jaxconv.conv_local], in any layout.

    Parameters as in Flax: ``kernel`` ``(*out_spatial, C * prod(kernel_size), features)``
    with rows ordered ``(C, *window)``, ``bias`` ``(*out_spatial, features)``. The input
    is channels-last by default; ``dimension_numbers`` moves the input's and output's axes
    (the kernel keeps its shape).

    Attributes:
        padding: any padding [`Conv`][jaxconv.linen.Conv] takes (``'SAME'``, ``'VALID'``, an
            int, or one int or ``(low, high)`` pair per spatial dim, ...). The other
            attributes are ``flax.linen.ConvLocal``'s; ``feature_group_count`` must be 1.
        preferred_element_type: accumulation and output dtype of the einsum.
        dimension_numbers: ``None`` (channels-last, as Flax), three layout strings or a
            [`jaxconv.DimensionNumbers`][jaxconv.DimensionNumbers]; only the input's and
            output's axes move.
        padding_mode: ``'zeros'``, ``'reflect'``, ``'replicate'`` or ``'circular'``.

    Examples:
        >>> import jax, jax.numpy as jnp, jaxconv.linen
        >>> layer = jaxconv.linen.ConvLocal(4, kernel_size=(3,), padding="VALID")
        >>> variables = layer.init(jax.random.key(0), jnp.ones((1, 8, 3)))
        >>> jax.tree_util.tree_map(jnp.shape, variables)
        {'params': {'bias': (6, 4), 'kernel': (6, 9, 4)}}
    """

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
        cfg = _layer.conv_config(
            self.kernel_size, self.strides, self.padding, self.input_dilation,
            self.kernel_dilation, 1, self.dimension_numbers, self.padding_mode,
        )  # fmt: skip
        features = positive_int("features", self.features)
        lay = cfg.layouts
        inputs = jnp.asarray(inputs)
        x, _ = _layer.fold_batch(inputs, lay.lhs, len(cfg.kernel_size))
        plan = local_plan(
            x.shape, cfg.kernel_size, features, cfg.strides, cfg.padding, cfg.input_dilation,
            cfg.kernel_dilation, lay.strings, cfg.padding_mode,
        )  # fmt: skip
        kernel_shape = local_kernel_shape(plan)

        def init(key):
            return self.kernel_init(key, kernel_shape, self.param_dtype)

        kernel, bias = _params(self, kernel_shape, init, (*plan.out_spatial, features))
        inputs, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        return common.apply_local(
            cfg, inputs, kernel, bias, self.precision, self.preferred_element_type
        )


class ConvTranspose(nn.ConvTranspose):
    """A transposed convolution layer: ``flax.linen.ConvTranspose`` computed by
    [`jaxconv.conv_transpose`][jaxconv.conv_transpose], in any layout.

    With the default ``dimension_numbers`` the input is ``(*batch_dims, *spatial, C)``, the
    ``kernel`` ``(*kernel_size, C, features)`` (``(*kernel_size, features, C)`` with
    ``transpose_kernel=True``) and ``bias`` ``(features,)``. Padding as in
    [`jaxconv.nnx.ConvTranspose`][jaxconv.nnx.ConvTranspose].

    Attributes:
        padding: ``'SAME'`` (``out = in * stride``), ``'VALID'``, ``'CIRCULAR'``, an int
            or one int or ``(low, high)`` pair per spatial dim, applied to the dilated
            input as in lax, or PyTorch's ``padding`` with ``use_consistent_padding=True``
            (see [`jaxconv.nnx.ConvTranspose`][jaxconv.nnx.ConvTranspose]). The other
            attributes are ``flax.linen.ConvTranspose``'s.
        kernel_init: the kernel's initialiser; the kernel is drawn as Flax draws it,
            ``(*kernel_size, C, features)`` (``(*kernel_size, features, C)`` with
            ``transpose_kernel=True``), then moved to the kernel layout.
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

    dimension_numbers: tuple[str, str, str] | DimensionNumbers | None = None
    conv_transpose: Callable[..., Any] | None = _jaxconv_conv_transpose
    use_consistent_padding: bool = False
    output_padding: None | int | Sequence[int] = None

    @nn.compact
    def __call__(self, inputs: ArrayLike) -> jax.Array:
        """Apply the transposed convolution and the bias."""
        cfg = _layer.transpose_config(
            self.kernel_size, self.strides, self.padding, self.kernel_dilation,
            self.dimension_numbers, self.transpose_kernel, self.use_consistent_padding,
            self.output_padding,
        )  # fmt: skip
        features = positive_int("features", self.features)
        fn = common.check_callable("conv_transpose", self.conv_transpose or _jaxconv_conv_transpose)
        lay = cfg.layouts
        inputs = jnp.asarray(inputs)
        x, _ = _layer.fold_batch(inputs, lay.lhs, len(cfg.kernel_size))
        c = x.shape[lay.dn.lhs_spec[1]]
        i, o = (features, c) if cfg.transpose_kernel else (c, features)
        kernel_shape = lay.kernel_shape(cfg.kernel_size, i, o)
        init = _flax_init(self, lay, cfg.kernel_size, i, o)
        kernel, bias = _params(self, kernel_shape, init, (features,))
        inputs, kernel, bias = self.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
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
    w, sizes, _ = common.foreign_kernel(kernel, layout, flip, dimension_numbers)
    out, other = ("I", "O") if transpose_kernel else ("O", "I")
    hint = "" if transpose_kernel else common.TORCH_TRANSPOSED_HINT
    b = common.check_bias(bias, sizes[out], sizes[other], hint)
    params = {"kernel": w if dtype is None else w.astype(dtype)}
    if b is not None:
        params["bias"] = b if dtype is None else b.astype(dtype)
    return {"params": params}
