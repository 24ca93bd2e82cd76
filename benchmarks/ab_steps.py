"""Timed A/B of whole training steps: Flax's convolutions, an old jaxconv tree's and this
tree's, compiled from the same parameters and timed in the same rounds (the order rotates
every round); step times (medians), ratios to Flax, new/old, and XLA's compiled temp memory.

Usage:

    git worktree add /tmp/old <commit>
    python benchmarks/ab_steps.py --old /tmp/old/src [--rounds 15] [NET ...]

NET: a network of ``--suite models`` (``resnet20``, ``mobilenetv2``, ``unet``) or one of the
networks below, which are in no suite: a VGG-style CIFAR net, a dilated causal 1-d TCN, a
small 3-D net, a ConvNeXt-style net (7x7 depthwise, 1x1 expansions) and a ResNeXt-style one
(3x3 with 32 groups). Default: all of them. ``auto`` in every layer; one SGD step per call.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import time

import jax
import jax.numpy as jnp
import numpy as np
from ab_timed import old_package  # this folder is first on sys.path when run as a script
from flax import nnx

import jaxconv
import jaxconv.nnx
from jaxconv._bench import models, suites


class VGG(nnx.Module):
    def __init__(self, conv, rngs):
        widths = [(3, 32), (32, 32), (32, 64), (64, 64), (64, 128), (128, 128), (128, 256)]
        self.layers = nnx.List([conv(a, b, (3, 3), padding="SAME", rngs=rngs) for a, b in widths])
        self.head = nnx.Linear(256, 10, rngs=rngs)

    def __call__(self, x):
        for i, layer in enumerate(self.layers):
            x = nnx.relu(layer(x))
            if i in (1, 3, 5):
                x = nnx.max_pool(x, (2, 2), (2, 2))
        return self.head(x.mean((1, 2)))


class TCN(nnx.Module):
    def __init__(self, conv, rngs):
        self.inp = conv(8, 32, (1,), rngs=rngs)
        self.layers = nnx.List(
            [conv(32, 32, (3,), kernel_dilation=(d,), padding="CAUSAL", rngs=rngs)
             for d in (1, 2, 4, 8, 16, 32)]
        )  # fmt: skip
        self.head = nnx.Linear(32, 10, rngs=rngs)

    def __call__(self, x):
        x = self.inp(x)
        for layer in self.layers:
            x = x + nnx.relu(layer(x))
        return self.head(x.mean(1))


class Volume(nnx.Module):
    def __init__(self, conv, rngs):
        self.a = conv(1, 8, (3, 3, 3), padding="SAME", rngs=rngs)
        self.b = conv(8, 16, (3, 3, 3), strides=2, padding="SAME", rngs=rngs)
        self.c = conv(16, 32, (3, 3, 3), strides=2, padding="SAME", rngs=rngs)
        self.head = nnx.Linear(32, 10, rngs=rngs)

    def __call__(self, x):
        x = nnx.relu(self.c(nnx.relu(self.b(nnx.relu(self.a(x))))))
        return self.head(x.mean((1, 2, 3)))


class NeXt(nnx.Module):
    def __init__(self, conv, rngs):
        self.stem = conv(3, 48, (4, 4), strides=4, padding="VALID", rngs=rngs)
        self.blocks = nnx.List(
            [nnx.List([conv(48, 48, (7, 7), feature_group_count=48, padding="SAME", rngs=rngs),
                       conv(48, 192, (1, 1), rngs=rngs), conv(192, 48, (1, 1), rngs=rngs)])
             for _ in range(3)]
        )  # fmt: skip
        self.head = nnx.Linear(48, 10, rngs=rngs)

    def __call__(self, x):
        x = self.stem(x)
        for dw, a, b in self.blocks:
            x = x + b(nnx.gelu(a(dw(x))))
        return self.head(x.mean((1, 2)))


class ResNeXt(nnx.Module):
    def __init__(self, conv, rngs):
        self.stem = conv(3, 64, (3, 3), padding="SAME", rngs=rngs)
        self.blocks = nnx.List(
            [nnx.List([conv(64, 128, (1, 1), rngs=rngs),
                       conv(128, 128, (3, 3), feature_group_count=32, padding="SAME", rngs=rngs),
                       conv(128, 64, (1, 1), rngs=rngs)])
             for _ in range(2)]
        )  # fmt: skip
        self.head = nnx.Linear(64, 10, rngs=rngs)

    def __call__(self, x):
        x = nnx.relu(self.stem(x))
        for a, g, b in self.blocks:
            x = x + b(nnx.relu(g(nnx.relu(a(x)))))
        return self.head(x.mean((1, 2)))


# name -> (network, input shape (batch first, channels last))
OTHERS = {
    "vgg": (VGG, (16, 32, 32, 3)),
    "tcn": (TCN, (16, 2048, 8)),
    "volume": (Volume, (2, 32, 32, 32, 1)),
    "next": (NeXt, (16, 128, 128, 3)),
    "resnext": (ResNeXt, (16, 32, 32, 3)),
}


def _layers(mod):
    if mod is None:
        return models.flax_layers()
    return models.Layers(
        functools.partial(mod.nnx.Conv, conv_general_dilated=mod.conv_general_dilated),
        functools.partial(mod.nnx.ConvTranspose, conv_transpose=mod.conv_transpose),
    )


def compiled_step(name: str, mod):
    """``(compiled step, its arguments)`` of network ``name`` built with ``mod``'s
    convolutions (``None``: Flax's)."""
    layers = _layers(mod)
    if name in OTHERS:
        cls, shape = OTHERS[name]
        model = cls(layers.conv, nnx.Rngs(0))
        rng = np.random.default_rng(0)
        batch = (jnp.asarray(rng.standard_normal(shape), jnp.float32),
                 jnp.asarray(rng.integers(0, 10, shape[0])))  # fmt: skip
    else:
        case = {c.name: c for c in suites.MODELS}[name]
        model = models.build(case, layers)
        batch = models.make_batch(case, jnp.float32)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    step = models.train_step(graphdef)
    args = (params, rest, *batch)
    return jax.jit(step).lower(*args).compile(), args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="the old tree's src folder")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("nets", nargs="*", default=[c.name for c in suites.MODELS] + list(OTHERS))
    args = parser.parse_args()
    old = old_package(args.old)
    importlib.import_module(f"{old.__name__}.nnx")  # its Flax modules
    print(f"jax {jax.__version__}; {args.rounds} rounds; ms are medians.\n")
    print("| network | Flax ms | old ms | new ms | old/Flax | new/Flax | new/old "
          "| temp MiB Flax | old | new |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.nets:
        steps = {tag: compiled_step(name, mod) for tag, mod in
                 (("flax", None), ("old", old), ("new", jaxconv))}  # fmt: skip
        for f, a in steps.values():
            for _ in range(2):
                jax.block_until_ready(f(*a))
        tags = list(steps)
        times = {tag: [] for tag in tags}
        for r in range(args.rounds):
            for tag in tags[r % 3 :] + tags[: r % 3]:
                f, a = steps[tag]
                start = time.perf_counter()
                jax.block_until_ready(f(*a))
                times[tag].append(time.perf_counter() - start)
        ms = {tag: 1e3 * float(np.median(t)) for tag, t in times.items()}
        mib = {tag: f.memory_analysis().temp_size_in_bytes / 2**20 for tag, (f, _) in steps.items()}
        print(f"| {name} | {ms['flax']:.1f} | {ms['old']:.1f} | {ms['new']:.1f} "
              f"| {ms['old'] / ms['flax']:.2f} | {ms['new'] / ms['flax']:.2f} "
              f"| {ms['new'] / ms['old']:.3f} | {mib['flax']:.1f} | {mib['old']:.1f} "
              f"| {mib['new']:.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
