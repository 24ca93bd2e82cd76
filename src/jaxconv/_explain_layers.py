"""``explain(layer, x, index)``: read a Flax convolution layer's settings and parameters.

Explains ``jaxconv.nnx``'s and ``jaxconv.linen``'s ``Conv``, ``ConvTranspose`` and
``ConvLocal``, and Flax's own ``nnx``/``linen`` ``Conv``, ``ConvTranspose`` (and Linen's
``ConvLocal``). Nothing here imports Flax: the layers are recognised by their attributes
(Flax's and jaxconv's share them: ``kernel_size``, ``strides``, ``padding``,
``input_dilation``, ``kernel_dilation``, ``feature_group_count``, ``transpose_kernel``,
``mask``; jaxconv's add ``dimension_numbers`` and ``padding_mode``), and their
arguments are resolved with the same helpers the layers use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _layer
from ._explain import (
    Explanation,
    _concrete,
    _normalize_index,
    explain_plan,
    transpose_plan,
)
from ._plan import ConvPlan


def _kind(layer: Any) -> str:
    names = {c.__name__ for c in type(layer).__mro__}
    if "ConvLocal" in names or getattr(type(layer), "shared_weights", None) is False:
        return "local"
    if hasattr(layer, "transpose_kernel"):
        return "transpose"
    return "conv"


def _is_linen(layer: Any) -> bool:
    return callable(getattr(layer, "init", None)) and callable(getattr(layer, "apply", None))


def _name(layer: Any) -> str:
    cls = type(layer)
    module = cls.__module__
    if module.startswith("flax.nnx"):
        module = "flax.nnx"
    elif module.startswith("flax.linen"):
        module = "flax.linen"
    return f"{module}.{cls.__name__}"


def _params(layer: Any, variables: Any) -> tuple[np.ndarray, np.ndarray | None, str, str]:
    """The kernel and bias, and how the user reaches them (for the text)."""
    if _is_linen(layer):
        if variables is None:
            raise TypeError(
                f"`explain` of the Linen layer {_name(layer)} needs its variables: "
                "explain(layer, x, index, variables=variables)."
            )
        try:
            params = variables["params"]
            kernel = params["kernel"]
        except (KeyError, TypeError):
            raise ValueError(
                "`variables` must hold the layer's parameters as variables['params']['kernel'] "
                f"(and ['bias']), got {type(variables).__name__} with keys "
                f"{list(getattr(variables, 'keys', list)())}."
            ) from None
        bias = params.get("bias") if hasattr(params, "get") else None
        return (
            _concrete("kernel", kernel),
            None if bias is None else _concrete("bias", bias),
            "variables['params']['kernel']",
            "variables['params']['bias']",
        )
    if variables is not None:
        raise TypeError(
            f"{_name(layer)} holds its own parameters; `variables` is only for Linen layers."
        )
    kernel = layer.kernel[...]
    bias = getattr(layer, "bias", None)
    bias = None if bias is None else bias[...]
    return (
        _concrete("kernel", kernel),
        None if bias is None else _concrete("bias", bias),
        "layer.kernel[...]",
        "layer.bias[...]",
    )


def _fold(x: np.ndarray, lhs: str, num_spatial: int) -> tuple[np.ndarray, tuple[int, ...] | None]:
    """Flax's batch rule: no batch axis gets one, several are flattened into one."""
    rank = num_spatial + 2
    if x.ndim < rank - 1:
        raise ValueError(
            f"`x` must have rank >= {rank - 1} (layout {lhs!r}, optionally without the batch "
            f"axis), got shape {x.shape}."
        )
    pos = lhs.index("N")
    if x.ndim == rank:
        return x, None
    if x.ndim == rank - 1:
        return np.expand_dims(x, pos), ()
    extra = x.ndim - rank + 1
    batch = tuple(x.shape[pos : pos + extra])
    return x.reshape(*x.shape[:pos], -1, *x.shape[pos + extra :]), batch


def _user_index(
    index: Any, plan: ConvPlan, out: str, batch: tuple[int, ...] | None
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The user's index (in the layer's output shape) and the folded one."""
    folded = plan.out_shape
    if batch is None:
        idx = _normalize_index(index, folded, out)
        return idx, idx
    pos = out.index("N")
    shape = (*folded[:pos], *batch, *folded[pos + 1 :])
    letters = out[:pos] + "N" * len(batch) + out[pos + 1 :]
    idx = _normalize_index(index, shape, letters)
    nb = len(batch)
    n = int(np.ravel_multi_index(idx[pos : pos + nb], batch)) if nb else 0
    return idx, (*idx[:pos], n, *idx[pos + nb :])


def _out_dtype(layer: Any, x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None) -> Any:
    import jax
    import jax.numpy as jnp

    pref = getattr(layer, "preferred_element_type", None)
    if pref is not None:
        return jnp.dtype(pref)
    dtype = getattr(layer, "dtype", None)
    if dtype is None:
        arrays = [x, kernel] + ([] if bias is None else [bias])
        dtype = jnp.result_type(*arrays)
    return jax.dtypes.canonicalize_dtype(dtype)


def explain_layer(layer: Any, x: Any, index: Any, variables: Any = None) -> Explanation:
    """[`jaxconv.explain`][jaxconv.explain]'s layer form: ``layer(x)[index]`` taken apart."""
    kind = _kind(layer)
    kernel, bias, w_name, b_name = _params(layer, variables)
    xu = _concrete("x", x)
    mask = getattr(layer, "mask", None)
    mask = None if mask is None else _concrete("mask", mask)
    if kind == "transpose":
        cfg = _layer.transpose_config(
            layer.kernel_size,
            layer.strides,
            layer.padding,
            layer.kernel_dilation,
            getattr(layer, "dimension_numbers", None),
            layer.transpose_kernel,
        )
        if cfg.padding == "CIRCULAR":
            raise ValueError(
                "`explain` does not take apart a ConvTranspose with padding='CIRCULAR' (its "
                "output is the 'VALID' output folded periodically); explain the same layer "
                "with padding='VALID' and add the outputs that fold onto the element."
            )
    else:
        cfg = _layer.conv_config(
            layer.kernel_size,
            layer.strides,
            layer.padding,
            getattr(layer, "input_dilation", 1),
            layer.kernel_dilation,
            getattr(layer, "feature_group_count", 1),
            getattr(layer, "dimension_numbers", None),
            getattr(layer, "padding_mode", "zeros"),
        )
    lay = cfg.layouts
    n = len(cfg.kernel_size)
    xn, batch = _fold(xu, lay.lhs, n)
    names = ("x", f"the kernel ({w_name})")
    transpose = None
    if kind == "transpose":
        plan, transpose = transpose_plan(
            xn.shape,
            kernel,
            lay.dn,
            cfg.strides,
            cfg.padding,
            cfg.kernel_dilation,
            cfg.transpose_kernel,
            False,
            names=names,
        )
        w_kind = "flip" if cfg.transpose_kernel else "conv"
    else:
        if kind == "local":
            c = xn.shape[lay.dn.lhs_spec[1]]
            o = kernel.shape[-1]
            w_shape = lay.kernel_shape(cfg.kernel_size, c, o)
        else:
            w_shape = kernel.shape
        plan = _conv_plan(xn.shape, w_shape, cfg, names)
        w_kind = "local" if kind == "local" else "conv"
        if kind == "local":
            expected = (*plan.out_spatial, plan.in_features * plan.taps, plan.out_features)
            if kernel.shape != expected:
                raise ValueError(
                    f"the layer's kernel of shape {kernel.shape} does not fit `x` of shape "
                    f"{xu.shape}: a locally connected kernel for it is {expected}."
                )
    user_idx, folded_idx = _user_index(index, plan, lay.out, batch)
    o_count = plan.out_features
    if bias is not None:
        want = (*plan.out_spatial, o_count) if kind == "local" else (o_count,)
        if bias.shape != want:
            raise ValueError(f"the layer's bias has shape {bias.shape}, expected {want}.")
    layouts = (lay.lhs, lay.rhs, lay.out)
    kernel_desc = (
        f"(*out_spatial, C * taps, O) {kernel.shape}, rows (C, *window)"
        if kind == "local"
        else f"{lay.rhs} {kernel.shape}"
    )
    batch_desc = (
        ""
        if batch is None
        else " (x has no batch axis)"
        if not batch
        else f" (x's batch axes {batch} read as one)"
    )
    desc = (
        f"{_name(layer)}: input {lay.lhs}{batch_desc}, kernel {kernel_desc} (w = {w_name})"
        + ("" if mask is None else ", times its mask (m = layer.mask)")
        + ("" if bias is None else f", bias {bias.shape} (b = {b_name})")
        + f", output {lay.out}"
    )
    return explain_plan(
        xn,
        kernel,
        plan,
        layouts,
        folded_idx,
        kernel=w_kind,
        mask=mask,
        bias=bias,
        out_dtype=_out_dtype(layer, xu, kernel, bias),
        transpose=transpose,
        layer=desc,
        batch_shape=batch,
        out_index=user_idx,
        x_user=xu,
    )


def _conv_plan(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...], cfg: _layer.ConvConfig, names: Any
) -> ConvPlan:
    """The plan of a ``Conv`` layer; a padding mode pads the undilated input (as Flax)."""
    form = _layer.MODULE._replace(lhs=names[0], rhs=names[1])
    return _layer.module_plan(cfg, x_shape, w_shape, form=form, diagnose=True)
