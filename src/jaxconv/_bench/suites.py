"""Named benchmark suites: lists of convolution layers, each with its source.

A :class:`Case` describes one layer of 1, 2 or 3 spatial dims in channels-last terms —
input ``(N, *spatial, C)``, kernel ``(*kernel, C // groups, O)`` — and the runner builds the
channels-last (``NHWC``-like) and channels-first (``NCHW``-like) arrays from it. Batch sizes
(and, for a few very large inputs, spatial sizes) are scaled down from the published
problems so that every suite runs in minutes on a 2-core CPU in both layouts and both
directions; each such change is noted next to the case. The layers' channel counts,
kernels, strides, padding, dilations and groups are the published ones.

The ``random`` suite is different: layers drawn, from a fixed seed, the way real networks
are built (see :func:`random_layers`), each followed by the convolution that computes its
input gradient; it is the data ``auto``'s rules are fitted on.

This module imports nothing heavy, so ``--help`` and the suite listing stay fast.
"""

from __future__ import annotations

import math
import random
from typing import NamedTuple

import numpy as np

Padding = str | tuple[tuple[int, int], ...]


class Case(NamedTuple):
    """One convolution layer with ``len(kernel)`` spatial dims (every tuple that long).

    For ``transposed`` cases the layer is ``lax.conv_transpose(x, w, strides, padding)``:
    input ``(N, *spatial, C)``, kernel ``(*kernel, C, O)`` and ``padding`` the explicit pairs
    applied to the stride-dilated input (PyTorch's ``ConvTranspose2d(k, s, p,
    output_padding=op)`` is ``((k-1-p, k-1-p+op),)*2``). Otherwise it is
    ``lax.conv_general_dilated`` with these strides, padding, ``lhs_dilation`` (input
    dilation, as in the input gradient of a strided layer) and ``dilation`` (the kernel's).
    """

    name: str
    batch: int
    in_spatial: tuple[int, ...]
    in_channels: int
    out_channels: int
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    padding: Padding = "SAME"
    dilation: tuple[int, ...] | None = None  # None: 1 along every dim
    groups: int = 1
    transposed: bool = False
    lhs_dilation: tuple[int, ...] | None = None  # None: 1 along every dim
    layouts: tuple[str, ...] | None = None  # None: every layout asked for
    # None: the --dtype asked for. An integer dtype: forward only, accumulated in int32
    # (preferred_element_type) by jaxconv and lax alike, checked bit-exact.
    dtype: str | None = None

    @property
    def rank(self) -> int:
        """The number of spatial dims."""
        return len(self.kernel)

    @property
    def rhs_dilation(self) -> tuple[int, ...]:
        return self.dilation or (1,) * self.rank

    @property
    def input_dilation(self) -> tuple[int, ...]:
        return self.lhs_dilation or (1,) * self.rank

    @property
    def kind(self) -> str:
        """``'transposed'``, ``'depthwise'``, ``'grouped'``, ``'dilated'`` or ``'dense'``."""
        if self.transposed or any(d > 1 for d in self.input_dilation):
            return "transposed"
        if self.groups > 1 and self.groups == self.in_channels:
            return "depthwise"
        if self.groups > 1:
            return "grouped"
        if any(d > 1 for d in self.rhs_dilation):
            return "dilated"
        return "dense"


def _pad(p: int) -> Padding:
    return ((p, p), (p, p))


def _c(name, n, hw, cin, cout, k, s=1, p=None, d=1, g=1) -> Case:
    """A 2-d forward case with square kernel ``k``, stride ``s``, symmetric pad ``p``
    (``None``: ``'SAME'``), dilation ``d`` and ``g`` groups."""
    hw = (hw, hw) if isinstance(hw, int) else tuple(hw)
    k = (k, k) if isinstance(k, int) else tuple(k)
    padding = "SAME" if p is None else _pad(p) if isinstance(p, int) else p
    return Case(name, n, hw, cin, cout, k, (s, s), padding, (d, d), g)


def _t(name, n, hw, cin, cout, k, s, p, op=0) -> Case:
    """A 2-d transposed case given as PyTorch's ``ConvTranspose2d(cin, cout, k, s, p, op)``."""
    lo, hi = k - 1 - p, k - 1 - p + op
    return Case(name, n, (hw, hw), cin, cout, (k, k), (s, s), ((lo, hi), (lo, hi)), transposed=True)


# ResNet-50 v1.5 (He et al. 2016, "Deep Residual Learning"; torchvision's resnet50, stride in
# the 3x3 of each stage's first block): its 23 distinct convolutions, the 7x7/2 stem
# included, at the published 224x224 resolution with batch 1 (training uses 32-256).
RESNET50 = [
    _c("stem_7x7s2_3-64", 1, 224, 3, 64, 7, 2, 3),
    # conv2_x at 56x56
    _c("c2_1x1_64-64", 1, 56, 64, 64, 1, 1, 0),
    _c("c2_3x3_64-64", 1, 56, 64, 64, 3, 1, 1),
    _c("c2_1x1_64-256", 1, 56, 64, 256, 1, 1, 0),
    _c("c2_1x1_256-64", 1, 56, 256, 64, 1, 1, 0),
    # conv3_x: 56 -> 28
    _c("c3_1x1_256-128", 1, 56, 256, 128, 1, 1, 0),
    _c("c3_3x3s2_128-128", 1, 56, 128, 128, 3, 2, 1),
    _c("c3_1x1s2_256-512_proj", 1, 56, 256, 512, 1, 2, 0),
    _c("c3_1x1_128-512", 1, 28, 128, 512, 1, 1, 0),
    _c("c3_1x1_512-128", 1, 28, 512, 128, 1, 1, 0),
    _c("c3_3x3_128-128", 1, 28, 128, 128, 3, 1, 1),
    # conv4_x: 28 -> 14
    _c("c4_1x1_512-256", 1, 28, 512, 256, 1, 1, 0),
    _c("c4_3x3s2_256-256", 1, 28, 256, 256, 3, 2, 1),
    _c("c4_1x1s2_512-1024_proj", 1, 28, 512, 1024, 1, 2, 0),
    _c("c4_1x1_256-1024", 1, 14, 256, 1024, 1, 1, 0),
    _c("c4_1x1_1024-256", 1, 14, 1024, 256, 1, 1, 0),
    _c("c4_3x3_256-256", 1, 14, 256, 256, 3, 1, 1),
    # conv5_x: 14 -> 7
    _c("c5_1x1_1024-512", 1, 14, 1024, 512, 1, 1, 0),
    _c("c5_3x3s2_512-512", 1, 14, 512, 512, 3, 2, 1),
    _c("c5_1x1s2_1024-2048_proj", 1, 14, 1024, 2048, 1, 2, 0),
    _c("c5_1x1_512-2048", 1, 7, 512, 2048, 1, 1, 0),
    _c("c5_1x1_2048-512", 1, 7, 2048, 512, 1, 1, 0),
    _c("c5_3x3_512-512", 1, 7, 512, 512, 3, 1, 1),
]

# MobileNetV2 (Sandler et al. 2018, Table 2; torchvision's mobilenet_v2): its distinct 3x3
# depthwise layers (groups == channels, expansion 6 except the first block), 224x224 input,
# batch 2 (the paper trains with 96 per GPU).
MOBILENETV2 = [
    _c("dw_112_32", 2, 112, 32, 32, 3, 1, 1, g=32),
    _c("dw_112_96_s2", 2, 112, 96, 96, 3, 2, 1, g=96),
    _c("dw_56_144", 2, 56, 144, 144, 3, 1, 1, g=144),
    _c("dw_56_144_s2", 2, 56, 144, 144, 3, 2, 1, g=144),
    _c("dw_28_192", 2, 28, 192, 192, 3, 1, 1, g=192),
    _c("dw_28_192_s2", 2, 28, 192, 192, 3, 2, 1, g=192),
    _c("dw_14_384", 2, 14, 384, 384, 3, 1, 1, g=384),
    _c("dw_14_576", 2, 14, 576, 576, 3, 1, 1, g=576),
    _c("dw_14_576_s2", 2, 14, 576, 576, 3, 2, 1, g=576),
    _c("dw_7_960", 2, 7, 960, 960, 3, 1, 1, g=960),
]

# Baidu DeepBench (github.com/baidu-research/DeepBench, kernels/conv_problems.h, the
# training set; tuples there are w, h, c, n, k, s, r, pad_w, pad_h, wstride, hstride): a
# representative subset — speech (DeepSpeech 2), OCR, face recognition, Vision (VGG/ResNet
# style) and GoogLeNet-style 5x5 and 1x1 layers. Batches cut from 4-16 to 1-2 so each layer
# runs in milliseconds on a 2-core CPU; sizes otherwise as published. Names are
# ``<w>x<h>_<c>-<k>_<r>x<s>[s<stride>]``; the input here is (N, H=h, W=w, C).
DEEPBENCH = [
    _c("ds2_700x161_1-32_5x20s2", 1, (161, 700), 1, 32, (5, 20), 2, 0),
    _c("ds2_341x79_32-32_5x10s2", 1, (79, 341), 32, 32, (5, 10), 2, 0),
    _c("ocr_480x48_1-16_3x3", 2, (48, 480), 1, 16, 3, 1, 1),
    _c("ocr_240x24_16-32_3x3", 2, (24, 240), 16, 32, 3, 1, 1),
    _c("ocr_120x12_32-64_3x3", 2, (12, 120), 32, 64, 3, 1, 1),
    _c("face_108x108_3-64_3x3s2", 2, 108, 3, 64, 3, 2, 1),
    _c("face_54x54_64-64_3x3", 2, 54, 64, 64, 3, 1, 1),
    _c("face_27x27_128-128_3x3", 2, 27, 128, 128, 3, 1, 1),
    _c("vision_224x224_3-64_3x3", 1, 224, 3, 64, 3, 1, 1),
    _c("vision_56x56_128-256_3x3", 1, 56, 128, 256, 3, 1, 1),
    _c("vision_14x14_512-512_3x3", 2, 14, 512, 512, 3, 1, 1),
    _c("gnet_28x28_192-32_5x5", 2, 28, 192, 32, 5, 1, 2),
    _c("gnet_14x14_512-192_1x1", 2, 14, 512, 192, 1, 1, 0),
    _c("gnet_7x7_832-128_5x5", 2, 7, 832, 128, 5, 1, 2),
]

# ResNeXt-50 32x4d (Xie et al. 2017, "Aggregated Residual Transformations", Table 1;
# torchvision's resnext50_32x4d): its distinct grouped 3x3 convolutions, groups = 32,
# 224x224 input, batch 1.
GROUPED = [
    _c("rx_56_128_g32", 1, 56, 128, 128, 3, 1, 1, g=32),
    _c("rx_56_256_s2_g32", 1, 56, 256, 256, 3, 2, 1, g=32),
    _c("rx_28_256_g32", 1, 28, 256, 256, 3, 1, 1, g=32),
    _c("rx_28_512_s2_g32", 1, 28, 512, 512, 3, 2, 1, g=32),
    _c("rx_14_512_g32", 1, 14, 512, 512, 3, 1, 1, g=32),
    _c("rx_14_1024_s2_g32", 1, 14, 1024, 1024, 3, 2, 1, g=32),
    _c("rx_7_1024_g32", 1, 7, 1024, 1024, 3, 1, 1, g=32),
]

# Dilated (atrous) convolutions: DeepLabv3's ASPP branches (Chen et al. 2017, rates 6, 12,
# 18 on a 33x33 output-stride-16 map of a 513x513 image; 2048 input channels cut to 512,
# batch 1) and the dilated ResNet stages of DeepLab / DRN (Yu et al. 2017; rates 2 and 4 at
# output stride 8, 28x28 here for a 224x224 image).
DILATED = [
    _c("aspp_33_512-256_d6", 1, 33, 512, 256, 3, 1, 6, d=6),
    _c("aspp_33_512-256_d12", 1, 33, 512, 256, 3, 1, 12, d=12),
    _c("aspp_33_512-256_d18", 1, 33, 512, 256, 3, 1, 18, d=18),
    _c("drn_28_256-256_d2", 1, 28, 256, 256, 3, 1, 2, d=2),
    _c("drn_28_512-512_d4", 1, 28, 512, 512, 3, 1, 4, d=4),
]

# Strided transposed convolutions as in decoders: the DCGAN generator (Radford et al. 2016;
# ConvTranspose2d(k=4, s=2, p=1) from 4x4 to 64x64, batch 4 instead of 128), the U-Net
# decoder's 2x2/2 up-convolutions (Ronneberger et al. 2015; 64x64 base instead of 572x572,
# batch 1) and an FCN/SegNet-style 3x3/2 with output_padding 1 (PyTorch's usual decoder).
TRANSPOSED = [
    _t("dcgan_4-8_512-256", 4, 4, 512, 256, 4, 2, 1),
    _t("dcgan_8-16_256-128", 4, 8, 256, 128, 4, 2, 1),
    _t("dcgan_16-32_128-64", 4, 16, 128, 64, 4, 2, 1),
    _t("dcgan_32-64_64-3", 4, 32, 64, 3, 4, 2, 1),
    _t("unet_8-16_1024-512", 1, 8, 1024, 512, 2, 2, 0),
    _t("unet_16-32_512-256", 1, 16, 512, 256, 2, 2, 0),
    _t("unet_32-64_256-128", 1, 32, 256, 128, 2, 2, 0),
    _t("unet_64-128_128-64", 1, 64, 128, 64, 2, 2, 0),
    _t("fcn_28-56_256-128_3x3", 1, 28, 256, 128, 3, 2, 1, op=1),
]

# Large inputs, compiled but never run (`--suite large`): XLA's temp memory of jaxconv and
# lax, against the bound temp <= 2 * lax + output + padded input. A volume, a large image, a
# large batch and a large depthwise layer, as in issue 14, and a 256^3 volume.
LARGE = [
    Case("vol_128_8-8_3x3x3", 1, (128, 128, 128), 8, 8, (3, 3, 3), (1, 1, 1)),
    Case("img_2048_16-16_3x3", 1, (2048, 2048), 16, 16, (3, 3), (1, 1)),
    Case("batch64_56_64-64_3x3", 64, (56, 56), 64, 64, (3, 3), (1, 1)),
    Case("dw_batch64_112_32_3x3", 64, (112, 112), 32, 32, (3, 3), (1, 1), groups=32),
    Case("vol_256_8-8_3x3x3", 1, (256, 256, 256), 8, 8, (3, 3, 3), (1, 1, 1)),
]


# Where users are stuck (issue 15): long kernels, integer layers, 1-d and 3-d layers and
# strided transposed ones.
def _f(name, n, spatial, cin, cout, k, s=1, pad="SAME", g=1, t=False, dtype=None) -> Case:
    """A case of ``len(spatial)`` dims, ``k`` and ``s`` the same along each; ``pad``:
    ``'SAME'``, ``'causal'`` (1-d: ``k - 1`` before) or one ``(low, high)`` pair for every
    dim. Transposed (``t``): lax.conv_transpose, where PyTorch's ``ConvTranspose(k, s, p)``
    is the pair ``(k - 1 - p, k - 1 - p)``."""
    rank = len(spatial)
    padding = ((k - 1, 0),) if pad == "causal" else pad if isinstance(pad, str) else (pad,) * rank
    return Case(name, n, spatial, cin, cout, (k,) * rank, (s,) * rank, padding, groups=g,
                transposed=t, dtype=dtype)  # fmt: skip


FRONTIER = [
    # Long kernels: Hyena-style long filters, FFT territory.
    _f("dw1d_4096_64_k255_causal", 4, (4096,), 64, 64, 255, pad="causal", g=64),
    _f("dense1d_2048_16-16_k129", 4, (2048,), 16, 16, 129),
    _f("dense1d_8192_32-32_k31", 4, (8192,), 32, 32, 31),
    _f("dw1d_4096_128_k511_causal", 2, (4096,), 128, 128, 511, pad="causal", g=128),
    _f("dense1d_16384_16-16_k1023", 1, (16384,), 16, 16, 1023),
    _f("dw1d_16384_64_k1023_causal", 1, (16384,), 64, 64, 1023, pad="causal", g=64),
    _f("dw2d_64_32_31x31", 2, (64, 64), 32, 32, 31, g=32),
    # Short causal depthwise 1-d (Mamba-style blocks).
    _f("dw1d_1024_256_k4_causal", 8, (1024,), 256, 256, 4, pad="causal", g=256),
    # Integer layers: int8 x int8 (int16 x int16) -> int32.
    _f("int8_56_64-64_3x3", 8, (56, 56), 64, 64, 3, dtype="int8"),
    _f("int8_1d_1024_32-32_k5", 8, (1024,), 32, 32, 5, dtype="int8"),
    _f("int16_28_32-32_3x3", 4, (28, 28), 32, 32, 3, dtype="int16"),
    # Strided transposed: 1-d (audio decoders), a 2-d decoder layer ('SAME' of lax's
    # conv_transpose for 4x4/2 is (2, 2): out = 2 * in), 3-d.
    _f("tconv1d_1024_64-32_k16s8", 4, (1024,), 64, 32, 16, 8, (11, 11), t=True),
    _f("tconv1d_2048_32-16_k4s2", 4, (2048,), 32, 16, 4, 2, (2, 2), t=True),
    _f("tconv2d_14_128-64_4x4s2_same", 8, (14, 14), 128, 64, 4, 2, (2, 2), t=True),
    _f("tconv3d_8_32-16_4x4x4s2", 2, (8, 8, 8), 32, 16, 4, 2, (2, 2), t=True),
    # 3-d dense.
    _f("dense3d_16_32-32_3x3x3", 2, (16, 16, 16), 32, 32, 3),
]

# The default: a few layers of each kind, picked from the suites above, so that `make bench`
# (both layouts, both directions) finishes in well under 3 minutes on a 2-core CPU.
QUICK = [
    RESNET50[2],  # c2_3x3_64-64
    RESNET50[15],  # c4_1x1_1024-256
    RESNET50[0],  # the stem
    DEEPBENCH[6],  # face_54x54_64-64_3x3
    MOBILENETV2[2],  # dw_56_144
    GROUPED[2],  # rx_28_256_g32
    DILATED[3],  # drn_28_256-256_d2
    TRANSPOSED[2],  # dcgan_16-32_128-64
]

# Tiny layers of every kind, seconds in all: for the test suite.
SMOKE = [
    _c("dense_3x3", 2, 8, 4, 8, 3, 1, 1),
    _c("dense_3x3s2_same", 1, 9, 3, 4, 3, 2),
    _c("depthwise_3x3", 2, 8, 8, 8, 3, 1, 1, g=8),
    _c("grouped_3x3_g4", 1, 8, 8, 8, 3, 1, 1, g=4),
    _c("dilated_3x3_d2", 1, 9, 4, 4, 3, 1, 2, d=2),
    _t("transposed_4x4s2", 2, 4, 4, 3, 4, 2, 1),
]

# ---------------------------------------------------------------------------------------
# The random suite: layers drawn like real networks, for fitting and checking `auto`.

RANDOM_SEED = 20261130
RANDOM_LAYERS = 336
RANDOM_SMALL_LAYERS = 192
RANDOM_LARGE_LAYERS = 128
FLOPS_CAP = 2e8
"""Largest forward FLOPs of a random layer: batch, then spatial size, are cut to fit, so
that every layer runs in milliseconds on a 2-core CPU."""
ELEMENTS_CAP = 2 * 2**20
"""Largest input or output of a random layer, in elements (8 MiB of float32)."""
LARGE_FLOPS_CAP = 2e9
"""Largest forward FLOPs of a layer of ``random-large``: training layers (a VGG or ResNet
layer at batch 8-64) run 0.2-2 GFLOP, above :data:`FLOPS_CAP`."""
LARGE_ELEMENTS_CAP = 8 * 2**20
"""Largest input or output of a layer of ``random-large``, in elements (32 MiB of float32)."""


def _pick(rng: random.Random, weights: dict) -> object:
    """A key of ``weights`` drawn with those weights (``rng.random()`` only, so the draw is
    the same on every Python version)."""
    r, total = rng.random() * sum(weights.values()), 0.0
    for key, w in weights.items():
        total += w
        if r < total:
            return key
    return key


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(math.log(lo) + rng.random() * (math.log(hi) - math.log(lo)))


def _out_size(size: int, window: int, stride: int, padding: Padding, dim: int) -> int:
    if padding == "SAME":
        return -(-size // stride)
    lo, hi = (0, 0) if padding == "VALID" else padding[dim]
    return max(0, (size + lo + hi - window) // stride + 1)


def _pads(case: Case) -> tuple[tuple[int, int], ...]:
    """``case``'s padding as (low, high) pairs (lax's 'SAME': the odd one at the end)."""
    if not isinstance(case.padding, str):
        return tuple(tuple(p) for p in case.padding)
    pairs = []
    for size, k, s, d in zip(
        case.in_spatial, case.kernel, case.strides, case.rhs_dilation, strict=True
    ):
        window = (k - 1) * d + 1
        total = 0 if case.padding == "VALID" else max((-(-size // s) - 1) * s + window - size, 0)
        pairs.append((total // 2, total - total // 2))
    return tuple(pairs)


def out_spatial(case: Case) -> tuple[int, ...]:
    """The output's spatial sizes of a forward (not transposed) case."""
    pads = _pads(case)
    sizes = []
    for size, k, s, d, ld, (lo, hi) in zip(
        case.in_spatial,
        case.kernel,
        case.strides,
        case.rhs_dilation,
        case.input_dilation,
        pads,
        strict=True,
    ):
        window, dilated = (k - 1) * d + 1, (size - 1) * ld + 1
        sizes.append(max(0, (dilated + lo + hi - window) // s + 1))
    return tuple(sizes)


def input_grad_case(case: Case) -> Case:
    """The convolution that computes ``case``'s input gradient (lax's rule): the output
    cotangent, input-dilated by the strides, padded by ``window - 1 - low`` before and what
    makes it the input's size after, convolved with the flipped kernel regrouped from ``O``
    to ``C`` features. Named ``<case>_dx``."""
    pads = []
    outs = out_spatial(case)
    for size, k, s, d, (lo, _), o in zip(
        case.in_spatial,
        case.kernel,
        case.strides,
        case.rhs_dilation,
        _pads(case),
        outs,
        strict=True,
    ):
        window = (k - 1) * d + 1
        before = window - lo - 1
        pads.append((before, size + window - 1 - ((o - 1) * s + 1) - before))
    return case._replace(
        name=f"{case.name}_dx", in_spatial=outs, in_channels=case.out_channels,
        out_channels=case.in_channels, strides=(1,) * case.rank, padding=tuple(pads),
        lhs_dilation=case.strides,
    )  # fmt: skip


def _flops(case: Case) -> float:
    outs = math.prod(out_spatial(case))
    return (
        2.0
        * case.batch
        * outs
        * case.out_channels
        * case.in_channels
        // case.groups
        * (math.prod(case.kernel))
    )


def _width(rng: random.Random) -> int:
    """A feature count of 8 to 1024 as networks use them: powers of two and 1.5 times them."""
    c = 2 ** int(3 + rng.random() * 7.6)
    return min(1024, c * 3 // 2 if rng.random() < 0.25 else c)


def _draw(rng: random.Random, index: int, small: bool = False, large: bool = False) -> Case:
    rank = _pick(rng, {2: 0.65, 1: 0.2, 3: 0.15})
    kind = _pick(rng, {"dense": 0.6, "depthwise": 0.22, "grouped": 0.18})
    if kind == "dense" and rng.random() < 0.12:  # a stem: few input features
        c, o = _pick(rng, {1: 0.3, 3: 0.5, 4: 0.1, 8: 0.1}), _pick(rng, {16: 0.3, 32: 0.4, 64: 0.3})
    else:
        c = _width(rng)
        ratio = _pick(rng, {1: 0.5, 2: 0.2, 0.5: 0.15, 4: 0.08, 0.25: 0.07})
        o = max(8, min(1024, int(c * ratio) // 8 * 8))
    g = 1
    if kind == "depthwise":
        g, o = c, c * (2 if rng.random() < 0.1 else 1)
    elif kind == "grouped":
        options = [x for x in (2, 4, 8, 16, 32, 64) if c % x == 0 and o % x == 0 and c // x >= 2]
        g = options[int(rng.random() * len(options))] if options else 1
    kernels = {
        1: {1: 0.1, 3: 0.3, 5: 0.15, 7: 0.1, 9: 0.07, 15: 0.07, 31: 0.07, 63: 0.06, 127: 0.05,
            255: 0.03},
        2: {1: 0.2, 3: 0.48, 5: 0.12, 7: 0.09, 2: 0.03, 4: 0.03, 11: 0.02, 13: 0.03},
        3: {1: 0.15, 3: 0.7, 5: 0.1, 2: 0.05},
    }[rank]  # fmt: skip
    if g > 1:  # depthwise and grouped layers are spatial: no 1x1
        kernels = {k: w for k, w in kernels.items() if k > 1}
    k = _pick(rng, kernels)
    kernel = (k,) * rank
    if rank == 2 and 3 <= k <= 7 and rng.random() < 0.08:  # Inception's 1xk and kx1
        kernel = (1, k) if rng.random() < 0.5 else (k, 1)
    s = 2 if rng.random() < (0.25 if k > 1 else 0.15) else 1
    d = 1
    if s == 1 and k >= 3 and k <= 7:
        d = _pick(rng, {1: 0.86, 2: 0.08, 3: 0.02, 4: 0.02, 6: 0.02})
    strides, dilation = (s,) * rank, (d,) * rank
    # Bigger maps go with fewer features; small maps (CIFAR, a U-Net's lower levels, late
    # stages) go with any, and with bigger batches.
    scale = math.sqrt(max(c, 16) / 16)
    if small:
        lo, hi = {1: (16, 1024), 2: (4, 64), 3: (4, 24)}[rank]
        h = _log_uniform(rng, lo, hi)
        w = h * _log_uniform(rng, 0.6, 1.6) if rank == 2 and rng.random() < 0.3 else h
        sizes = [int(h), *[int(min(hi, max(lo, w)))] * (rank - 1)]
    elif rank == 1:
        sizes = [int(min(16384, max(16, _log_uniform(rng, 32, 16384) / scale)))]
    elif rank == 2:
        h = min(224, max(4, 224 / scale * _log_uniform(rng, 0.25, 2.0)))
        w = h * _log_uniform(rng, 0.6, 1.6) if rng.random() < 0.3 else h
        sizes = [int(h), int(min(224, max(4, w)))]
    else:
        sizes = [int(min(64, max(4, 48 / scale * _log_uniform(rng, 0.4, 1.5))))] * rank
    windows = [(kk - 1) * d + 1 for kk in kernel]
    sizes = [max(size, win) for size, win in zip(sizes, windows, strict=True)]
    padding: Padding = _pick(rng, {"SAME": 0.65, "VALID": 0.2, "pairs": 0.15})
    if padding == "pairs":
        padding = tuple((win // 2, win // 2) for win in windows)
    batch = int(_log_uniform(rng, 4, 129) if small or large else _log_uniform(rng, 1, 65))
    layout = _pick(rng, {"NHWC": 0.5, "NCHW": 0.5})
    tag = "x".join(map(str, kernel)) + (f"s{s}" if s > 1 else "") + (f"d{d}" if d > 1 else "")
    tag += f"g{g}" if kind == "grouped" else ""
    prefix = "s" if small else "l" if large else "r"
    name = f"{prefix}{index:03d}_{rank}d_{kind}_{c}-{o}_{tag}"
    case = Case(name, batch, tuple(sizes), c, o, kernel, strides, padding, dilation, g,
                layouts=(layout,))  # fmt: skip
    # Cut the batch, then the largest spatial dim, until the layer fits the caps.
    flops_cap, elements_cap = (
        (LARGE_FLOPS_CAP, LARGE_ELEMENTS_CAP) if large else (FLOPS_CAP, ELEMENTS_CAP)
    )
    while (
        _flops(case) > flops_cap
        or max(
            case.batch * math.prod(case.in_spatial) * c,
            case.batch * math.prod(out_spatial(case)) * o,
        )
        > elements_cap
    ):
        if case.batch > 1:
            case = case._replace(batch=case.batch // 2)
            continue
        sizes = list(case.in_spatial)
        j = max(range(rank), key=lambda i: sizes[i] / windows[i])
        if sizes[j] > windows[j]:
            sizes[j] = max(windows[j], int(sizes[j] / 1.4))
            case = case._replace(in_spatial=tuple(sizes))
        elif (
            case.groups < case.in_channels
            and case.in_channels // 2 % case.groups == 0
            and case.out_channels // 2 % case.groups == 0
            and min(case.in_channels, case.out_channels) > 8
        ):
            # A wide kernel on a map no larger than it: real networks give it fewer features.
            c, o = case.in_channels // 2, case.out_channels // 2
            case = case._replace(in_channels=c, out_channels=o, name=f"{prefix}{index:03d}_"
                                 f"{rank}d_{kind}_{c}-{o}_{tag}")  # fmt: skip
        else:
            break
    return case


def random_layers(
    count: int = RANDOM_LAYERS, seed: int = RANDOM_SEED, small: bool = False, large: bool = False
) -> list[Case]:
    """``count`` layers drawn like real networks from ``seed``, one layout each.

    Rank 1, 2 or 3 (20/65/15 %); dense, depthwise or grouped (60/22/18 %); kernels 1-7 and a
    few long ones (1-d up to 255, 2-d 11 and 13), Inception's 1xk; strides 1-2; dilations
    2-6 on some stride-1 layers; 1-1024 features (stems of 1-8); batch 1-64; maps of 4-224
    (1-d: 16-16384, 3-d: 4-64), larger for fewer features; 'SAME', 'VALID' or explicit
    padding; channels-last or channels-first. Batch and size are then cut to
    :data:`FLOPS_CAP` and :data:`ELEMENTS_CAP`.

    ``small``: maps of 4-64 (1-d: 16-1024, 3-d: 4-24) whatever the features, batch 4-128,
    as in CIFAR networks and a U-Net's lower levels; named ``s000_...`` instead of
    ``r000_...``.

    ``large``: layers at training scale, batch 4-128 and cut to :data:`LARGE_FLOPS_CAP` and
    :data:`LARGE_ELEMENTS_CAP` instead (a 3x3 64 -> 64 layer on 8x32x32 runs 0.6 GFLOP);
    named ``l000_...``.
    """
    rng = random.Random(seed)
    return [_draw(rng, i, small, large) for i in range(count)]


def combos(case: Case, asked: list[tuple]) -> list[tuple]:
    """The ``(case, dtype, layout, direction)`` runs of ``case`` among the ``(dtype, layout,
    direction)`` ``asked``: its own layouts only, and a case of its own (integer) dtype once
    per layout, forward, in it. An integer dtype asked for (``--dtype int8``) makes every
    case without one such a case."""
    runs = []
    for dtype, layout, direction in asked:
        if case.layouts is not None and layout not in case.layouts:
            continue
        own = case.dtype
        if own is None and np.issubdtype(np.dtype(dtype), np.integer):
            own = np.dtype(dtype).name
        if own is None:
            runs.append((case, dtype, layout, direction))
        else:
            runs.append((case._replace(dtype=own), own, layout, "fwd"))
    return list(dict.fromkeys(runs))


RANDOM_TRANSPOSED_LAYERS = 96

# (kernel, stride, PyTorch's padding p and output_padding) of decoders' upsampling layers.
_TRANSPOSED_SHAPES = {
    2: {(2, 2, 0, 0): 0.35, (4, 2, 1, 0): 0.25, (3, 2, 1, 1): 0.15, (3, 2, 1, 0): 0.05,
        (4, 4, 0, 0): 0.06, (8, 4, 2, 0): 0.04, (5, 2, 2, 1): 0.04, (3, 3, 0, 0): 0.03,
        (16, 8, 4, 0): 0.03},
    3: {(2, 2, 0, 0): 0.6, (4, 2, 1, 0): 0.2, (3, 2, 1, 1): 0.2},
}  # fmt: skip


def _transposed_out(case: Case) -> tuple[int, ...]:
    """The output's spatial sizes of a transposed case with explicit padding pairs."""
    return tuple(
        (n - 1) * s + 1 + lo + hi - k + 1
        for n, k, s, (lo, hi) in zip(
            case.in_spatial, case.kernel, case.strides, case.padding, strict=True
        )
    )


def _draw_transposed(rng: random.Random, index: int) -> Case:
    rank = _pick(rng, {2: 0.7, 1: 0.15, 3: 0.15})
    if rank == 1:  # a vocoder's upsampling (HiFi-GAN, MelGAN): kernel twice the stride
        s = _pick(rng, {2: 0.35, 4: 0.25, 5: 0.1, 8: 0.3})
        k, p, op = 2 * s, s // 2, 0
    else:
        k, s, p, op = _pick(rng, _TRANSPOSED_SHAPES[rank])
    c = _width(rng)
    if rng.random() < 0.08:  # a decoder's last layer: an image or a mask
        o = _pick(rng, {1: 0.3, 3: 0.7})
    else:
        ratio = _pick(rng, {0.5: 0.55, 1: 0.25, 0.25: 0.12, 2: 0.08})
        o = max(8, min(1024, int(c * ratio) // 8 * 8))
    # A decoder's input maps are small where features are many.
    scale = math.sqrt(max(c, 16) / 16)
    if rank == 1:
        sizes = [int(min(8192, max(8, _log_uniform(rng, 16, 8192) / scale)))]
    elif rank == 2:
        h = min(112, max(2, 112 / scale * _log_uniform(rng, 0.2, 2.0)))
        w = h * _log_uniform(rng, 0.6, 1.6) if rng.random() < 0.3 else h
        sizes = [int(h), int(min(112, max(2, w)))]
    else:
        sizes = [int(min(32, max(2, 24 / scale * _log_uniform(rng, 0.3, 1.5))))] * rank
    batch = int(_log_uniform(rng, 1, 33))
    layout = _pick(rng, {"NHWC": 0.5, "NCHW": 0.5})
    tag = f"{'x'.join([str(k)] * rank)}s{s}p{p}" + (f"op{op}" if op else "")
    name = f"t{index:03d}_{rank}d_transposed_{c}-{o}_{tag}"
    pads = ((k - 1 - p, k - 1 - p + op),) * rank
    case = Case(name, batch, tuple(sizes), c, o, (k,) * rank, (s,) * rank, pads,
                transposed=True, layouts=(layout,))  # fmt: skip

    def too_big(case: Case) -> bool:
        n, c, o = case.batch, case.in_channels, case.out_channels
        flops = 2.0 * n * math.prod(case.in_spatial) * c * o * k**rank
        elements = max(n * math.prod(case.in_spatial) * c, n * math.prod(_transposed_out(case)) * o)
        return flops > FLOPS_CAP or elements > ELEMENTS_CAP

    # Cut the batch, then the largest spatial dim, then the features, to fit the caps.
    while too_big(case):
        sizes = list(case.in_spatial)
        j = max(range(rank), key=lambda i: sizes[i])
        if case.batch > 1:
            case = case._replace(batch=case.batch // 2)
        elif sizes[j] > 2:
            sizes[j] = max(2, int(sizes[j] / 1.4))
            case = case._replace(in_spatial=tuple(sizes))
        elif case.in_channels > 8:
            c, o = case.in_channels // 2, max(case.out_channels // 2, min(case.out_channels, 3))
            name = f"t{index:03d}_{rank}d_transposed_{c}-{o}_{tag}"
            case = case._replace(in_channels=c, out_channels=o, name=name)
        else:
            break
    return case


def random_transposed_layers(
    count: int = RANDOM_TRANSPOSED_LAYERS, seed: int = RANDOM_SEED
) -> list[Case]:
    """``count`` transposed layers (``lax.conv_transpose``) drawn like decoders from ``seed``,
    one layout each, named ``t000_...``.

    Rank 2, 1 or 3 (70/15/15 %). 2-d: a U-Net's 2x2/2 (35 %), DCGAN's 4x4/2 padding 1
    (25 %), 3x3/2 with PyTorch's output padding 1 or 0 (20 %), and a few 4x4/4, 8x4/4
    (k=8), 5x5/2, 3x3/3 and FCN's 16x16/8; 3-d: 2x2x2/2, 4x4x4/2 and 3x3x3/2; 1-d: a
    vocoder's kernel of twice the stride, strides 2, 4, 5 and 8. Padding PyTorch's
    ``(k-1-p, k-1-p+output_padding)``. 8-1024 input features, into half as many mostly (some
    the same, a quarter, twice; 8 % into 1 or 3: a decoder's last layer); batch 1-32; input
    maps of 2-112 (1-d: 8-8192, 3-d: 2-32), smaller for more features; channels-last or
    channels-first. Batch, size and then features are cut to :data:`FLOPS_CAP` and
    :data:`ELEMENTS_CAP`.
    """
    rng = random.Random(seed)
    return [_draw_transposed(rng, i) for i in range(count)]


def held_out(case: Case) -> bool:
    """Whether a random layer (or its ``_dx``) belongs to the held-out quarter: every fourth."""
    return int(case.name[1:4]) % 4 == 3


RANDOM = random_layers()


def random_suite(name: str, seed: int) -> list[Case]:
    """The suite ``name`` drawn from ``seed``: ``'random'``, :data:`RANDOM_LAYERS` layers
    with their input gradients; ``'random-heldout'``, their held-out quarter;
    ``'random-small'``, :data:`RANDOM_SMALL_LAYERS` small-map layers (``small`` in
    :func:`random_layers`) with their input gradients; ``'random-large'``,
    :data:`RANDOM_LARGE_LAYERS` layers at training scale (``large``) with theirs;
    ``'random-transposed'``, :data:`RANDOM_TRANSPOSED_LAYERS` transposed layers
    (:func:`random_transposed_layers`; their gradients are strided convolutions, which the
    others draw). From a seed other than :data:`RANDOM_SEED` every layer is one no rule was
    fitted on."""
    if name == "random-transposed":
        return random_transposed_layers(RANDOM_TRANSPOSED_LAYERS, seed)
    if name == "random-small":
        layers = random_layers(RANDOM_SMALL_LAYERS, seed, small=True)
    elif name == "random-large":
        layers = random_layers(RANDOM_LARGE_LAYERS, seed, large=True)
    else:
        layers = RANDOM if seed == RANDOM_SEED else random_layers(seed=seed)
    if name == "random-heldout":
        return [c for c in layers if held_out(c)]
    return [c for layer in layers for c in (layer, input_grad_case(layer))]


RANDOM_WITH_GRADIENTS = random_suite("random", RANDOM_SEED)
RANDOM_SEEDED = ("random", "random-heldout", "random-small", "random-large", "random-transposed")
"""The suites ``--seed`` draws afresh."""


# The distinct convolutions of the model suites' networks (``--suite models``), each named
# ``<network>_<layer>_x<count>``, ``count`` the times one forward pass runs it: timed one by
# one (NHWC, as the networks run them), they show which layers make a network's step
# faster or slower than Flax's.
# tests/test_bench_models.py checks them against the networks themselves.
_MODEL_LAYERS = [
    # ResNet-20, batch 32
    _c("resnet20_32_3x3_3-16_x1", 32, 32, 3, 16, 3, 1, 1),
    _c("resnet20_32_3x3_16-16_x6", 32, 32, 16, 16, 3, 1, 1),
    _c("resnet20_32_1x1s2_16-32_x1", 32, 32, 16, 32, 1, 2, 0),
    _c("resnet20_32_3x3s2_16-32_x1", 32, 32, 16, 32, 3, 2, 1),
    _c("resnet20_16_3x3_32-32_x5", 32, 16, 32, 32, 3, 1, 1),
    _c("resnet20_16_1x1s2_32-64_x1", 32, 16, 32, 64, 1, 2, 0),
    _c("resnet20_16_3x3s2_32-64_x1", 32, 16, 32, 64, 3, 2, 1),
    _c("resnet20_8_3x3_64-64_x5", 32, 8, 64, 64, 3, 1, 1),
    # MobileNetV2, batch 32
    _c("mobilenetv2_64_3x3s2_3-32_x1", 32, 64, 3, 32, 3, 2, 1),
    _c("mobilenetv2_32_3x3_32-32_dw_x1", 32, 32, 32, 32, 3, 1, 1, g=32),
    _c("mobilenetv2_32_1x1_32-16_x1", 32, 32, 32, 16, 1, 1, 0),
    _c("mobilenetv2_32_1x1_16-96_x1", 32, 32, 16, 96, 1, 1, 0),
    _c("mobilenetv2_32_3x3s2_96-96_dw_x1", 32, 32, 96, 96, 3, 2, 1, g=96),
    _c("mobilenetv2_16_1x1_96-24_x1", 32, 16, 96, 24, 1, 1, 0),
    _c("mobilenetv2_16_1x1_24-144_x2", 32, 16, 24, 144, 1, 1, 0),
    _c("mobilenetv2_16_3x3_144-144_dw_x1", 32, 16, 144, 144, 3, 1, 1, g=144),
    _c("mobilenetv2_16_1x1_144-24_x1", 32, 16, 144, 24, 1, 1, 0),
    _c("mobilenetv2_16_3x3s2_144-144_dw_x1", 32, 16, 144, 144, 3, 2, 1, g=144),
    _c("mobilenetv2_8_1x1_144-32_x1", 32, 8, 144, 32, 1, 1, 0),
    _c("mobilenetv2_8_1x1_32-192_x2", 32, 8, 32, 192, 1, 1, 0),
    _c("mobilenetv2_8_3x3_192-192_dw_x1", 32, 8, 192, 192, 3, 1, 1, g=192),
    _c("mobilenetv2_8_1x1_192-32_x1", 32, 8, 192, 32, 1, 1, 0),
    _c("mobilenetv2_8_3x3s2_192-192_dw_x1", 32, 8, 192, 192, 3, 2, 1, g=192),
    _c("mobilenetv2_4_1x1_192-64_x1", 32, 4, 192, 64, 1, 1, 0),
    _c("mobilenetv2_4_1x1_64-384_x1", 32, 4, 64, 384, 1, 1, 0),
    _c("mobilenetv2_4_3x3_384-384_dw_x1", 32, 4, 384, 384, 3, 1, 1, g=384),
    _c("mobilenetv2_4_1x1_384-64_x1", 32, 4, 384, 64, 1, 1, 0),
    _c("mobilenetv2_4_1x1_64-1280_x1", 32, 4, 64, 1280, 1, 1, 0),
    # U-Net, batch 8
    _c("unet_64_3x3_3-16_x1", 8, 64, 3, 16, 3, 1, 1),
    _c("unet_64_3x3_16-16_x2", 8, 64, 16, 16, 3, 1, 1),
    _c("unet_32_3x3_16-32_x1", 8, 32, 16, 32, 3, 1, 1),
    _c("unet_32_3x3_32-32_x2", 8, 32, 32, 32, 3, 1, 1),
    _c("unet_16_3x3_32-64_x1", 8, 16, 32, 64, 3, 1, 1),
    _c("unet_16_3x3_64-64_x2", 8, 16, 64, 64, 3, 1, 1),
    _c("unet_8_3x3_64-128_x1", 8, 8, 64, 128, 3, 1, 1),
    _c("unet_8_3x3_128-128_x1", 8, 8, 128, 128, 3, 1, 1),
    _t("unet_8_2x2ts2_128-64_x1", 8, 8, 128, 64, 2, 2, 0),
    _c("unet_16_3x3_128-64_x1", 8, 16, 128, 64, 3, 1, 1),
    _t("unet_16_2x2ts2_64-32_x1", 8, 16, 64, 32, 2, 2, 0),
    _c("unet_32_3x3_64-32_x1", 8, 32, 64, 32, 3, 1, 1),
    _t("unet_32_2x2ts2_32-16_x1", 8, 32, 32, 16, 2, 2, 0),
    _c("unet_64_3x3_32-16_x1", 8, 64, 32, 16, 3, 1, 1),
    _c("unet_64_1x1_16-4_x1", 8, 64, 16, 4, 1, 1, 0),
]
MODEL_LAYERS = [c._replace(layouts=("NHWC",)) for c in _MODEL_LAYERS]


SUITES: dict[str, list[Case]] = {
    "quick": QUICK,
    "smoke": SMOKE,
    "resnet50": RESNET50,
    "mobilenetv2": MOBILENETV2,
    "deepbench": DEEPBENCH,
    "grouped": GROUPED,
    "dilated": DILATED,
    "transposed": TRANSPOSED,
    "large": LARGE,
    "frontier": FRONTIER,
    "random": RANDOM_WITH_GRADIENTS,
    "random-heldout": random_suite("random-heldout", RANDOM_SEED),
    "random-small": random_suite("random-small", RANDOM_SEED),
    "random-large": random_suite("random-large", RANDOM_SEED),
    "random-transposed": random_suite("random-transposed", RANDOM_SEED),
    "models-layers": MODEL_LAYERS,
}
"""Every suite by name; ``quick`` is the default of ``python -m jaxconv bench``."""

FULL = ("resnet50", "mobilenetv2", "deepbench", "grouped", "dilated", "transposed")
"""The suites ``--suite full`` stands for (random, large and frontier are run by name)."""

COMPILE_ONLY = ("large",)
"""Suites whose programs are compiled for their memory, never run."""


class ModelCase(NamedTuple):
    """One network for the model suites: a training step of it is timed with
    ``flax.nnx.Conv``/``ConvTranspose`` and with jaxconv's (see :mod:`jaxconv._bench.models`,
    which builds it). Input ``(batch, *in_hw, in_channels)``, NHWC.

    ``widths`` and ``depth`` by ``arch``:

    - ``'resnet'``: the feature count of each stage (a stride-2 stage start after the
      first) and the basic blocks per stage; ``(16, 32, 64)``, 3 is ResNet-20.
    - ``'mobilenetv2'``: ``(stem, c1, ..., ck, last)``: the stem's features, the output
      features of each stage of inverted residual blocks (the first: one block, expansion
      1, stride 1; the others: ``depth`` blocks, expansion 6, the first of them stride 2)
      and the final 1x1 layer's.
    - ``'unet'``: the features of each encoder level (the last is the bottleneck) and the
      3x3 layers per level (2 in U-Net), in the encoder and in the decoder.
    """

    name: str
    arch: str
    batch: int
    in_hw: tuple[int, int]
    widths: tuple[int, ...]
    depth: int
    classes: int
    in_channels: int = 3


# The model suites: one training step (forward, backward, SGD update) of each network. The
# CIFAR ResNet-20 (He et al. 2016, section 4.2), a MobileNetV2 (Sandler et al. 2018, Table 2:
# its stem, first four stages with fewer repeats and its 1280-feature last layer) on 64x64
# images, and a U-Net (Ronneberger et al. 2015: 2x2/2 up-convolutions, skip connections by
# concatenation; batch norm added, widths 16-128 instead of 64-1024) for 4-class
# segmentation of 64x64 images.
MODELS = [
    ModelCase("resnet20", "resnet", 32, (32, 32), (16, 32, 64), 3, 10),
    ModelCase("mobilenetv2", "mobilenetv2", 32, (64, 64), (32, 16, 24, 32, 64, 1280), 2, 10),
    ModelCase("unet", "unet", 8, (64, 64), (16, 32, 64, 128), 2, 4),
]

# The same networks, tiny (two stages or levels, 5-7 convolutions, every kind of block and
# shortcut): for the test suite, where compiling the steps takes most of the time.
MODELS_SMOKE = [
    ModelCase("resnet_tiny", "resnet", 2, (8, 8), (4, 8), 1, 3),
    ModelCase("mobilenetv2_tiny", "mobilenetv2", 2, (8, 8), (4, 4, 8, 16), 1, 3),
    ModelCase("unet_tiny", "unet", 2, (8, 8), (4, 8), 1, 3),
]

MODEL_SUITES: dict[str, list[ModelCase]] = {"models": MODELS, "models-smoke": MODELS_SMOKE}
"""The model suites by name (not part of ``full``)."""

# The data-parallel case: ResNet-50's c2 3x3 layer with a global batch split over the
# devices (strong scaling: the same global batch on one device and on all of them).
DATA_PARALLEL = _c("dp_c2_3x3_64-64", 8, 56, 64, 64, 3, 1, 1)
DATA_PARALLEL_SMOKE = _c("dp_dense_3x3", 4, 8, 4, 8, 3, 1, 1)
SPATIAL_SHARD = _c("ss_2048_3x3_16-16", 1, 2048, 16, 16, 3)
SPATIAL_SHARD_SMOKE = _c("ss_256_3x3_16-16", 1, 256, 16, 16, 3)


def resolve(names: str, seed: int | None = None) -> list[tuple[str, Case]]:
    """``'resnet50,grouped'`` (or ``'full'``) as ``(suite, case)`` pairs, in order. Model
    suites (:data:`MODEL_SUITES`) are accepted and left out here: see :func:`resolve_models`.
    ``seed``: draw the random suites from it (:func:`random_suite`) instead of
    :data:`RANDOM_SEED`, as suites named ``'random@<seed>'`` and so on.

    Raises:
        ValueError: an unknown suite name, or no suite named at all.
    """
    out = []
    names_ = [n.strip() for n in names.split(",") if n.strip()]
    for name in names_:
        expanded = FULL if name == "full" else (name,)
        for suite in expanded:
            if suite in MODEL_SUITES:
                continue
            if suite not in SUITES:
                choices = ", ".join([*SUITES, "full", *MODEL_SUITES])
                raise ValueError(f"unknown suite {suite!r}; choose from {choices}.")
            if seed not in (None, RANDOM_SEED) and suite in RANDOM_SEEDED:
                # Labelled with the seed: a draw's records are not the committed suite's.
                out.extend((f"{suite}@{seed}", case) for case in random_suite(suite, seed))
            else:
                out.extend((suite, case) for case in SUITES[suite])
    if not out and not any(n in MODEL_SUITES for n in names_):
        raise ValueError(f"`--suite` named no suite: {names!r}.")
    return out


def resolve_models(names: str) -> list[tuple[str, ModelCase]]:
    """The model suites among ``names`` (e.g. ``'quick,models'``) as ``(suite, model)``
    pairs, in order; other names are ignored (:func:`resolve` checks them)."""
    out = []
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        out.extend((name, m) for m in MODEL_SUITES.get(name, ()))
    return out


def data_parallel_case(suites: list[str], batch_multiple: int) -> Case:
    """The data-parallel case for a run of ``suites``, with a batch divisible by
    ``batch_multiple`` (the number of devices)."""
    case = DATA_PARALLEL_SMOKE if set(suites) <= {"smoke"} else DATA_PARALLEL
    batch = case.batch if case.batch % batch_multiple == 0 else 2 * batch_multiple
    return case._replace(batch=batch)


def spatial_shard_case(suites: list[str]) -> Case:
    """The spatially sharded case (``--spatial-shard``) for a run of ``suites``: a
    1x2048x2048x16 image (1x256x256x16 for the smoke and quick suites), 3x3 SAME 16 -> 16,
    whose rows every power-of-two device count up to 256 divides."""
    small = bool(suites) and set(suites) <= {"smoke", "quick"}
    return SPATIAL_SHARD_SMOKE if small else SPATIAL_SHARD
