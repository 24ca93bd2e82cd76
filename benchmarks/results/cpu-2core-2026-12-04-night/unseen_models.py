"""Training steps of seven networks in no suite of the bench: Flax's convolution against
jaxconv's (``auto``), the same parameters, interleaved rounds (medians of 10).

    python benchmarks/results/cpu-2core-2026-12-04-night/unseen_models.py [name ...]

Networks (float32, channels-last): a TCN (dilated causal 1-d, 64 features, 8 x 4096), a
wav2vec 2.0-style feature encoder (128 features, 4 x 16000 samples), a small 3-d CNN
(2 x 32^3), a ConvNeXt-style net (7x7 depthwise, 16 x 64^2), a VGG-style net (16 x 32^2),
EfficientNet-style MBConv blocks (5x5 depthwise, 16 x 64^2) and a super-resolution-style
net of few features at full resolution (4 x 128^2). The loss is the mean square of the
output; the step is SGD.
"""

import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import jaxconv
import jaxconv.nnx
from jaxconv._bench import runner


def layers(which, strategy="auto"):
    if which == "flax":
        return nnx.Conv
    return functools.partial(
        jaxconv.nnx.Conv,
        conv_general_dilated=functools.partial(jaxconv.conv_general_dilated, strategy=strategy),
    )


class TCN(nnx.Module):
    # WaveNet/TCN-style: dilated causal 1-d convolutions with residuals.
    def __init__(self, Conv, rngs, c=64, cin=8, dil=(1, 2, 4, 8, 16, 32)):
        self.inp = Conv(cin, c, 1, rngs=rngs)
        self.convs = nnx.List(
            [Conv(c, c, 3, kernel_dilation=d, padding="CAUSAL", rngs=rngs) for d in dil]
        )
        self.mix = nnx.List([Conv(c, c, 1, rngs=rngs) for _ in dil])
        self.out = Conv(c, 4, 1, rngs=rngs)

    def __call__(self, x):
        x = self.inp(x)
        for a, b in zip(self.convs, self.mix, strict=True):
            x = x + b(jnp.tanh(a(x)))
        return self.out(x)


class Wav2Vec(nnx.Module):
    # wav2vec 2.0 feature encoder, narrower: (10,5), (3,2)x4, (2,2)x2.
    def __init__(self, Conv, rngs, c=128):
        spec = [(10, 5)] + [(3, 2)] * 4 + [(2, 2)] * 2
        self.convs = nnx.List(
            [
                Conv(1 if i == 0 else c, c, k, s, padding="VALID", use_bias=False, rngs=rngs)
                for i, (k, s) in enumerate(spec)
            ]
        )
        self.out = Conv(c, 4, 1, rngs=rngs)

    def __call__(self, x):
        for conv in self.convs:
            x = nnx.gelu(conv(x))
        return self.out(x)


class Net3d(nnx.Module):
    def __init__(self, Conv, rngs):
        self.a = Conv(1, 16, (3, 3, 3), rngs=rngs)
        self.b = Conv(16, 32, (3, 3, 3), 2, rngs=rngs)
        self.c = Conv(32, 32, (3, 3, 3), rngs=rngs)
        self.d = Conv(32, 64, (3, 3, 3), 2, rngs=rngs)
        self.out = Conv(64, 4, 1, rngs=rngs)

    def __call__(self, x):
        for m in (self.a, self.b, self.c, self.d):
            x = nnx.relu(m(x))
        return self.out(x)


class ConvNeXt(nnx.Module):
    def __init__(self, Conv, rngs, dims=(48, 96), depth=2):
        self.stem = Conv(3, dims[0], (4, 4), 4, padding="VALID", rngs=rngs)
        blocks = []
        for i, d in enumerate(dims):
            if i:
                blocks.append(("down", Conv(dims[i - 1], d, (2, 2), 2, padding="VALID", rngs=rngs)))
            for _ in range(depth):
                blocks.append(
                    (
                        "block",
                        nnx.List(
                            [
                                Conv(d, d, (7, 7), feature_group_count=d, rngs=rngs),
                                nnx.LayerNorm(d, rngs=rngs),
                                Conv(d, 4 * d, 1, rngs=rngs),
                                Conv(4 * d, d, 1, rngs=rngs),
                            ]
                        ),
                    )
                )
        self.kinds = [k for k, _ in blocks]
        self.blocks = nnx.List([m for _, m in blocks])
        self.out = Conv(dims[-1], 10, 1, rngs=rngs)

    def __call__(self, x):
        x = self.stem(x)
        for kind, m in zip(self.kinds, self.blocks, strict=True):
            if kind == "down":
                x = m(x)
            else:
                dw, ln, a, b = m
                x = x + b(nnx.gelu(a(ln(dw(x)))))
        return jnp.mean(self.out(x), axis=(1, 2))


class VGG(nnx.Module):
    def __init__(self, Conv, rngs, widths=(32, 64, 128)):
        convs, cin = [], 3
        for w in widths:
            convs += [Conv(cin, w, (3, 3), rngs=rngs), Conv(w, w, (3, 3), rngs=rngs)]
            cin = w
        self.convs = nnx.List(convs)
        self.out = Conv(cin, 10, 1, rngs=rngs)

    def __call__(self, x):
        for i, c in enumerate(self.convs):
            x = nnx.relu(c(x))
            if i % 2 == 1:
                n, h, w, ch = x.shape
                x = jnp.max(x.reshape(n, h // 2, 2, w // 2, 2, ch), axis=(2, 4))
        return jnp.mean(self.out(x), axis=(1, 2))


class EffNet(nnx.Module):
    # MBConv blocks with 5x5 depthwise, stride 2, expansion 6 (EfficientNet-B0 stages 3/5).
    def __init__(self, Conv, rngs):
        self.stem = Conv(3, 16, (3, 3), 2, rngs=rngs)
        spec = [(16, 24, 5, 2), (24, 24, 5, 1), (24, 40, 5, 2), (40, 40, 5, 1)]
        blocks = []
        for cin, cout, k, s in spec:
            h = 6 * cin
            blocks.append(
                nnx.List(
                    [
                        Conv(cin, h, 1, rngs=rngs),
                        Conv(h, h, (k, k), s, feature_group_count=h, rngs=rngs),
                        Conv(h, cout, 1, rngs=rngs),
                    ]
                )
            )
        self.res = [cin == cout and s == 1 for cin, cout, k, s in spec]
        self.blocks = nnx.List(blocks)
        self.out = Conv(40, 10, 1, rngs=rngs)

    def __call__(self, x):
        x = nnx.silu(self.stem(x))
        for (e, d, p), r in zip(self.blocks, self.res, strict=True):
            y = p(nnx.silu(d(nnx.silu(e(x)))))
            x = x + y if r else y
        return jnp.mean(self.out(x), axis=(1, 2))


class SRNet(nnx.Module):
    # Super-resolution style: full-resolution few-feature 3x3 layers (ESPCN/FSRCNN-like).
    def __init__(self, Conv, rngs):
        self.a = Conv(3, 32, (5, 5), rngs=rngs)
        self.b = Conv(32, 16, (3, 3), rngs=rngs)
        self.c = Conv(16, 16, (3, 3), rngs=rngs)
        self.d = Conv(16, 12, (3, 3), rngs=rngs)

    def __call__(self, x):
        x = nnx.relu(self.a(x))
        x = nnx.relu(self.b(x))
        x = nnx.relu(self.c(x))
        return self.d(x)


MODELS = {
    "tcn": (TCN, (8, 4096, 8)),
    "wav2vec": (Wav2Vec, (4, 16000, 1)),
    "net3d": (Net3d, (2, 32, 32, 32, 1)),
    "convnext": (ConvNeXt, (16, 64, 64, 3)),
    "vgg": (VGG, (16, 32, 32, 3)),
    "effnet": (EffNet, (16, 64, 64, 3)),
    "srnet": (SRNet, (4, 128, 128, 3)),
}


def step_fn(graphdef):
    def step(params, rest, x):
        model = nnx.merge(graphdef, params, rest)

        def loss(m):
            y = m(x)
            return jnp.mean(y.astype(jnp.float32) ** 2)

        value, g = nnx.value_and_grad(loss)(model)
        return value, jax.tree.map(lambda p, gg: p - 0.01 * gg, params, g)

    return step


def run(name, reps=10, strategy="auto"):
    cls, shape = MODELS[name]
    x = jax.random.normal(jax.random.key(1), shape, jnp.float32)
    out = []
    for which in ("flax", "jaxconv"):
        m = cls(layers(which, strategy), nnx.Rngs(0))
        gd, params, rest = nnx.split(m, nnx.Param, ...)
        f = jax.jit(step_fn(gd)).lower(params, rest, x).compile()
        out.append((f, params, rest))
    l0 = float(out[0][0](out[0][1], out[0][2], x)[0])
    l1 = float(out[1][0](out[1][1], out[1][2], x)[0])
    fns = [functools.partial(f, p, r, x) for f, p, r in out]
    for fn in fns:
        jax.block_until_ready(fn())
    ts = runner.time_interleaved(fns, (), reps)
    fl, jc = (float(np.median(t)) * 1e3 for t in ts)
    print(
        f"{name:9s} flax {fl:8.2f} ms  jaxconv {jc:8.2f} ms  ratio {jc / fl:5.2f}  "
        f"loss rel diff {abs(l1 - l0) / abs(l0):.1e}",
        flush=True,
    )
    return jc / fl


if __name__ == "__main__":
    names = sys.argv[1:] or list(MODELS)
    rs = [run(n) for n in names]
    print("geomean", float(np.exp(np.mean(np.log(rs)))))
