"""Real models in the bench: one training step of a network built with Flax's convolution
layers and again with jaxconv's, from the same initial parameters.

The networks (sizes in :data:`jaxconv._bench.suites.MODELS`), all NHWC:

- ``resnet``: the CIFAR ResNet (He et al. 2016, section 4.2): a 3x3 stem, stages of basic
  blocks (3x3, batch norm, ReLU, 3x3, batch norm, add, ReLU), a stride-2 first 3x3 at every
  stage start after the first, **projection shortcuts** (option B: a 1x1 stride-2 convolution
  and batch norm where the shape changes, identity elsewhere), global average pooling and a
  dense head. Convolutions have no bias (batch norm follows); 3x3 layers pad 1 on every side.
- ``mobilenetv2``: a 3x3/2 stem, inverted residual blocks (1x1 expand, batch norm, ReLU6,
  3x3 depthwise, batch norm, ReLU6, 1x1 project, batch norm, add where stride 1 and the
  features match; no expansion in the first block), a 1x1 last layer, global average
  pooling and a dense head.
- ``unet``: encoder levels of 3x3 convolution, batch norm and ReLU, 2x2 max pooling between
  them; a decoder of 2x2 stride-2 transposed convolutions (with bias), concatenation with
  the encoder's output of the same level and the same 3x3 layers; a 1x1 convolution to
  per-pixel class scores.

Each is built twice from the same ``nnx.Rngs`` seed — once with ``flax.nnx.Conv`` and
``flax.nnx.ConvTranspose``, once with ``jaxconv.nnx.Conv`` and ``jaxconv.nnx.ConvTranspose``
running ``jaxconv.conv_general_dilated`` / ``jaxconv.conv_transpose`` with the bench's
``--strategy`` — and the parameters are checked to be equal. One training step is the loss
(softmax cross-entropy: per image for the classifiers, per pixel for the U-Net), its gradient
with respect to every parameter, plain SGD on the parameters and batch norm's running
statistics updated (training mode). Both steps are jitted and compiled ahead of time, run
once untimed, checked (see :func:`run_model`: the losses agree, and the state after
jaxconv's step agrees with a float64 step's, on smooth twins of the networks), then timed in
interleaved rounds like the layer cases.

This module imports Flax; the bench imports it only when a model suite runs.
"""

from __future__ import annotations

import collections
import contextlib
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import jaxconv
import jaxconv.nnx
from jaxconv._conv import transpose_padding

from . import runner
from .suites import Case, ModelCase

LEARNING_RATE = 0.1
"""The SGD step size of the training step."""


class Layers(NamedTuple):
    """The convolution layer classes a network is built from (called as
    ``flax.nnx.Conv`` and ``flax.nnx.ConvTranspose`` are)."""

    conv: Callable[..., nnx.Module]
    conv_transpose: Callable[..., nnx.Module]


def flax_layers(strategy: str = "auto") -> Layers:
    """The baseline: ``flax.nnx.Conv`` and ``flax.nnx.ConvTranspose`` (XLA's convolution)."""
    del strategy
    return Layers(nnx.Conv, nnx.ConvTranspose)


def jaxconv_layers(strategy: str = "auto") -> Layers:
    """``jaxconv.nnx.Conv`` and ``jaxconv.nnx.ConvTranspose`` running ``strategy``."""
    return Layers(
        functools.partial(
            jaxconv.nnx.Conv,
            conv_general_dilated=functools.partial(jaxconv.conv_general_dilated, strategy=strategy),
        ),
        functools.partial(
            jaxconv.nnx.ConvTranspose,
            conv_transpose=functools.partial(jaxconv.conv_transpose, strategy=strategy),
        ),
    )


# ---------------------------------------------------------------------------------------
# The networks


def _max_pool_2x2(x: jax.Array) -> jax.Array:
    n, h, w, c = x.shape
    return jnp.max(x.reshape(n, h // 2, 2, w // 2, 2, c), axis=(2, 4))


def _mean_pool_2x2(x: jax.Array) -> jax.Array:
    n, h, w, c = x.shape
    return jnp.mean(x.reshape(n, h // 2, 2, w // 2, 2, c), axis=(2, 4))


def _smooth_relu6(x: jax.Array) -> jax.Array:
    return nnx.softplus(x) - nnx.softplus(x - 6)


class Kinks(NamedTuple):
    """The network's functions that are not smooth, and what :data:`SMOOTH` puts in their
    place."""

    relu: Callable[[jax.Array], jax.Array] = nnx.relu
    relu6: Callable[[jax.Array], jax.Array] = nnx.relu6
    pool: Callable[[jax.Array], jax.Array] = _max_pool_2x2


KINKED = Kinks()
"""The networks as published: ReLU, ReLU6, max pooling."""

SMOOTH = Kinks(nnx.softplus, _smooth_relu6, _mean_pool_2x2)
"""The smooth twin's functions, for checking a step's gradients: at a kink, a float32
rounding of one value can land on the other side of it from the float64 reference's, and
that one value's gradient then flows, or not, through every layer below it."""


class _Ctx(NamedTuple):
    """What every layer of a network is built with."""

    layers: Layers
    dtype: Any
    rngs: nnx.Rngs
    kinks: Kinks

    def conv(self, cin: int, cout: int, k: int, stride: int = 1, **kw: Any) -> nnx.Module:
        """A ``k x k`` convolution padding ``k // 2`` on every side, no bias unless asked."""
        kw.setdefault("use_bias", False)
        return self.layers.conv(cin, cout, (k, k), strides=stride, padding=k // 2,
                                dtype=self.dtype, rngs=self.rngs, **kw)  # fmt: skip

    def bn(self, features: int) -> nnx.BatchNorm:
        return nnx.BatchNorm(features, momentum=0.9, dtype=self.dtype, rngs=self.rngs)


class _ConvBN(nnx.Module):
    """Convolution, batch norm, then ``act`` (or none)."""

    def __init__(self, ctx: _Ctx, cin, cout, k, stride=1, groups=1, act=None):
        self.conv = ctx.conv(cin, cout, k, stride, feature_group_count=groups)
        self.bn = ctx.bn(cout)
        self.act = act

    def __call__(self, x):
        y = self.bn(self.conv(x))
        return y if self.act is None else self.act(y)


class BasicBlock(nnx.Module):
    """ResNet's basic block with a projection shortcut (1x1, stride, batch norm) where the
    shape changes."""

    def __init__(self, ctx: _Ctx, cin: int, cout: int, stride: int):
        self.a = _ConvBN(ctx, cin, cout, 3, stride, act=ctx.kinks.relu)
        self.b = _ConvBN(ctx, cout, cout, 3)
        self.shortcut = _ConvBN(ctx, cin, cout, 1, stride) if stride > 1 or cin != cout else None
        self.act = ctx.kinks.relu

    def __call__(self, x):
        s = x if self.shortcut is None else self.shortcut(x)
        return self.act(self.b(self.a(x)) + s)


class ResNet(nnx.Module):
    """The CIFAR ResNet: ``(N, H, W, C)`` images to ``(N, classes)`` logits."""

    def __init__(self, case: ModelCase, ctx: _Ctx):
        w = case.widths
        self.stem = _ConvBN(ctx, case.in_channels, w[0], 3, act=ctx.kinks.relu)
        blocks, cin = [], w[0]
        for i, cout in enumerate(w):
            for j in range(case.depth):
                blocks.append(BasicBlock(ctx, cin, cout, 2 if i > 0 and j == 0 else 1))
                cin = cout
        self.blocks = nnx.List(blocks)
        self.head = nnx.Linear(cin, case.classes, dtype=ctx.dtype, rngs=ctx.rngs)

    def __call__(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(jnp.mean(x, axis=(1, 2)))


class InvertedResidual(nnx.Module):
    """MobileNetV2's block: 1x1 expand (unless ``expand == 1``), 3x3 depthwise with
    ``stride``, 1x1 linear projection, and the residual where the shapes allow it."""

    def __init__(self, ctx: _Ctx, cin: int, cout: int, stride: int, expand: int):
        hidden = cin * expand
        self.expand = _ConvBN(ctx, cin, hidden, 1, act=ctx.kinks.relu6) if expand != 1 else None
        self.depthwise = _ConvBN(ctx, hidden, hidden, 3, stride, groups=hidden, act=ctx.kinks.relu6)
        self.project = _ConvBN(ctx, hidden, cout, 1)
        self.residual = stride == 1 and cin == cout

    def __call__(self, x):
        y = x if self.expand is None else self.expand(x)
        y = self.project(self.depthwise(y))
        return x + y if self.residual else y


class MobileNetV2(nnx.Module):
    """A MobileNetV2: ``(N, H, W, C)`` images to ``(N, classes)`` logits."""

    def __init__(self, case: ModelCase, ctx: _Ctx):
        stem, *stages, last = case.widths
        self.stem = _ConvBN(ctx, case.in_channels, stem, 3, 2, act=ctx.kinks.relu6)
        blocks, cin = [], stem
        for i, cout in enumerate(stages):
            expand, repeats, stride = (1, 1, 1) if i == 0 else (6, case.depth, 2)
            for j in range(repeats):
                blocks.append(InvertedResidual(ctx, cin, cout, stride if j == 0 else 1, expand))
                cin = cout
        self.blocks = nnx.List(blocks)
        self.last = _ConvBN(ctx, cin, last, 1, act=ctx.kinks.relu6)
        self.head = nnx.Linear(last, case.classes, dtype=ctx.dtype, rngs=ctx.rngs)

    def __call__(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(jnp.mean(self.last(x), axis=(1, 2)))


class _Level(nnx.Module):
    """``depth`` 3x3 layers (convolution, batch norm, ReLU)."""

    def __init__(self, ctx: _Ctx, cin: int, cout: int, depth: int):
        self.layers = nnx.List(
            [
                _ConvBN(ctx, cin if i == 0 else cout, cout, 3, act=ctx.kinks.relu)
                for i in range(depth)
            ]
        )

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class UNet(nnx.Module):
    """A U-Net: ``(N, H, W, C)`` images to ``(N, H, W, classes)`` per-pixel logits; ``H``
    and ``W`` divisible by ``2 ** (len(widths) - 1)``."""

    def __init__(self, case: ModelCase, ctx: _Ctx):
        w = case.widths
        cins = (case.in_channels, *w[:-1])
        self.down = nnx.List([_Level(ctx, a, b, case.depth) for a, b in zip(cins, w, strict=True)])
        self.up = nnx.List(
            [ctx.layers.conv_transpose(w[i + 1], w[i], (2, 2), strides=2, dtype=ctx.dtype,
                                       rngs=ctx.rngs) for i in reversed(range(len(w) - 1))]
        )  # fmt: skip
        self.decode = nnx.List(
            [_Level(ctx, 2 * w[i], w[i], case.depth) for i in reversed(range(len(w) - 1))]
        )
        self.out = ctx.conv(w[0], case.classes, 1, use_bias=True)
        self.pool = ctx.kinks.pool

    def __call__(self, x):
        skips = []
        for i, level in enumerate(self.down):
            if i:
                x = self.pool(x)
            x = level(x)
            skips.append(x)
        for up, level, skip in zip(self.up, self.decode, skips[-2::-1], strict=True):
            x = level(jnp.concatenate([skip, up(x)], axis=-1))
        return self.out(x)


ARCHITECTURES: dict[str, type[nnx.Module]] = {
    "resnet": ResNet,
    "mobilenetv2": MobileNetV2,
    "unet": UNet,
}


def build(
    case: ModelCase,
    layers: Layers,
    dtype: Any = jnp.float32,
    seed: int = 0,
    kinks: Kinks = KINKED,
) -> nnx.Module:
    """``case``'s network built from ``layers``; the same ``seed`` gives the same parameters
    whichever ``layers`` (Flax's or jaxconv's) and ``kinks`` it is built with. ``dtype``:
    the computation dtype (parameters are float32). ``kinks``: its activations and pooling,
    :data:`SMOOTH` for the smooth twin."""
    if case.arch not in ARCHITECTURES:
        raise ValueError(f"`case.arch` must be one of {tuple(ARCHITECTURES)}, got {case.arch!r}.")
    ctx = _Ctx(layers, jnp.dtype(dtype), nnx.Rngs(seed), kinks)
    # The initializers draw with JAX's original threefry: XLA:CPU compiles the default
    # (partitionable) one in 2-5 s for each new kernel shape, the original in 0.3 s (jax
    # 0.10), which made building a network take longer than compiling its training step.
    with _original_threefry():
        return ARCHITECTURES[case.arch](case, ctx)


def _original_threefry() -> contextlib.AbstractContextManager:
    switch = getattr(jax, "threefry_partitionable", None)
    return contextlib.nullcontext() if switch is None else switch(False)


def describe(case: ModelCase) -> str:
    """One line saying what ``case``'s network is."""
    w, n, d = "/".join(map(str, case.widths)), len(case.widths), case.depth
    if case.arch == "resnet":
        name = f"ResNet-{6 * d + 2}" if n == 3 else "ResNet"
        return (f"{name}: 3x3 stem, {n} stages x {d} basic blocks ({w}), 1x1/2 projection "
                "shortcuts, BN, GAP, dense")  # fmt: skip
    if case.arch == "mobilenetv2":
        blocks, down = 1 + (n - 3) * d, n - 3
        return (f"MobileNetV2: 3x3/2 stem, {blocks} inverted residual blocks ({w}, t=1 then "
                f"6, {down} stride-2 depthwise), 1x1 last layer, BN, GAP, dense")  # fmt: skip
    return (f"U-Net: {n} levels ({w}) of {d} 3x3 conv+BN+ReLU, 2x2 max pool, 2x2/2 "
            "ConvTranspose up, concat skips, 1x1 out, per-pixel CE")  # fmt: skip


# ---------------------------------------------------------------------------------------
# The training step


def make_batch(case: ModelCase, dtype: Any, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: unit normal ``(batch, *in_hw, in_channels)`` images in ``dtype``
    and integer labels, ``(batch,)`` for the classifiers, ``(batch, *in_hw)`` for the U-Net."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case.batch, *case.in_hw, case.in_channels), np.float32)
    label_shape = (case.batch, *case.in_hw) if case.arch == "unet" else (case.batch,)
    labels = rng.integers(0, case.classes, label_shape, dtype=np.int32)
    return np.asarray(jnp.asarray(x, dtype)), labels


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy in float32; ``logits`` ``(*labels.shape, classes)``."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return -jnp.mean(jnp.take_along_axis(logp, labels[..., None], axis=-1))


def train_step(graphdef: Any, lr: float = LEARNING_RATE) -> Callable[..., Any]:
    """``(params, rest, images, labels) -> (loss, new_params, new_rest)``: one SGD step of
    the network ``graphdef`` (``nnx.split(model, nnx.Param, ...)``'s first part); ``rest``
    holds batch norm's running statistics, updated in training mode."""

    def step(params, rest, x, labels):
        # Merged outside the gradient: nnx.value_and_grad differentiates the Params and
        # carries batch norm's statistics out (under jax.grad a BatchStat cannot be updated).
        model = nnx.merge(graphdef, params, rest)
        loss, grads = nnx.value_and_grad(lambda m: cross_entropy(m(x), labels))(model)
        new_params = jax.tree.map(lambda p, g: p - lr * g.astype(p.dtype), params, grads)
        return loss, new_params, nnx.state(model, nnx.Not(nnx.Param))

    return step


def _leaves(tree: Any) -> list[tuple[str, Any]]:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return [(jax.tree_util.keystr(path), leaf) for path, leaf in flat]


def same_parameters(a: Any, b: Any) -> str | None:
    """``None`` when the states ``a`` and ``b`` have the same paths, shapes, dtypes and
    values; else what differs first."""
    la, lb = _leaves(a), _leaves(b)
    if [k for k, _ in la] != [k for k, _ in lb]:
        return f"different parameter paths: {[k for k, _ in la]} vs {[k for k, _ in lb]}"
    for (key, x), (_, y) in zip(la, lb, strict=True):
        x, y = np.asarray(x), np.asarray(y)
        if x.shape != y.shape or x.dtype != y.dtype or not np.array_equal(x, y):
            return f"{key}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}, or different values"
    return None


# ---------------------------------------------------------------------------------------
# Which convolutions a network runs


def _layer_name(c: Case) -> str:
    """``'32_3x3s2_16-32'``: input size, kernel, stride, features (``t``: transposed,
    ``dw``: depthwise)."""
    kind = "t" if c.transposed else ""
    stride = f"s{c.strides[0]}" if c.strides != (1, 1) else ""
    dw = "_dw" if c.kind == "depthwise" else ""
    k = f"{c.kernel[0]}x{c.kernel[1]}"
    return f"{c.in_spatial[0]}_{k}{kind}{stride}_{c.in_channels}-{c.out_channels}{dw}"


def conv_layers(
    case: ModelCase, dtype: Any = jnp.float32, strategy: str = "auto", direction: str = "fwd"
) -> list[tuple[Case, str]]:
    """Every convolution ``case``'s network runs in its forward pass, in order, as a layer
    :class:`~jaxconv._bench.suites.Case` (NHWC, the network's batch) with the strategy
    jaxconv runs for it (auto's choice, or ``strategy`` when forced), in inference or, with
    ``direction='fwd+bwd'``, in a training step (where ``auto`` may differ:
    :func:`jaxconv._policy.differentiated_choice`). Only shapes are traced
    (``jax.eval_shape``)."""
    calls: list[Case] = []

    def record_conv(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                    dimension_numbers=None, feature_group_count=1, **kw):  # fmt: skip
        pads = padding if isinstance(padding, str) else tuple(map(tuple, padding))
        calls.append(Case("", lhs.shape[0], lhs.shape[1:3], lhs.shape[3], rhs.shape[3],
                          rhs.shape[:2], tuple(window_strides), pads,
                          tuple(rhs_dilation or (1, 1)), feature_group_count))  # fmt: skip
        return jax.lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation,
                                            rhs_dilation, dimension_numbers,
                                            feature_group_count)  # fmt: skip

    def record_transpose(lhs, rhs, strides, padding, rhs_dilation=None,
                         dimension_numbers=None, **kw):  # fmt: skip
        # lax's 'SAME'/'VALID' as the pads of the dilated input, as jaxconv computes them.
        pads = transpose_padding(padding, rhs.shape[:2], strides, rhs_dilation or (1, 1), False)
        pads = tuple(map(tuple, pads))
        calls.append(Case("", lhs.shape[0], lhs.shape[1:3], lhs.shape[3], rhs.shape[3],
                          rhs.shape[:2], tuple(strides), pads, transposed=True))  # fmt: skip
        return jax.lax.conv_transpose(lhs, rhs, strides, padding, rhs_dilation,
                                      dimension_numbers)  # fmt: skip

    # The networks are NHWC with HWIO kernels throughout: the layer cases' own layout.
    layers = Layers(
        functools.partial(jaxconv.nnx.Conv, conv_general_dilated=record_conv),
        functools.partial(jaxconv.nnx.ConvTranspose, conv_transpose=record_transpose),
    )
    graphdef, state = nnx.split(nnx.eval_shape(lambda: build(case, layers, dtype)))
    x = jax.ShapeDtypeStruct((case.batch, *case.in_hw, case.in_channels), dtype)
    jax.eval_shape(lambda s, x: nnx.merge(graphdef, s)(x), state, x)
    return [
        (
            c._replace(name=_layer_name(c)),
            runner.chosen_strategy(c, "NHWC", dtype, strategy, direction),
        )
        for c in calls
    ]


def layer_cases(case: ModelCase, dtype: Any = jnp.float32) -> list[tuple[Case, int, str]]:
    """The distinct convolutions of ``case``'s network (:func:`conv_layers`), in order of
    first use, each with how many times one forward pass runs it and auto's strategy."""
    distinct: dict[Case, list] = {}
    for c, strategy in conv_layers(case, dtype):
        distinct.setdefault(c, [c, 0, strategy])[1] += 1
    return [tuple(v) for v in distinct.values()]


# ---------------------------------------------------------------------------------------
# One model case


def state_errors(ref: Any, new: Any) -> tuple[float, float, str]:
    """How far the state ``new`` is from ``ref`` (trees of the same paths), per layer: the
    worst over layers of ``max|new - ref| / max|ref|`` over the layer's arrays (a
    convolution's kernel and bias, a batch norm's scale and bias; its running mean and
    variance, which live in another tree, apart).

    Returns:
        ``(max abs error, max relative error, the worst layer's path)``.
    """
    layers: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    for (key, r), (_, n) in zip(_leaves(ref), _leaves(new), strict=True):
        got, want = layers.setdefault(key.rsplit("[", 1)[0], ([], []))  # drop "['bias'].value"
        got.append(np.asarray(n, np.float64).ravel())
        want.append(np.asarray(r, np.float64).ravel())
    worst = (0.0, 0.0, "")
    for layer, (got, want) in layers.items():
        abs_err, rel_err = runner.errors([np.concatenate(got)], [np.concatenate(want)])
        if not rel_err <= worst[1]:
            worst = (abs_err, rel_err, layer)
    return worst


def reference_step(
    case: ModelCase,
    params: Any,
    rest: Any,
    images: Any,
    labels: Any,
    kinks: Kinks = SMOOTH,
) -> Any:
    """The reference for the updated state: Flax's training step of ``case``'s network
    (built with ``kinks``, by default its smooth twin) in float64, on the CPU, from
    ``params`` and ``rest`` (batch norm's statistics) cast to float64: a reference with no
    float32 rounding of its own, against which Flax's float32 step measures that rounding.

    Returns:
        ``(new_params, new_rest)`` as float64 numpy arrays in ``nnx.State`` trees.
    """
    with jax.enable_x64(True):
        model = nnx.eval_shape(lambda: build(case, flax_layers(), jnp.float64, kinks=kinks))
        graphdef = nnx.split(model, nnx.Param, ...)[0]
        args = jax.tree.map(lambda a: np.asarray(a, np.float64), (params, rest, images))
        args = jax.device_put((*args, labels), jax.devices("cpu")[0])
        _, new_params, new_rest = jax.jit(train_step(graphdef))(*args)
        return jax.device_get((new_params, new_rest))


MORE_ROUNDS = 3
"""A model step's rounds, at most, in times ``reps``: where the times spread more than
:data:`jaxconv._bench.runner.SPREAD` (:func:`run_model`)."""


def run_model(
    suite: str,
    case: ModelCase,
    device: Any,
    dtype: Any = jnp.float32,
    *,
    reps: int = 10,
    strategy: str = "auto",
    layers: Callable[[str], Layers] = jaxconv_layers,
) -> dict[str, Any]:
    """Verify and time one training step of ``case``'s network built with Flax's layers
    and with ``layers(strategy)``; the record described by ``report.MODEL_SCHEMA``.

    The checks, at :func:`runner.tolerance` of ``dtype`` on the device's platform: both
    builds start from equal parameters; the losses (before the step) agree; and on the
    networks' smooth twins (:data:`SMOOTH`: the same parameters and convolutions, softplus
    for ReLU, mean for max pooling), the state after jaxconv's step (parameters, and batch
    norm's statistics) agrees layer by layer with :func:`reference_step`'s (see
    :func:`state_errors`) within the tolerance or twice the distance of Flax's own step
    from it, whichever is larger. With the step size 0.1, a gradient off by more than 1e-3
    of a layer's largest parameter fails the float32 check. Twins, because in the real
    networks one ReLU input within rounding of zero (1.6e-6 in ResNet-20 on one host) can
    fall on its other side in float32 than in float64, which moved a kernel's update by 4 %.

    Args:
        suite, case: the network and the suite it came from.
        device: a ``jax.Device``; parameters and data are committed to it.
        dtype: the computation dtype (parameters stay float32).
        reps: timed rounds, each running both steps (interleaved, alternating which first);
            up to :data:`MORE_ROUNDS` times as many where the times spread widely.
        strategy: passed to ``layers`` (jaxconv's ``strategy=``).
        layers: builds the layers under test; tests pass wrong ones here.

    Raises:
        VerificationError: when a check fails.
    """
    import flax

    dtype = jnp.dtype(dtype)
    label = f"{suite}/{case.name} [{dtype.name}, {device}]"
    tol = runner.tolerance(dtype, device.platform)
    models = [build(case, flax_layers(), dtype), build(case, layers(strategy), dtype)]
    splits = [nnx.split(m, nnx.Param, ...) for m in models]
    problem = same_parameters(splits[0][1], splits[1][1]) or same_parameters(
        splits[0][2], splits[1][2]
    )
    if problem:
        raise runner.VerificationError(f"{label}: the initial parameters differ: {problem}.")
    batch = make_batch(case, dtype)
    args = [jax.device_put((params, rest, *batch), device) for _, params, rest in splits]
    fl, fl_compile, fl_temp = runner._compile(train_step(splits[0][0]), *args[0])
    jc, jc_compile, jc_temp = runner._compile(train_step(splits[1][0]), *args[1])
    (fl_loss, *_), _ = runner._timed(fl, *args[0])
    (jc_loss, *_), _ = runner._timed(jc, *args[1])

    fl_loss, jc_loss = float(fl_loss), float(jc_loss)
    loss_diff = abs(jc_loss - fl_loss) / max(abs(fl_loss), np.finfo(np.float32).tiny)
    if not loss_diff <= tol:
        raise runner.VerificationError(
            f"{label}: jaxconv's loss {jc_loss!r} differs from Flax's {fl_loss!r} (relative "
            f"difference {loss_diff:.3g} > tolerance {tol:.3g})."
        )
    twins = [build(case, ls, dtype, kinks=SMOOTH) for ls in (flax_layers(), layers(strategy))]
    fl_new, jc_new = (
        jax.jit(train_step(nnx.split(twin, nnx.Param, ...)[0]))(*a)[1:]
        for twin, a in zip(twins, args, strict=True)
    )
    ref = reference_step(case, splits[0][1], splits[0][2], *batch)
    upd_abs, upd_rel, where = state_errors(ref, jc_new)
    flax_upd_rel = state_errors(ref, fl_new)[1]
    # Flax's own float32 step (XLA's convolution) is the measure of float32 rounding here:
    # jaxconv's may be twice as far from the float64 step, and never further than the
    # tolerance would allow otherwise.
    upd_tol = max(tol, 2 * flax_upd_rel)
    if not upd_rel <= upd_tol:
        raise runner.VerificationError(
            f"{label}: after one step, jaxconv's {where} differs from the float64 step's: max "
            f"abs error {upd_abs:.3g}, relative error {upd_rel:.3g} > tolerance {upd_tol:.3g} "
            f"(Flax's step: {flax_upd_rel:.3g})."
        )

    fns = [functools.partial(fl, *args[0]), functools.partial(jc, *args[1])]
    # As the layer cases do: steps whose times spread over runner.SPREAD get more rounds,
    # up to MORE_ROUNDS times reps.
    fl_s, jc_s = runner.time_adaptive(fns, (), reps, float("inf"), most=MORE_ROUNDS)
    fl_ms, fl_min, fl_max = runner._stats(fl_s)
    jc_ms, jc_min, jc_max = runner._stats(jc_s)
    # what the training step runs (differentiated), not inference's choice
    strategies = collections.Counter(s for _, s in conv_layers(case, dtype, strategy, "fwd+bwd"))
    return {
        **_device_fields(device),
        "flax_version": flax.__version__,
        "suite": suite, "case": case.name, "arch": case.arch, "description": describe(case),
        "batch": case.batch, "in_h": case.in_hw[0], "in_w": case.in_hw[1],
        "in_channels": case.in_channels, "classes": case.classes,
        "params": int(sum(np.size(a) for _, a in _leaves(splits[0][1]))),
        "convs": sum(strategies.values()), "strategies": dict(strategies.most_common()),
        "dtype": dtype.name, "layout": "NHWC", "strategy": strategy,
        "flax_ms": fl_ms, "flax_min_ms": fl_min, "flax_max_ms": fl_max,
        "jaxconv_ms": jc_ms, "jaxconv_min_ms": jc_min, "jaxconv_max_ms": jc_max,
        "reps": len(jc_s), "ratio": jc_ms / fl_ms, "min_ratio": jc_min / fl_min,
        "spread": max(runner.spread(fl_s), runner.spread(jc_s)),
        "flax_temp_bytes": fl_temp, "jaxconv_temp_bytes": jc_temp,
        "flax_compile_s": fl_compile, "jaxconv_compile_s": jc_compile,
        "loss_flax": fl_loss, "loss_jaxconv": jc_loss, "loss_rel_diff": loss_diff,
        "update_max_abs_error": upd_abs, "update_max_rel_error": upd_rel,
        "flax_update_max_rel_error": flax_upd_rel, "tolerance": tol,
        "update_tolerance": upd_tol,
    }  # fmt: skip


def _device_fields(device: Any) -> dict[str, Any]:
    fields = runner._device_fields([device])
    return {k: fields[k] for k in ("device", "platform", "device_kind", "jax_version",
                                   "jaxconv_version")}  # fmt: skip
