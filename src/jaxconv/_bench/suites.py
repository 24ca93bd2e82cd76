"""Named benchmark suites: lists of 2-d convolution layers, each with its source.

A :class:`Case` describes one layer in channels-last terms — input ``(N, H, W, C)``,
kernel ``(KH, KW, C // groups, O)`` — and the runner builds the NHWC/HWIO and NCHW/OIHW
arrays from it. Batch sizes (and, for a few very large inputs, spatial sizes) are scaled
down from the published problems so that every suite runs in minutes on a 2-core CPU in
both layouts and both directions; each such change is noted next to the case. The
layers' channel counts, kernels, strides, padding, dilations and groups are the
published ones.

This module imports nothing heavy, so ``--help`` and the suite listing stay fast.
"""

from __future__ import annotations

from typing import NamedTuple

Padding = str | tuple[tuple[int, int], tuple[int, int]]


class Case(NamedTuple):
    """One 2-d convolution layer.

    For ``transposed`` cases the layer is ``lax.conv_transpose(x, w, strides, padding)``:
    input ``(N, H, W, C)``, kernel ``(KH, KW, C, O)`` and ``padding`` the explicit pairs
    applied to the stride-dilated input (PyTorch's ``ConvTranspose2d(k, s, p,
    output_padding=op)`` is ``((k-1-p, k-1-p+op),)*2``).
    """

    name: str
    batch: int
    in_hw: tuple[int, int]
    in_channels: int
    out_channels: int
    kernel: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: Padding = "SAME"
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    transposed: bool = False

    @property
    def kind(self) -> str:
        """``'transposed'``, ``'depthwise'``, ``'grouped'``, ``'dilated'`` or ``'dense'``."""
        if self.transposed:
            return "transposed"
        if self.groups > 1 and self.groups == self.in_channels:
            return "depthwise"
        if self.groups > 1:
            return "grouped"
        if self.dilation != (1, 1):
            return "dilated"
        return "dense"


def _pad(p: int) -> Padding:
    return ((p, p), (p, p))


def _c(name, n, hw, cin, cout, k, s=1, p=None, d=1, g=1) -> Case:
    """A forward case with square kernel ``k``, stride ``s``, symmetric pad ``p``
    (``None``: ``'SAME'``), dilation ``d`` and ``g`` groups."""
    hw = (hw, hw) if isinstance(hw, int) else tuple(hw)
    k = (k, k) if isinstance(k, int) else tuple(k)
    padding = "SAME" if p is None else _pad(p) if isinstance(p, int) else p
    return Case(name, n, hw, cin, cout, k, (s, s), padding, (d, d), g)


def _t(name, n, hw, cin, cout, k, s, p, op=0) -> Case:
    """A transposed case given as PyTorch's ``ConvTranspose2d(cin, cout, k, s, p, op)``."""
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

SUITES: dict[str, list[Case]] = {
    "quick": QUICK,
    "smoke": SMOKE,
    "resnet50": RESNET50,
    "mobilenetv2": MOBILENETV2,
    "deepbench": DEEPBENCH,
    "grouped": GROUPED,
    "dilated": DILATED,
    "transposed": TRANSPOSED,
}
"""Every suite by name; ``quick`` is the default of ``python -m jaxconv bench``."""

FULL = ("resnet50", "mobilenetv2", "deepbench", "grouped", "dilated", "transposed")
"""The suites ``--suite full`` stands for."""

# The data-parallel case: ResNet-50's c2 3x3 layer with a global batch split over the
# devices (strong scaling: the same global batch on one device and on all of them).
DATA_PARALLEL = _c("dp_c2_3x3_64-64", 8, 56, 64, 64, 3, 1, 1)
DATA_PARALLEL_SMOKE = _c("dp_dense_3x3", 4, 8, 4, 8, 3, 1, 1)


def resolve(names: str) -> list[tuple[str, Case]]:
    """``'resnet50,grouped'`` (or ``'full'``) as ``(suite, case)`` pairs, in order.

    Raises:
        ValueError: an unknown suite name.
    """
    out = []
    for name in [n.strip() for n in names.split(",") if n.strip()]:
        expanded = FULL if name == "full" else (name,)
        for suite in expanded:
            if suite not in SUITES:
                raise ValueError(
                    f"unknown suite {suite!r}; choose from {', '.join([*SUITES, 'full'])}."
                )
            out.extend((suite, case) for case in SUITES[suite])
    if not out:
        raise ValueError(f"`--suite` named no suite: {names!r}.")
    return out


def data_parallel_case(suites: list[str], batch_multiple: int) -> Case:
    """The data-parallel case for a run of ``suites``, with a batch divisible by
    ``batch_multiple`` (the number of devices)."""
    case = DATA_PARALLEL_SMOKE if set(suites) <= {"smoke"} else DATA_PARALLEL
    batch = case.batch if case.batch % batch_multiple == 0 else 2 * batch_multiple
    return case._replace(batch=batch)
