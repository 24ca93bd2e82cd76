"""Compute strategies: the same convolution, arranged differently for speed.

Each strategy is a :class:`Strategy`: its function and, beside it, the rule saying which
plans it accepts and a model of the temporary memory it holds. :data:`STRATEGIES` lists them
all; :func:`run` runs one by name. Which one runs is not decided here but by the policy
(``jaxconv._policy``), which strategies never import: a strategy that splits a convolution
into smaller ones (``polyphase``) asks the ``choose`` function it is given.

A strategy's function takes the canonical arrays of a checked, zero-padded
:class:`~jaxconv._plan.ConvPlan` -- input ``(N, *spatial, C)``, kernel
``(*kernel, C // groups, O)``, or with a channels-first plan input ``(N, C, *spatial)`` --
and returns the output ``(N // batch_groups, *out_spatial, O)`` (``(N, O, *out_spatial)``).
They use only pads, slices, reshapes, elementwise arithmetic, ``dot_general`` and (``fft``)
FFTs: never XLA's convolution op.

- ``im2col``: all taps gathered into one patch array ``(N, *out, K·C)``, one GEMM.
- ``taps``: one GEMM per kernel tap, summed; no patch array.
- ``scan``: ``taps`` one at a time in a ``lax.scan``: the least memory.
- ``rows``, ``banded``: patches along the last spatial dim only; ``banded`` contracts each
  window with the kernel written into a band, for blocks of outputs at once.
- ``space_to_depth``: a strided convolution as a stride-1 one on stride-sized blocks.
- ``direct``: a multiply-accumulate over the taps and each group's input features that
  XLA fuses into a single loop, no GEMM; ``depthwise`` is the same for one input feature
  per group.
- ``winograd``: Winograd F(2x2, 3x3), 16 GEMMs on transformed 2x2 output tiles.
- ``grouped``: feature groups as a batched GEMM over a leading group axis.
- ``polyphase``: input (lhs) dilation, as in transposed convolutions, split by output
  phase into small convolutions of the undilated input, so no multiply meets an
  inserted zero.
- ``col2im``: input dilation as one GEMM whose columns are scattered into the output.
- ``fft``: the convolution theorem, real FFTs along the spatial dims and one small product
  per frequency; for long kernels. Floating-point inputs only.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _polyphase, _taps
from ._einsum import contract
from ._padding import pad_spatial
from ._plan import ConvPlan, dilated_size
from ._taps import (
    acc_dtype,
    padded_input,
    scan_taps,
    shifted_taps,
    tap_at,
    tap_offsets,
    taps_of,
    window_taps,
)

Chooser = Callable[[ConvPlan, Any], str]
"""``choose(plan, dtype) -> name``: the strategy for a sub-convolution (the policy's)."""


class Sizes(NamedTuple):
    """Elements of one tap ``N·P_out·C``, of the output and of the (dilated, padded) input."""

    tap: int
    out: int
    padded: int


def sizes(plan: ConvPlan) -> Sizes:
    out_positions = int(np.prod(plan.out_spatial))
    return Sizes(
        plan.batch * out_positions * plan.in_features,
        plan.out_batch * out_positions * plan.out_features,
        plan.batch * int(np.prod(plan.padded_in)) * plan.in_features,
    )


class Strategy(NamedTuple):
    """One way to compute a convolution, with the rules that go with it.

    Attributes:
        run: ``run(x, w, plan, choose) -> y`` on the canonical arrays (module docstring).
        accepts: whether ``run`` can compute a (channels-last) plan.
        temp: elements of the temporary buffers ``run`` holds at once on a plan, given its
            :class:`Sizes` (a model of what XLA:CPU compiles, fitted by eye to
            ``memory_analysis()``); :func:`tiles` splits a plan whose buffers are large.
        channels_first: whether ``run`` also computes channels-first plans.
        dtypes: ``dtypes(plan, dtype)``, whether ``run`` computes ``plan`` on inputs of
            ``dtype`` (integers: bit for bit as lax does); ``None``: on every dtype.
    """

    run: Callable[[jax.Array, jax.Array, ConvPlan, Chooser], jax.Array]
    accepts: Callable[[ConvPlan], bool]
    temp: Callable[[ConvPlan, Sizes], int]
    channels_first: bool = False
    dtypes: Callable[[ConvPlan, Any], bool] | None = None


def _undilated(plan: ConvPlan) -> bool:
    return all(d == 1 for d in plan.lhs_dilation)


def _ungrouped(plan: ConvPlan) -> bool:
    return plan.feature_groups == plan.batch_groups == 1


# ---------------------------------------------------------------------------------------
# GEMMs on taps


def _contract(lhs, w, plan: ConvPlan, reduce_taps: bool, preferred_element_type):
    """Contract ``lhs (N, *out, [K,] C)`` with ``w ([K,] I, O)`` into ``(N/B, *out, O)``.

    Feature groups split ``C`` into ``(G, I)`` and ``O`` into ``(G, O/G)``, group-major as
    in lax, and become a batch axis of the contraction; batch groups split ``N`` into
    ``(B, N/B)`` and ``O`` into ``(B, O/B)``.
    """
    g, b = plan.feature_groups, plan.batch_groups
    k = "k" if reduce_taps else ""
    if b > 1:
        lhs = lhs.reshape(b, lhs.shape[0] // b, *lhs.shape[1:])
        w = w.reshape(*w.shape[:-1], b, plan.out_features // b)
        spec = f"bn...{k}i,{k}ibo->n...bo"
    elif g > 1:
        lhs = lhs.reshape(*lhs.shape[:-1], g, plan.group_in)
        w = w.reshape(*w.shape[:-1], g, plan.out_features // g)
        spec = f"n...{k}gi,{k}igo->n...go"
    else:
        spec = f"n...{k}i,{k}io->n...o"
    out = contract(
        spec, lhs, w, precision=plan.precision, preferred_element_type=preferred_element_type
    )
    return out.reshape(plan.out_batch, *plan.out_spatial, plan.out_features)


def im2col(x, w, plan: ConvPlan, choose: Chooser):
    """Gather all taps into one patch array ``(N, *out, K, C)`` and contract once.

    A kernel the user gives output-major (``OIHW``, ``OHWI``) is contracted where it lies
    when it outweighs the patches (:func:`reads_kernel_in_place`): patches ``(N, *out, C,
    K)`` for ``OIHW``."""
    order = reads_kernel_in_place(plan)
    if order is not None:
        return _im2col_output_major(x, w, plan, order)
    if _taps.builds_windows(plan):
        patches = _taps.windows_of(x, plan)
    else:
        patches = jnp.stack(list(taps_of(x, plan)), axis=-2)
    wk = w.reshape(plan.taps, plan.group_in, plan.out_features)
    return _contract(patches, wk, plan, True, plan.preferred)


KERNEL_IN_PLACE = 3
"""``im2col`` reads a kernel the user gives output-major (``ConvPlan.kernel_order``) where
it lies when it holds this many times the elements of the patches or more (that is, the
output features are this many times the batch's output positions;
:data:`KERNEL_IN_PLACE_DILATED` where the input is dilated) and the patches are at most
:data:`IN_PLACE_PATCHES` elements, and ``auto`` then runs ``im2col``.

The canonical kernel ``(*K, I, O)`` is a transposed copy of an ``OIHW`` one, which on a
layer that mostly reads its kernel (batch 1, small maps, many features) costs more than
the GEMM: XLA:CPU's GEMM reads a transposed operand without a copy, so the patches are
laid out in the kernel's own order instead. Measured on CPU (2026-12-02; the forward
passes of the 129 NCHW/OIHW programs of ``--suite random`` (two draws), ``random-small``
and ``resnet50`` whose kernel holds 4x the patches or more, against the tree before, in
the same rounds): from 8x, 94 programs, 0.36x the time in geometric mean (0.04-0.95x),
0.29x lax's where they took 0.79x; at 4-8x, 31 undilated programs 0.69x (up to 1.09x), 4
input-dilated ones, whose taps hold zeros, 1.4x. Checked on a fresh draw (seed 43, 22
programs at 4-8x): 20 took 0.35-0.98x, two 8.6x, a 5x5x5 768 -> 768 layer whose patches
held 12 million elements, where the GEMM on a transposed kernel is slow (a 4x4x4 map: 3x
at 6 million; up to 2.5 million, 0.28-0.40x), hence :data:`IN_PLACE_PATCHES`. A 2048 ->
2048 1x1 layer on one position: 0.59 ms against 14.7, lax 13.1
(``benchmarks/results/ab-kernel-in-place``). From 3x (it was 4; 2026-12-04,
``benchmarks/results/cpu-2core-kernel-in-place-3x``): a 9-tap stride-2 512 -> 256 layer
on 151 positions (3.4x) ran ``im2col`` with the copy at 1.6-2.0x lax, in place 0.7x that
time. Fitted on a sample of seeds 9001-9010 with 2x: from 3x, 8 forward programs all
faster (0.72-0.85x in geometric mean per band), at 2-3x 0.86-0.92x with 9 of 26 slower.
Held out at 3x (seeds 9011-9030, 60 programs drawn from the 238 it changes): 44
undilated forward programs 0.761x the time (33 faster, 7 slower, worst 1.39x), 16
forward+backward 0.812x (none slower).
"""

KERNEL_IN_PLACE_DILATED = 8
""":data:`KERNEL_IN_PLACE` where the input is dilated, whose taps are mostly zeros that
``col2im`` and ``polyphase`` skip: at 4-8x, 4 such programs took 1.4x the time in place
(2026-12-02); at 6x, three 768 -> 384 stride-2 input gradients 1.5-1.8x (2026-12-04)."""

IN_PLACE_PATCHES = 2**22
"""Most elements of the patches that ``im2col`` contracts against a kernel read in place
(:data:`KERNEL_IN_PLACE`)."""


def reads_kernel_in_place(plan: ConvPlan) -> str | None:
    """``plan.kernel_order`` where ``im2col`` contracts the user's output-major kernel in
    place (:data:`KERNEL_IN_PLACE`), else ``None``."""
    if plan.kernel_order is None or not _ungrouped(plan):
        return None
    patches = plan.batch * math.prod(plan.out_spatial) * plan.taps * plan.in_features
    kernel = plan.taps * plan.in_features * plan.out_features
    times = KERNEL_IN_PLACE if _undilated(plan) else KERNEL_IN_PLACE_DILATED
    small = patches <= IN_PLACE_PATCHES
    return plan.kernel_order if small and kernel >= times * patches else None


def output_major_axes(order: str, num_spatial: int) -> tuple[int, ...]:
    """The axes of the canonical kernel ``(*K, I, O)`` in the user's output-major order
    ``order`` (``ConvPlan.kernel_order``): ``(O, I, *K)`` for ``'ik'``, ``(O, *K, I)`` for
    ``'ki'``."""
    n = num_spatial
    return (n + 1, n, *range(n)) if order == "ik" else (n + 1, *range(n), n)


def _im2col_output_major(x, w, plan: ConvPlan, order: str):
    """``im2col`` against the canonical ``w (*K, I, O)`` moved back to the user's
    output-major order: XLA cancels the two moves, and the GEMM reads the kernel as given
    (XLA:CPU's GEMM takes a transposed operand without a copy), where the canonical kernel is a
    copy of it."""
    # (N, *out, C, K) for 'ik', (N, *out, K, C) for 'ki': the kernel's order after O
    patches = jnp.stack(list(taps_of(x, plan)), axis=-1 if order == "ik" else -2)
    lhs = patches.reshape(-1, plan.taps * plan.in_features)
    rhs = jnp.transpose(w, output_major_axes(order, plan.num_spatial))
    rhs = rhs.reshape(plan.out_features, -1)
    dims = (((1,), (1,)), ((), ()))
    out = lax.dot_general(
        lhs, rhs, dims, precision=plan.precision, preferred_element_type=plan.preferred
    )
    return out.reshape(plan.out_batch, *plan.out_spatial, plan.out_features)


def _im2col_temp(plan: ConvPlan, s: Sizes) -> int:
    # Twice the patches: XLA:CPU writes each tap's padded slice, then concatenates them in
    # a separate operation (compiled temp 1.8-2x K taps, 2026-12-01). Undercounted, the
    # patches of a mid-sized layer went untiled past 32 MiB, where glibc maps every call's
    # temp afresh and each page faults: 8x64x64 32 -> 16, 3x3: 68 MiB, 17 409 faults a
    # call, 32 ms; in 5 pieces 13 MiB, 13 ms (docs/performance.md, "Memory is time").
    return 2 * plan.taps * s.tap + s.out


IM2COL = Strategy(im2col, lambda p: True, _im2col_temp)


def taps(x, w, plan: ConvPlan, choose: Chooser):
    """One contraction per kernel tap, summed: no patch buffer, ``K`` GEMMs.

    Unrolled, XLA fuses the ``K`` additions into one loop that needs all ``K`` products
    (and their taps) alive at once. Where those taps would take more than
    ``SCAN_TAPS_BYTES`` (``jaxconv._taps``), the taps run as :func:`scan` instead
    (measured on CPU: the loop costs up to a fifth of the time on small layers and gains
    on large ones).
    """
    if scan_taps(plan, x.dtype):
        return scan(x, w, plan, choose)
    acc = acc_dtype(x.dtype, plan.preferred)
    wk = w.reshape(plan.taps, plan.group_in, plan.out_features)
    total = None
    for k, tap in enumerate(taps_of(x, plan)):
        y = _contract(tap, wk[k], plan, False, acc)
        total = y if total is None else total + y
    return total.astype(plan.out_dtype(x.dtype))


def scan(x, w, plan: ConvPlan, choose: Chooser):
    """``taps`` one at a time in a ``lax.scan`` over the padded input: one tap, one product
    and the running sum alive, the least memory of any strategy."""
    acc = acc_dtype(x.dtype, plan.preferred)
    wk = w.reshape(plan.taps, plan.group_in, plan.out_features)
    xp = padded_input(x, plan)

    def one_tap(total, tap_and_weight):
        offset, wt = tap_and_weight
        tap = tap_at(xp, plan, offset)
        return total + _contract(tap, wt, plan, False, acc), None

    total, _ = lax.scan(one_tap, jnp.zeros(plan.output_shape, acc), (tap_offsets(plan), wk))
    return total.astype(plan.out_dtype(x.dtype))


def _scan_temp(plan: ConvPlan, s: Sizes) -> int:
    return s.tap + 2 * s.out + s.padded


def _taps_temp(plan: ConvPlan, s: Sizes) -> int:
    if scan_taps(plan, np.float32):
        return _scan_temp(plan, s)
    return plan.taps * (s.tap + s.out)


TAPS = Strategy(taps, lambda p: True, _taps_temp)
SCAN = Strategy(scan, lambda p: True, _scan_temp)


def _leading_taps(x, plan: ConvPlan):
    """The taps of ``x (N, *S, ...)`` along every spatial dim but the last, which ``x``
    already holds as patches (``rows``, ``banded``)."""
    geometry = (plan.kernel, plan.rhs_dilation, plan.strides, plan.out_spatial, plan.pads)
    n = plan.num_spatial
    return shifted_taps(x, tuple(range(1, n)), *(v[:-1] for v in geometry))


def stacked_row_taps(x, plan: ConvPlan):
    """The last spatial dim's ``kw`` taps of the channels-last ``x`` stacked beside its
    features, ``(N, *S', out_w, kw·C)``, cut from ``x`` (the padding under each tap
    included): what ``rows`` and the stacking ``col2im`` contract."""
    row_taps = shifted_taps(
        x,
        (plan.num_spatial,),  # the last spatial axis of (N, *S, C)
        plan.kernel[-1:],
        plan.rhs_dilation[-1:],
        plan.strides[-1:],
        plan.out_spatial[-1:],
        plan.pads[-1:],
    )
    stacked = jnp.stack(list(row_taps), axis=-2)
    return stacked.reshape(*stacked.shape[:-2], plan.kernel[-1] * plan.in_features)


def rows(x, w, plan: ConvPlan, choose: Chooser):
    """Patches along the last spatial dim only, then one GEMM per remaining tap, summed.

    The last dim's ``kw`` taps are stacked beside the features, ``(N, *S', out_w, kw·C)``
    (``kw`` copies of the input, not ``K``), and every tap of the other dims is a slice of
    that along them — whole rows — contracted with the kernel's ``(kw·I, O)`` slab there.
    The GEMMs are ``kw`` times deeper than ``taps``' and the buffer ``K / kw`` times smaller
    than ``im2col``'s.
    """
    acc = acc_dtype(x.dtype, plan.preferred)
    stacked = stacked_row_taps(x, plan)
    wk = w.reshape(
        plan.taps // plan.kernel[-1], plan.kernel[-1] * plan.in_features, plan.out_features
    )
    total = None
    for k, piece in enumerate(_leading_taps(stacked, plan)):
        y = contract(
            "n...c,co->n...o", piece, wk[k], precision=plan.precision, preferred_element_type=acc
        )
        total = y if total is None else total + y
    return total.astype(plan.out_dtype(x.dtype))


def _rows_temp(plan: ConvPlan, s: Sizes) -> int:
    # The stacked row taps (cut from the padded input), a copy of them per remaining tap
    # and each tap's product: XLA:CPU writes each slice it contracts before the GEMM and
    # keeps every slice and product alive for the fused sum. Counting the stack and the
    # products only, the compiled temp was 2.0-4.5x the count on wide inputs (forced rows
    # 0.29-0.50x the time once tiled, benchmarks/results/ab-rows-pieces); counting the
    # stack and the slices only, 2.5-3.7x on narrow inputs with wide outputs (1 -> 64).
    kw = plan.kernel[-1]
    return (kw + plan.taps) * s.tap + plan.taps // kw * s.out + s.padded


ROWS = Strategy(rows, lambda p: p.num_spatial > 1 and _undilated(p) and _ungrouped(p), _rows_temp)


BAND_COLUMNS = 512
"""Widest GEMM :func:`banded` builds (measured on CPU: 128 to 512 columns all beat thinner
ones; the band's zeros limit the width first on every layer in the suites)."""


BAND_OVER_WINDOWS = 4
"""Most times the band's elements may outweigh the windows it multiplies (GEMM columns per
row) before :func:`band_width` takes fewer outputs per block."""


def band_width(plan: ConvPlan) -> int:
    """Outputs per block of :func:`banded`: at most :data:`BAND_COLUMNS` GEMM columns, the
    band's zeros at most as many as the kernel's products, and at most
    :data:`BAND_OVER_WINDOWS` times as many GEMM columns as rows.

    The band (``b`` shifted copies of the kernel) is written on every call: on a layer
    whose kernel outweighs its activations (deep features on a small map, a long kernel on
    a short sequence) it outweighed the windows it multiplies up to hundreds of times.
    There the blocks are made more and narrower, ``b`` dividing the outputs as evenly as
    the count of blocks allows. Measured on CPU (``benchmarks/results/cpu-2core-banded-
    phases``): a 7x7/2 384 -> 192 layer on one 7x7 map took 7.5x lax's time with ``b = 2``,
    1.07x with 1. Narrowing wherever the band outweighed the windows at all lost on some
    layers (a 13x13 4 -> 64 layer on 62 6x6 maps: 1.7x the time, ``b`` 6 -> 5); from 4
    times, on 30 held-out layers it changes, ``auto`` took 0.655x the time forward (none
    over 1.10x) and 0.850x forward and backward.
    """
    s, span = plan.strides[-1], plan.window[-1]
    out_w = plan.out_spatial[-1]
    b = max(1, min(BAND_COLUMNS // max(plan.out_features, 1), 1 + span // s, out_w))
    lead = plan.batch * math.prod(plan.out_spatial[:-1])  # GEMM rows per block column
    while b > 1 and BAND_OVER_WINDOWS * lead * -(-out_w // b) < b * plan.out_features:
        b = min(b - 1, -(-out_w // (-(-out_w // b) + 1)))  # the widest for one more block
    return b


def banded(x, w, plan: ConvPlan, choose: Chooser):
    """The last spatial dim as a banded GEMM over blocks of ``b`` outputs.

    ``b`` neighbouring outputs along the last dim read one window of
    ``L = (b - 1)·s + (kw - 1)·d + 1`` inputs, so the kernel's last dim written into a band
    ``(L·C, b·O)`` (shifted by ``s`` per output) turns ``kw`` thin products into one GEMM
    ``b`` times wider, whose result is already the output ``(…, blocks·b, O)``. The other
    dims' taps are stacked beside the window, as in ``rows``. It computes ``L / kw`` times
    the products (the band's zeros): suits few input features and a wide kernel, such as
    DeepSpeech's 5x20 with stride 2 on a spectrogram.

    A kernel dilated by ``d > 1`` along the last dim (at stride 1 there) runs on its ``d``
    phases (:func:`_banded_phases`): its band would hold the dilation's holes too, ``d``
    times the products.
    """
    if _on_phases(plan):
        return _banded_phases(x, w, plan, choose)
    n = plan.num_spatial
    s, d, kw = plan.strides[-1], plan.rhs_dilation[-1], plan.kernel[-1]
    c, o, out_w = plan.in_features, plan.out_features, plan.out_spatial[-1]
    b = band_width(plan)
    span = plan.window[-1]
    window = (b - 1) * s + span
    step = b * s
    blocks = -(-out_w // b)
    shifts = -(-window // step)  # blocks of the input one window covers
    # Pad (or crop) the last dim to whole blocks from the padding's start; positions past
    # the real padding only reach outputs beyond out_w, which are cropped.
    length = (blocks + shifts - 1) * step
    lo = plan.pads[-1][0]
    xb = pad_spatial(x, (n,), ((lo, length - plan.in_spatial[-1] - lo),))
    xb = xb.reshape(*xb.shape[:n], blocks + shifts - 1, step * c)
    win = jnp.concatenate(
        [lax.slice_in_dim(xb, j, j + blocks, axis=n) for j in range(shifts)], axis=-1
    )[..., : window * c]  # (N, *S', blocks, L·C)
    lhs = jnp.stack(list(_leading_taps(win, plan)), axis=-2)  # (N, *out', blocks, K', L·C)
    wk = w.reshape(plan.taps // kw, kw, c, o)  # explicit: o may be 0
    wk = lax.pad(wk, jnp.zeros((), w.dtype), [(0, 0, 0), (0, 0, d - 1), (0, 0, 0), (0, 0, 0)])
    band = jnp.stack(
        [jnp.pad(wk, [(0, 0), (j * s, window - span - j * s), (0, 0), (0, 0)]) for j in range(b)],
        axis=-2,
    ).reshape(wk.shape[0], window * c, b * o)
    y = contract(
        "n...kl,klp->n...p",
        lhs,
        band,
        precision=plan.precision,
        preferred_element_type=plan.preferred,
    )
    y = y.reshape(plan.batch, *plan.out_spatial[:-1], blocks * b, o)
    return lax.slice_in_dim(y, 0, out_w, axis=n)


def _on_phases(plan: ConvPlan) -> bool:
    """Whether :func:`banded` runs ``plan`` on its phases (:func:`_banded_phases`): a kernel
    dilated along the last dim, at stride 1 there."""
    return plan.rhs_dilation[-1] > 1 and plan.strides[-1] == 1


def _banded_phase_plan(plan: ConvPlan) -> ConvPlan:
    """The undilated plan :func:`_banded_phases` runs on ``plan`` (last dim dilated by ``d``,
    stride 1 there): ``d`` times the batch, ``q = ceil(out_w / d)`` outputs along the last
    dim from ``q + kw - 1`` inputs, no padding or dilation on it."""
    d, kw = plan.rhs_dilation[-1], plan.kernel[-1]
    q = -(-plan.out_spatial[-1] // d)
    return plan._replace(
        batch=plan.batch * d,
        in_spatial=(*plan.in_spatial[:-1], q + kw - 1),
        out_spatial=(*plan.out_spatial[:-1], q),
        pads=(*plan.pads[:-1], (0, 0)),
        rhs_dilation=(*plan.rhs_dilation[:-1], 1),
    )


def _banded_phases(x, w, plan: ConvPlan, choose: Chooser):
    """:func:`banded` on a kernel dilated by ``d`` along the last dim, at stride 1 there.

    Output ``j = q·d + r`` reads the padded inputs ``(q + k)·d + r``: phase ``r`` of the
    output is an undilated convolution of phase ``r`` of the input. The padded last dim,
    cut (or padded) to whole phases, is split as ``(q + kw - 1, d)`` and the phases moved
    into the batch; the outputs are interleaved back. Two copies (input and output) where
    the band would compute ``d`` times the products.
    """
    n, d = plan.num_spatial, plan.rhs_dilation[-1]
    sub = _banded_phase_plan(plan)
    length = d * sub.in_spatial[-1]
    lo = plan.pads[-1][0]
    xb = pad_spatial(x, (n,), ((lo, length - plan.in_spatial[-1] - lo),))
    xb = xb.reshape(*xb.shape[:n], sub.in_spatial[-1], d, xb.shape[-1])
    xb = jnp.moveaxis(xb, n + 1, 1).reshape(sub.batch, *sub.in_spatial, xb.shape[-1])
    y = banded(xb, w, sub, choose)  # (N·d, *out', q, O)
    y = y.reshape(plan.batch, d, *sub.out_spatial, y.shape[-1])
    y = jnp.moveaxis(y, 1, n + 1).reshape(plan.batch, *sub.out_spatial[:-1], -1, y.shape[-1])
    return lax.slice_in_dim(y, 0, plan.out_spatial[-1], axis=n)


def _banded_temp(plan: ConvPlan, s: Sizes) -> int:
    if _on_phases(plan):
        # The phases' banded GEMM, with the input's and the output's phase copies.
        sub = _banded_phase_plan(plan)
        t = sizes(sub)
        return _banded_temp(sub, t) + t.padded + t.out
    # The windows (N, *S', blocks, shifts·step·C) cut from the padded input; the leading
    # dims' taps of them stacked (N, *out', blocks, K', L·C), once where one dim is cut and
    # twice where two or more are (XLA:CPU then writes each slice before concatenating, as
    # for im2col). Not the band (K', L·C, b·O): pieces do not shrink it. Compiled temp of
    # 1-3-d layers, 2026-12-01: 0.5-1.1x this (the count before, 0.2-1.7x).
    b, st = band_width(plan), plan.strides[-1]
    window = (b - 1) * st + plan.window[-1]
    blocks = -(-plan.out_spatial[-1] // b)
    covered = -(-window // (b * st)) * b * st
    c = plan.batch * blocks * plan.in_features
    win = c * math.prod(plan.padded_in[:-1]) * covered
    cut = sum(k > 1 for k in plan.kernel[:-1])
    lead = plan.taps // plan.kernel[-1]
    stacked = c * math.prod(plan.out_spatial[:-1]) * lead * window
    return min(cut, 2) * stacked + win + s.padded + s.out


BANDED = Strategy(banded, lambda p: _undilated(p) and _ungrouped(p), _banded_temp)


def _space_to_depth_geometry(plan: ConvPlan):
    """Per spatial dim: (stride, kernel in blocks k', blocks of the padded input, phases
    kept). A kernel no wider than its stride (one block) reaches only the first ``k`` phases
    of each block, so only those are kept; else all ``s``."""
    return [
        (s, -(-k // s), o + -(-k // s) - 1, min(k, s))
        for s, k, o in zip(plan.strides, plan.kernel, plan.out_spatial, strict=True)
    ]


def space_to_depth_taps(plan: ConvPlan) -> int:
    """Taps of the kernel :func:`space_to_depth` runs, zero ones included: whole blocks
    where the kernel is wider than its stride, ``K`` phases where it is not."""
    return math.prod(kb * p for _, kb, _, p in _space_to_depth_geometry(plan))


def space_to_depth(x, w, plan: ConvPlan, choose: Chooser):
    """A strided convolution as a stride-1 one on ``stride``-sized blocks, then ``rows``.

    Output ``o`` reads padded input ``o·s + t``; writing ``t = a·s + r`` makes that block
    ``o + a``, phase ``r``. So the input reshaped to blocks ``(N, *S/s, s^n·C)`` and the
    kernel zero-padded to whole blocks ``(*ceil(K/s), s^n·I, O)`` give the same sums with
    stride 1, where the taps are contiguous and the GEMMs ``s^n`` times deeper. The price
    is the zero taps of the padded kernel (7×7/2: 64 instead of 49 products). A kernel no
    wider than its strides (``K <= s``) reads one block per output and only its first
    ``K`` phases: those are kept and the rest dropped, so the GEMM has no zero taps and the
    copy holds ``prod(K/s)`` of the input.
    """
    n = plan.num_spatial
    geo = _space_to_depth_geometry(plan)
    # Pad (or crop) each dim to exactly `blocks * s` elements from the padding's start.
    config = [(0, 0, 0)]
    for (s, _, blocks, _), size, (lo, _) in zip(geo, plan.in_spatial, plan.pads, strict=True):
        config.append((lo, blocks * s - size - lo, 0))
    xp = lax.pad(x, jnp.zeros((), x.dtype), config + [(0, 0, 0)])
    c = plan.in_features
    split = [plan.batch] + [v for s, _, b, _ in geo for v in (b, s)] + [c]
    xs = xp.reshape(split)
    # Keep the phases the kernel reaches (all of them unless K < s).
    kept = [plan.batch] + [v for _, _, b, p in geo for v in (b, p)] + [c]
    xs = lax.slice(xs, (0,) * len(kept), kept)
    perm = [0, *range(1, 2 * n, 2), *range(2, 2 * n + 1, 2), 2 * n + 1]
    xs = jnp.transpose(xs, perm)
    xs = xs.reshape(plan.batch, *(b for _, _, b, _ in geo), -1)
    wpad = [(0, kb * p - k) for (_, kb, _, p), k in zip(geo, plan.kernel, strict=True)]
    wp = jnp.pad(w, [*wpad, (0, 0), (0, 0)])
    wsplit = [v for _, kb, _, p in geo for v in (kb, p)] + [c, plan.out_features]
    wperm = [*range(0, 2 * n, 2), *range(1, 2 * n, 2), 2 * n, 2 * n + 1]
    ws = jnp.transpose(wp.reshape(wsplit), wperm)
    ws = ws.reshape(*(kb for _, kb, _, _ in geo), -1, plan.out_features)
    sub = _space_to_depth_plan(plan)
    return run(_space_to_depth_inner(plan), xs, ws, sub, choose)


def _space_to_depth_plan(plan: ConvPlan) -> ConvPlan:
    """The stride-1 convolution :func:`space_to_depth` runs on the blocked input."""
    geo = _space_to_depth_geometry(plan)
    return plan._replace(
        in_features=math.prod(p for *_, p in geo) * plan.in_features,
        in_spatial=tuple(b for _, _, b, _ in geo),
        kernel=tuple(kb for _, kb, _, _ in geo),
        strides=(1,) * plan.num_spatial,
        pads=((0, 0),) * plan.num_spatial,
    )


def _space_to_depth_inner(plan: ConvPlan) -> str:
    return "rows" if plan.num_spatial > 1 else "im2col"


def _space_to_depth_temp(plan: ConvPlan, s: Sizes) -> int:
    # The padded input and its blocked copy, then what the inner strategy holds on the
    # blocked input (its padded input is that copy, counted once). Against the count
    # before (2 padded inputs + kw taps + a product per leading tap) the compiled temp was
    # 0.7-3.6x (2026-12-01): a 7x7/2 layer ran whole at 31.5 MiB, in pieces 0.81x the time.
    sub = _space_to_depth_plan(plan)
    inner = STRATEGIES[_space_to_depth_inner(plan)].temp(sub, sizes(sub))
    return s.padded + inner


SPACE_TO_DEPTH = Strategy(
    space_to_depth,
    lambda p: (
        any(s > 1 for s in p.strides)
        and all(d == 1 for d in p.rhs_dilation + p.lhs_dilation)
        and _ungrouped(p)
    ),
    _space_to_depth_temp,
)


# ---------------------------------------------------------------------------------------
# Fused multiply-accumulate


def direct(x, w, plan: ConvPlan, choose: Chooser):
    """Multiply-accumulate over taps and the input features of each group, no GEMM.

    For few input features per group (depthwise has one) a GEMM would be tiny and
    padded; XLA instead fuses all ``K·I`` broadcast multiply-adds into one loop. In either
    layout: each tap's feature axis is split into ``(G, I)``, and input feature ``j`` of
    every group scales that group's ``(G, O/G)`` slice of the kernel; channels-first, the
    fused loop runs along the contiguous spatial rows.
    """
    acc = acc_dtype(x.dtype, plan.preferred)
    g, i = plan.feature_groups, plan.group_in
    f = plan.feature_axis
    wk = w.reshape(plan.taps, i, g, plan.out_features // g).astype(acc)
    scale = [1] * (x.ndim + 1)  # one group's kernel slice, broadcast along the other axes
    scale[f], scale[f + 1] = wk.shape[2:]
    total = None
    for k, tap in enumerate(taps_of(x, plan, fused=True)):
        tap = tap.astype(acc)
        tap = tap.reshape(*tap.shape[:f], g, i, *tap.shape[f + 1 :])
        for j in range(i):
            # Explicit ranks: the tests run with jax_numpy_rank_promotion='raise'.
            y = tap[(slice(None),) * (f + 1) + (slice(j, j + 1),)] * wk[k, j].reshape(scale)
            total = y if total is None else total + y
    return total.reshape(plan.output_shape).astype(plan.out_dtype(x.dtype))


DIRECT_FUSED_FEATURES = 12
"""Most input features per group for which XLA fuses ``direct``'s taps into its loop. Each
tap is read once per input feature; measured on XLA:CPU (jax 0.10), with 12 readers a
tap's slice is fused into all of them, with 16 every tap is materialised (``K`` taps of
temporary memory: 2.5 MiB instead of 0.27 on a 3x3 16 -> 16 layer on 2x32x64)."""


def _direct_temp(plan: ConvPlan, s: Sizes) -> int:
    if plan.group_in > DIRECT_FUSED_FEATURES:
        return s.padded + plan.taps * s.tap
    return s.padded


DEPTHWISE = Strategy(direct, lambda p: p.is_depthwise, _direct_temp, True)
DIRECT = Strategy(direct, lambda p: p.batch_groups == 1, _direct_temp, True)


# ---------------------------------------------------------------------------------------
# Winograd F(2, 3) (Lavin & Gray 2016): with input transform B^T, kernel transform G and
# output transform A^T, a 4-wide input tile d and a 3-tap kernel g give the 2 outputs
# A^T [(G g) * (B^T d)]; in 2-D, each of the 16 transformed positions is one GEMM.
_WINOGRAD_BT = ((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1))
_WINOGRAD_AT = ((1, 1, 1, 0), (0, 1, -1, -1))


def _combine(coefs, terms):
    """``sum(c * t)`` for coefficients in {-1, 0, 1}, skipping the zeros."""
    total = None
    for c, t in zip(coefs, terms, strict=True):
        if c:
            t = t if c == 1 else -t
            total = t if total is None else total + t
    return total


def _kernel_transform(g):
    """``2 G g`` along the leading axis of ``g (3, ...)``: ``(4, ...)`` as a list. Twice
    Winograd's ``G``, so that integer kernels stay exact; the output is divided by 4."""
    return [2 * g[0], g[0] + g[1] + g[2], g[0] - g[1] + g[2], 2 * g[2]]


def winograd(x, w, plan: ConvPlan, choose: Chooser):
    """Winograd F(2x2, 3x3) for stride-1, undilated 3x3 kernels on ``(N, H, W, C)``, or on
    ``(N, C, H, W)`` for a channels-first plan.

    The output is cut into 2x2 tiles, each read from a 4x4 input tile (stride 2). Both
    tiles and kernel are transformed so that the convolution becomes 16 independent
    GEMMs ``(N·tiles, C) @ (C, O)`` (``(O, C) @ (C, tiles)`` per image, channels first),
    one per transformed position, each 4 times shorter than a per-tap GEMM: 16/36 of the
    products of ``taps``. The transforms are sums of strided slices that XLA fuses; the 4
    outputs of every tile are woven together as the phases of period 2 are in
    ``polyphase``. The transforms only add and subtract (and scale by powers of two):
    relative error stays near 1e-6 in float32, integers are exact, and narrower floats are
    summed in float32.
    """
    acc = acc_dtype(x.dtype, plan.preferred)
    if jnp.issubdtype(acc, jnp.integer) and jnp.iinfo(acc).bits < 32:
        # The factor 4 of the kernel transform would wrap a narrow sum before it is divided
        # out: sum in 32 bits, wrap once at the end (as lax's narrow sums do).
        acc = jnp.dtype(jnp.int32 if jnp.issubdtype(acc, jnp.signedinteger) else jnp.uint32)
    tiles = tuple(-(-o // 2) for o in plan.out_spatial)
    axes = plan.spatial_axes
    # Pad (or crop) to exactly 2·tiles + 2 rows and columns from the padding's start.
    pads = [
        (lo, 2 * t + 2 - size - lo)
        for size, (lo, _), t in zip(plan.in_spatial, plan.pads, tiles, strict=True)
    ]
    xp = pad_spatial(x.astype(acc), axes, pads)
    # d[i][j]: element (i, j) of every input tile, the taps of a 4x4 window of stride 2.
    taps = list(window_taps(xp, axes, (4, 4), (1, 1), (2, 2), tiles))
    d = [taps[4 * i : 4 * i + 4] for i in range(4)]
    u = [_kernel_transform(r) for r in _kernel_transform(jnp.swapaxes(w.astype(acc), 0, 1))]
    spec = "nchw,co->nohw" if plan.channels_first else "nhwc,co->nhwo"
    # Channels-first, jnp.einsum's own order (the kernel as the left operand, (O, C) @
    # (C, tiles)) runs 1.1-1.6x faster than contract's (tiles, O) and transpose (measured on
    # CPU, ResNet's and DeepBench's 3x3 layers on NCHW data).
    product = jnp.einsum if plan.channels_first else contract
    m = {}
    for a in range(4):
        rows_a = [_combine(_WINOGRAD_BT[a], [d[i][j] for i in range(4)]) for j in range(4)]
        for b in range(4):
            v = _combine(_WINOGRAD_BT[b], rows_a)
            m[a, b] = product(
                spec, v, u[b][a], precision=plan.precision, preferred_element_type=acc
            )
    out_dtype = plan.out_dtype(x.dtype)
    parts = []
    for at_r in _WINOGRAD_AT:
        for at_s in _WINOGRAD_AT:
            y = _combine(at_r, [_combine(at_s, [m[a, b] for b in range(4)]) for a in range(4)])
            # Undo the kernel transform's factor 4: exact for floats (a power of two) and
            # for integers (every sum is 4 times an integer).
            y = y * 0.25 if jnp.issubdtype(acc, jnp.inexact) else y // 4
            parts.append(y.astype(out_dtype))
    # Output (2t + r, 2t' + s) of tile (t, t') is part (r, s): the phases of period 2.
    return _polyphase.interleave(parts, plan, (2, 2))


def _winograd_exact(plan: ConvPlan, dtype: Any) -> bool:
    """Integers: the transforms compute ``4·y`` modulo ``2^32``, so ``y`` comes back exactly
    modulo ``2^30``: enough for outputs of at most 16 bits (lax's own sums wrap there), and
    for 32-bit outputs where no sum can reach ``2^29`` (from the dtype's range, e.g. int8
    with fewer than 3641 input features)."""
    if not jnp.issubdtype(dtype, jnp.integer):
        return True
    if jnp.iinfo(plan.out_dtype(dtype)).bits <= 16:
        return True
    info = jnp.iinfo(dtype)
    largest = max(abs(int(info.min)), int(info.max))
    return plan.taps * plan.group_in * largest * largest < 2**29


WINOGRAD = Strategy(
    winograd,
    lambda p: (
        p.kernel == (3, 3)
        and p.strides == (1, 1)
        and p.rhs_dilation == (1, 1)
        and p.lhs_dilation == (1, 1)
        and _ungrouped(p)
    ),
    lambda p, s: 4 * s.tap + 4 * s.out + s.padded,
    True,
    _winograd_exact,
)


# ---------------------------------------------------------------------------------------
# Groups


def grouped(x, w, plan: ConvPlan, choose: Chooser):
    """Feature groups as a batched GEMM over a leading group axis.

    The input is moved to group-major ``(G·N, *spatial, I)`` once, so each group's patch
    matrix ``(N·P, K·I)`` is contiguous and the batched ``dot_general`` needs no transpose
    of the (``K`` times larger) patch array.
    """
    g, i = plan.feature_groups, plan.group_in
    og = plan.out_features // g
    n, spatial = plan.batch, plan.in_spatial
    xg = jnp.moveaxis(x.reshape(n, *spatial, g, i), -2, 0).reshape(g * n, *spatial, i)
    patches = jnp.stack(list(taps_of(xg, plan)), axis=-2)
    positions = n * int(np.prod(plan.out_spatial))
    patches = patches.reshape(g, positions, plan.taps * i)
    wg = jnp.moveaxis(w.reshape(plan.taps * i, g, og), 1, 0)
    y = lax.dot_general(
        patches,
        wg,
        (((2,), (1,)), ((0,), (0,))),
        precision=plan.precision,
        preferred_element_type=plan.preferred,
    )
    y = jnp.moveaxis(y.reshape(g, n, *plan.out_spatial, og), 0, -2)
    return y.reshape(n, *plan.out_spatial, plan.out_features)


GROUPED = Strategy(
    grouped,
    lambda p: p.batch_groups == 1 and p.feature_groups > 1,
    lambda p, s: 2 * p.taps * s.tap + s.out,
)


# ---------------------------------------------------------------------------------------
# Input dilation (transposed convolutions)


def polyphase(x, w, plan: ConvPlan, choose: Chooser):
    """Input dilation split by output phase; each phase runs the strategy ``choose`` picks.

    A phase that would run unrolled ``taps`` runs ``rows`` instead: its kernel is small
    (2x2 for a 4x4 kernel of stride 2), and measured on CPU the ``kw`` times deeper GEMMs
    win on NCHW data (DCGAN 16 -> 32: 1.3 -> 1.05x lax) and tie on NHWC. Phases whose taps
    are large enough to scan keep the scan: ``rows`` would hold ``kw`` copies of the input
    (DeepSpeech 5x10/2's input gradient: 9 -> 48 MB temp). Per-phase GEMMs also beat one
    GEMM batched over the kernel's taps (which reads the kernel in place), even where the
    kernel outweighs the activations (DCGAN's 4x4 layers, N = 1 to 4: by 1.3-1.8x).
    """

    def phase_conv(xs, ws, sub: ConvPlan):
        name = choose(sub, xs.dtype)
        if name == "taps" and accepts("rows", sub) and not scan_taps(sub, xs.dtype):
            name = "rows"
        return run(name, xs, ws, sub, choose)

    return _polyphase.forward(x, w, plan, phase_conv, plan.out_dtype(x.dtype))


POLYPHASE = Strategy(polyphase, lambda p: not _undilated(p), lambda p, s: s.padded + 2 * s.out)


def col2im(x, w, plan: ConvPlan, choose: Chooser):
    """Input dilation (a transposed convolution) as one GEMM and a scatter of its columns.

    Every input position meets every kernel tap, so ``x (N·S, C) @ w (C, K·O)`` computes all
    products at once; tap ``k``'s columns then land in the output ``lhs_dilation`` apart,
    shifted by the tap's offset. Each tap's columns fill one phase of the output (one
    residue of the position modulo ``lhs_dilation``) densely, so every phase is a sum of
    shifted copies of its taps' columns and the phases are woven together as in
    ``polyphase``: an output element sums its own taps only, where interior pads of the
    whole output would test all ``K`` (1.1-2.6x faster on CPU, transposed 1-3-D layers).
    With few output features this GEMM is wide where the polyphase (or per-tap) ones are
    thin. Needs no groups, and no input dilation where it has window strides: it then sums
    the stride-1 convolutions of the input's phases (:func:`_col2im_strided`). On few input
    features it first stacks the last dim's taps (:func:`stacks_rows`). Where each output
    meets one tap at most, the columns are the output's blocks (:func:`_col2im_blocks`).
    """
    if col2im_in_blocks(plan, jnp.dtype(w.dtype).itemsize):
        return _col2im_blocks(x, w, plan)
    if stacks_rows(plan):
        return _col2im_rows(x, w, plan, choose)
    if any(s > 1 for s in plan.strides):
        return _col2im_strided(x, w, plan, choose)
    acc = acc_dtype(x.dtype, plan.preferred)
    taps, o, c = plan.taps, plan.out_features, plan.in_features
    cf = plan.channels_first
    wk = w.reshape(taps, c, o)
    dot = functools.partial(lax.dot_general, precision=plan.precision, preferred_element_type=acc)
    # Laid out as (C, K·O) for one wide GEMM, the kernel is copied whole; where that copy
    # alone would break the memory bound (a 7x7 1024 -> 1024 kernel on one position:
    # 196 MiB of temp against lax's none), the taps become the GEMMs' batch instead, over
    # the input broadcast to each. Slower wherever the copy is affordable (1.23x the time
    # on the layers with fewer positions than output features, so only there).
    batched = _col2im_copies_too_much(plan, jnp.dtype(w.dtype).itemsize)
    if cf:
        # (K·O, C) @ (C, N·S), the input's features moved first (a small copy): the
        # positions stay the long contiguous side, and the output (K, O, N, *S) is summed
        # and woven along them. Left to XLA, the dot of (N, C, *S) as it is may be laid out
        # (N·S, K·O) and copied.
        if col2im_per_image(plan):
            # (K·O, C) @ (C, S) per image, the kernel broadcast to each (see
            # col2im_per_image): the input and the output keep their layout.
            n = plan.batch
            wt = _gemm_rows(w, plan)
            flat = x.reshape(n, c, -1)
            z = dot(jnp.broadcast_to(wt, (n, *wt.shape)), flat, (((2,), (1,)), ((0,), (0,))))
            z = z.reshape(n, taps, o, *x.shape[2:])
            axis, lead, trail = 1, [(0, 0, 0)] * 2, []
        else:
            xt = jnp.moveaxis(x, 1, 0)
            flat = xt.reshape(c, -1)
            if batched:
                z = dot(
                    wk, jnp.broadcast_to(flat, (taps, *flat.shape)), (((1,), (1,)), ((0,), (0,)))
                )
            else:
                z = dot(_gemm_rows(w, plan), flat, (((1,), (0,)), ((), ())))
            z = z.reshape(taps, o, *xt.shape[1:])
            axis, lead, trail = 0, [(0, 0, 0)] * 2, []
    else:
        if batched:
            flat = x.reshape(-1, c)
            z = dot(jnp.broadcast_to(flat, (taps, *flat.shape)), wk, (((2,), (1,)), ((0,), (0,))))
            z = z.reshape(taps, *x.shape[:-1], o)  # (K, N, *S, O)
            axis = 0
        else:
            spec, wg = _gemm_kernel(w, plan)
            z = contract(
                f"n...c,{spec}->n...ko", x, wg, precision=plan.precision, preferred_element_type=acc
            )  # (N, *S, K, O)
            axis = z.ndim - 2
        lead, trail = [(0, 0, 0)], [(0, 0, 0)]
    if col2im_by_input(plan):
        # Fewer input positions than taps (a long kernel, a transposed layer from one
        # position): scattered per input position instead of per tap, each position's taps
        # landing on consecutive outputs (rhs_dilation apart).
        return _col2im_by_input(z, axis, plan, plan.out_dtype(x.dtype))
    # One split, whose transpose (in jvp, which transposes the input gradient) is one
    # concatenate. Indexing each tap transposes to K zero-padded copies of z added in one
    # fused loop, which XLA:CPU (jaxlib 0.10.2) computed wrongly from about 97 taps on
    # (a 1-d 97-tap kernel, 6 -> 6 features on 64 positions: errors of 10 under jit, 1e-5
    # eagerly).
    tap = [jnp.squeeze(t, axis) for t in lax.split(z, (1,) * taps, axis)]
    periods = plan.lhs_dilation
    longest = _polyphase.longest_phase(plan, periods)
    zero = jnp.zeros((), acc)
    sums = {}
    for k, offsets in enumerate(itertools.product(*(range(t) for t in plan.kernel))):
        phase, config = [], []
        for size, t, ld, rd, (lo, _), m in zip(
            plan.in_spatial,
            offsets,
            plan.lhs_dilation,
            plan.rhs_dilation,
            plan.pads,
            longest,
            strict=True,
        ):
            # Input i of tap t lands at output lo - t·rd + i·ld: phase p, index shift + i.
            p, shift = (lo - t * rd) % ld, (lo - t * rd) // ld
            phase.append(p)
            config.append((shift, m - shift - size, 0))
        y = lax.pad(tap[k], zero, lead + config + trail)
        key = tuple(phase)
        sums[key] = y + sums[key] if key in sums else y
    n = plan.batch
    swap = cf and axis == 0
    empty = jnp.zeros(
        (o, n, *longest) if swap else (n, o, *longest) if cf else (n, *longest, o), acc
    )
    parts = [sums.get(c, empty) for c in itertools.product(*(range(p) for p in periods))]
    # Channels-first, (O, N, *S) has its positions where (N, O, *S) has them.
    y = _polyphase.interleave(parts, plan, periods).astype(plan.out_dtype(x.dtype))
    return jnp.swapaxes(y, 0, 1) if swap else y


COL2IM_KERNEL_TAPS = 9
"""Most taps of an ``OIHW``-like kernel (2-d or 3-d) that :func:`col2im` copies as
``(K, O, C)`` (:func:`_gemm_kernel`)."""


def _gemm_kernel(w, plan: ConvPlan) -> tuple[str, Any]:
    """``col2im``'s kernel from the canonical ``w (*K, C, O)``, copied as is cheaper from
    the user's layout: ``('koc', (K, O, C))``, whose ``C`` the GEMM reads transposed, or
    ``('cko', (C, K, O))``.

    ``(K, O, C)`` where the kernel outweighs the GEMM's output (at least half as many input
    features as input positions, batch included: ``K·C·O`` against ``N·S·K·O``) and the
    user's kernel is ``(O, *K, C)`` (``OHWI``: whole rows of ``C`` move) or ``(O, C, *K)``
    (``OIHW``) of 2 or 3 dims and at most :data:`COL2IM_KERNEL_TAPS` taps. XLA:CPU's copy
    of such a kernel to ``(C, K, O)`` gathers each element ``C·K`` apart: a 3x3 512 -> 256
    layer on 4x4 positions took 1.7-3.0 ms with it, 0.74-1.19 with ``(K, O, C)``. From
    wider ``OIHW`` kernels, and 1-d ones, ``(K, O, C)`` was 1.2-2.0x slower (16 taps: its
    reads ``K`` apart); on more positions the transposed GEMM took 1.05-1.17x the time
    (2x2 8 -> 1 to 96 -> 48 layers on 15x15 to 92x66 maps), and so did a differentiated
    layer (1.06x on 15 layers). From ``HWIO`` the ``(C, K, O)`` copy moves rows of ``O``."""
    order, taps = plan.kernel_order, plan.taps
    wk = w.reshape(taps, plan.in_features, plan.out_features)
    few = order == "ik" and plan.num_spatial > 1 and taps <= COL2IM_KERNEL_TAPS
    if _kernel_outweighs_output(plan) and (order == "ki" or few) and not _DIFFERENTIATED.get():
        return "koc", jnp.swapaxes(wk, 1, 2)
    return "cko", jnp.moveaxis(wk, 0, 1)


def _kernel_outweighs_output(plan: ConvPlan) -> bool:
    """Whether ``col2im``'s kernel ``K·C·O`` outweighs its GEMM's output ``N·S·K·O``: at
    least half as many input features as input positions, batch included."""
    return 2 * plan.in_features >= plan.batch * math.prod(plan.in_spatial)


def _gemm_rows(w, plan: ConvPlan):
    """:func:`_gemm_kernel` as the matrix ``(K·O, C)``."""
    spec, wg = _gemm_kernel(w, plan)
    return wg.reshape(-1, plan.in_features) if spec == "koc" else wg.reshape(plan.in_features, -1).T


def col2im_in_blocks(plan: ConvPlan, itemsize: int) -> bool:
    """Whether :func:`col2im` writes its GEMM's columns out as blocks (:func:`_col2im_blocks`):
    channels-last, input dilation, and along every dim a kernel no wider than the dilation
    (each output meets one tap at most: a U-Net's 2x2/2, a 4x4/4) or, on 2-d and 3-d data
    the user keeps channels-last, a whole multiple of it (DCGAN's 4x4/2, FCN's 16x16/8: a
    few blocks overlap); no window strides or kernel dilation, no groups, and a kernel whose
    ``(C, K·O)`` copy :func:`col2im` would make. Overlapping blocks of 1-d data took 1.1-1.3x
    the scatter's time, and of ``NCHW`` data moved channels-last up to 1.33x. On fewer input
    positions than taps they replace the scatter per input (:func:`col2im_by_input`; 0.05-1.02x
    its time forward on eight such layers) but where a differentiated layer's kernel
    outweighs its GEMM's output (:func:`_kernel_outweighs_output`): a 4x4/2 512 -> 512 layer
    on 3x5 positions then took 1.39x the time with twice the temp."""
    dims = list(zip(plan.kernel, plan.lhs_dilation, strict=True))
    keeps_by_input = (
        col2im_by_input(plan) and _DIFFERENTIATED.get() and _kernel_outweighs_output(plan)
    )
    overlap_pays = plan.num_spatial > 1 and not plan.features_first and not keeps_by_input
    return (
        not plan.channels_first
        and any(ld > 1 for ld in plan.lhs_dilation)
        and all(k <= ld or (k % ld == 0 and overlap_pays) for k, ld in dims)
        and set(plan.strides) == set(plan.rhs_dilation) == {1}
        and plan.feature_groups == plan.batch_groups == 1
        and not _col2im_copies_too_much(plan, itemsize)
    )


def _col2im_blocks(x, w, plan: ConvPlan):
    """:func:`col2im` where the kernel is no wider than the input dilation ``ld``, or a whole
    multiple ``m·ld`` of it, along every dim (:func:`col2im_in_blocks`).

    Input ``i`` of tap ``t`` lands at output ``lo - t + i·ld`` along a dim. With the taps
    reversed and padded to ``m·ld`` (tap ``t`` at ``u = m·ld - 1 - t``; ``m = 1`` where the
    kernel is no wider than ``ld``) and ``u`` split as ``g·ld + r``, it lands at
    ``lo + 1 - m·ld + (i + g)·ld + r``: the GEMM's columns ``(N, *S, *m, *ld, O)``, summed
    over ``g`` each shifted ``g`` inputs along, are blocks ``(N, *(S + m - 1), *ld, O)``
    that woven as phases (:func:`jaxconv._polyphase.weave`) are the output, shifted by
    ``m·ld - 1 - lo``. One fused sum, one copy and a crop, where the per-tap scatter pads
    and sums every tap's columns into ``ld`` phases before weaving them. Held out, on the 20
    forward programs of two fresh ``random-transposed`` draws that it changes (4x4/2,
    4x4x4/2, 8x8/4, 16x16/8), 0.905x the time (0.60-1.34x), forward and backward 0.989x;
    no more temp (``benchmarks/results/cpu-2core-col2im-overlapping-blocks``)."""
    nd, o = plan.num_spatial, plan.out_features
    acc = acc_dtype(x.dtype, plan.preferred)
    zero = jnp.zeros((), acc)
    lds = plan.lhs_dilation
    ms = [-(-k // ld) for k, ld in zip(plan.kernel, lds, strict=True)]
    spec, wg = _gemm_kernel(w, plan)
    z = contract(
        f"n...c,{spec}->n...ko", x, wg, precision=plan.precision, preferred_element_type=acc
    )  # (N, *S, K, O)
    z = z.reshape(*z.shape[:-2], *plan.kernel, o)
    taps = tuple(range(1 + nd, 1 + 2 * nd))
    widen = [(m * ld - k, 0, 0) for k, ld, m in zip(plan.kernel, lds, ms, strict=True)]
    z = lax.pad(lax.rev(z, taps), zero, [(0, 0, 0)] * (1 + nd) + widen + [(0, 0, 0)])
    z = z.reshape(
        *z.shape[: 1 + nd], *(d for m, ld in zip(ms, lds, strict=True) for d in (m, ld)), o
    )
    blocks = None
    for g in itertools.product(*(range(m) for m in ms)):
        index = (slice(None),) * (1 + nd) + tuple(i for gd in g for i in (gd, slice(None)))
        shift = [(gd, m - 1 - gd, 0) for gd, m in zip(g, ms, strict=True)]
        part = lax.pad(z[index], zero, [(0, 0, 0)] + shift + [(0, 0, 0)] * (nd + 1))
        blocks = part if blocks is None else blocks + part  # (N, *(S + m - 1), *ld, O)
    spatial = tuple(range(1, 1 + nd))
    y = _polyphase.weave(jnp.moveaxis(blocks, taps, range(nd)), spatial, lds)
    crop = [(0, 0, 0)]
    for ld, m, (lo, _), n, size in zip(
        lds, ms, plan.pads, y.shape[1:-1], plan.out_spatial, strict=True
    ):
        start = m * ld - 1 - lo  # the output starts there in the blocks (below 0: zeros first)
        crop.append((-start, size - (n - start), 0))
    y = lax.pad(y, zero, crop + [(0, 0, 0)])
    return y.astype(plan.out_dtype(x.dtype))


COL2IM_PER_IMAGE = 80
"""Fewest input positions per image, per kernel column (tap times output feature), on which
channels-first ``col2im`` runs one GEMM per image (:func:`col2im_per_image`)."""


def col2im_per_image(plan: ConvPlan) -> bool:
    """Whether :func:`col2im` on channels-first data multiplies each image on its own,
    ``(K·O, C) @ (C, S)`` batched over the images with the kernel broadcast to each, rather
    than all at once, ``(K·O, C) @ (C, N·S)``: several images, no window strides, scattered
    per tap, and at least :data:`COL2IM_PER_IMAGE` positions per image per kernel column
    (so the broadcast kernels hold at most 1/80 of the input). The one GEMM needs the input
    moved to ``(C, N, *S)`` and its output back to images first, two copies that the
    per-image GEMMs skip; on few positions per column they run far from the machine's peak.

    Measured forward on CPU, both forms forced in the same rounds on 110 channels-first
    programs of the random suites (seeds 8400-8459) where ``col2im`` runs so
    (``benchmarks/results/cpu-2core-col2im-per-image``): 0.465x the time on the 46 from 80
    positions per column, none slower by 10 %; from 20, 0.52x with 3 slower by up to 1.4x
    (thin 3x3 and 5x5 layers into 8 features), and up to 1.7x slower below 4. Held out,
    with ``auto``, on the 194 programs of seeds 8610-8619 whose trace it changes: forward
    0.554x the time (0.458x -> 0.254x lax), forward and backward 0.831x (0.603x -> 0.501x);
    the 16 programs first timed over 10 % slower measured at most 1.08x when re-timed."""
    return (
        plan.channels_first
        and plan.batch > 1
        and all(st == 1 for st in plan.strides)
        and not col2im_by_input(plan)
        and math.prod(plan.in_spatial) >= COL2IM_PER_IMAGE * plan.taps * plan.out_features
    )


def col2im_by_input(plan: ConvPlan) -> bool:
    """Whether :func:`col2im` scatters its columns per input position rather than per tap:
    no window strides, fewer input positions than taps."""
    return all(s == 1 for s in plan.strides) and math.prod(plan.in_spatial) < plan.taps


def _col2im_by_input(z, axis: int, plan: ConvPlan, out_dtype):
    """:func:`col2im`'s scatter per input position: ``z`` holds the products of the
    kernel's taps along ``axis``; channels-last ``(K, N, *S, O)`` (``axis`` 0) or
    ``(N, *S, K, O)``, channels-first ``(K, O, N, *S)``. Input ``i``'s taps land on outputs
    ``lo - (k - 1)·rd + i·ld`` on, ``rd`` apart: one padded (or cropped) copy per position,
    where the tap-major scatter adds ``K`` copies of the output."""
    n, o, kernel, cf = plan.batch, plan.out_features, plan.kernel, plan.channels_first
    if cf:  # (K, O, N, *S) -> (P, O, N, *kernel)
        z = jnp.moveaxis(z.reshape(*kernel, o, n, -1), -1, 0)
        z = jnp.moveaxis(z, tuple(range(1, 1 + len(kernel))), tuple(range(-len(kernel), 0)))
        lead, trail = [(0, 0, 0)] * 2, []
    else:  # -> (P, N, *kernel, O)
        if axis == 0:
            z = jnp.moveaxis(z.reshape(*kernel, n, -1, o), (-2, -3), (0, 1))
        else:
            z = jnp.moveaxis(z.reshape(n, -1, *kernel, o), 1, 0)
        lead, trail = [(0, 0, 0)], [(0, 0, 0)]
    # Input i's last tap lands first: the taps reversed here, on the products the GEMM
    # wrote anyway, not on the kernel, whose copy may break the memory bound.
    first = 3 if cf else 2
    z = lax.rev(z, tuple(range(first, first + len(kernel))))
    zero = jnp.zeros((), z.dtype)
    # One split, for the same reason as col2im's (its transpose is one concatenate).
    parts = lax.split(z, (1,) * z.shape[0], 0)
    total = None
    for part, index in zip(
        parts, itertools.product(*(range(s) for s in plan.in_spatial)), strict=True
    ):
        config = []
        for i, k, ld, rd, (lo, _), out in zip(
            index, kernel, plan.lhs_dilation, plan.rhs_dilation, plan.pads, plan.out_spatial,
            strict=True,
        ):  # fmt: skip
            window = dilated_size(k, rd)
            low = lo - window + 1 + i * ld
            config.append((low, out - low - window, rd - 1))
        y = lax.pad(part[0], zero, lead + config + trail)
        total = y if total is None else total + y
    y = total.astype(out_dtype)
    return jnp.swapaxes(y, 0, 1) if cf else y


def _col2im_strided(x, w, plan: ConvPlan, choose: Chooser):
    """:func:`col2im` of window strides: the sum of its input phases' stride-1 convolutions
    (:func:`jaxconv._polyphase.input_phases`), each one GEMM of a phase's positions with
    the taps they meet. Every product lands in the output, where striding a stride-1
    ``col2im``'s output would compute and drop ``prod(strides) - 1`` in ``prod(strides)``."""
    acc = acc_dtype(x.dtype, plan.preferred)
    lead = (slice(None),) * (2 if plan.channels_first else 1)
    # Each phase's sum in the accumulation dtype, so that adding the phases rounds once.
    parts = [
        col2im(x[(*lead, *p.inputs)], w[p.taps], p.plan._replace(preferred=acc), choose)
        for p in _polyphase.input_phases(plan)
    ]
    y = functools.reduce(jnp.add, parts) if parts else jnp.zeros(plan.output_shape, acc)
    return y.astype(plan.out_dtype(x.dtype))


STACK_ROWS_TRAFFIC = 0.75
STACK_ROWS_FEATURES = 64
""":func:`col2im` stacks the last dim's taps where that moves under ``STACK_ROWS_TRAFFIC``
times the elements per position, ``kw·C + (K / kw)·O`` against ``K·O``, on at most
``STACK_ROWS_FEATURES`` input features (deeper GEMMs are compute-bound either way, and
the stacked copy is then a cost). Fitted on CPU on 411 random convolutions
(``benchmarks/col2im_rows_sweep.py``, ``benchmarks/results/cpu-2core-col2im-rows``; the
fit is flat from 0.7 to 1.0 and from 64 to 128 features); on the 163 held out, the
forward's regret against the faster form fell from 1.270 (p90 2.049) never stacking to
1.050 (p90 1.170)."""


def stacks_rows(plan: ConvPlan) -> bool:
    """Whether :func:`col2im` stacks the last spatial dim's taps first (:func:`_col2im_rows`):
    a channels-last plan of at least two spatial dims, more than one tap along the last,
    no input dilation, few input features and enough fewer elements to move
    (:data:`STACK_ROWS_TRAFFIC`)."""
    kw = plan.kernel[-1] if plan.kernel else 1
    return (
        not plan.channels_first
        and plan.num_spatial > 1
        and kw > 1
        and _undilated(plan)
        and plan.in_features <= STACK_ROWS_FEATURES
        and stacking_moves_less(plan)
    )


def stacking_moves_less(plan: ConvPlan, traffic: float = STACK_ROWS_TRAFFIC) -> bool:
    """Whether stacking the last dim's taps moves under ``traffic`` times the elements per
    position that :func:`col2im`'s GEMM writes (:func:`stacked_row_elements` against
    :func:`_col2im_columns`)."""
    return stacked_row_elements(plan) < traffic * _col2im_columns(plan)


def _col2im_columns(plan: ConvPlan) -> int:
    """Products per input position of :func:`col2im`'s GEMM: ``K·O``, each input phase of a
    strided plan meeting ``1 / prod(strides)`` of the taps on average."""
    return -(-plan.taps * plan.out_features // math.prod(plan.strides))


def stacked_row_elements(plan: ConvPlan) -> int:
    """Elements per position that :func:`col2im` writes when it stacks the last dim's taps:
    ``kw·C`` stacked inputs and ``(K / kw)·O`` product columns (``K·O`` without; both
    divided by the strides of the dims before the last where the plan has them)."""
    kw = plan.kernel[-1]
    columns = plan.taps // kw * plan.out_features
    return kw * plan.in_features + -(-columns // math.prod(plan.strides[:-1]))


def _col2im_rows(x, w, plan: ConvPlan, choose: Chooser):
    """:func:`col2im` of the last spatial dim's taps stacked beside the features.

    As in :func:`rows`, the ``kw`` taps of the last dim become ``(N, *S', out_w, kw·C)``
    (``kw`` copies of the input); the other dims' taps then go through one GEMM and the
    scatter of its columns, ``K / kw`` of them per output feature where plain ``col2im``
    has ``K``. Where features are few, both arrays are a fraction of ``col2im``'s product
    and of ``im2col``'s patches: the convolution is bound by the bytes it moves.
    """
    kw, c = plan.kernel[-1], plan.in_features
    sub = plan._replace(
        in_features=kw * c,
        in_spatial=(*plan.in_spatial[:-1], plan.out_spatial[-1]),
        kernel=(*plan.kernel[:-1], 1),
        strides=(*plan.strides[:-1], 1),
        pads=(*plan.pads[:-1], (0, 0)),
        rhs_dilation=(*plan.rhs_dilation[:-1], 1),
        kernel_order=None,
    )
    w_rows = w.reshape(*plan.kernel[:-1], 1, kw * c, plan.out_features)
    return col2im(stacked_row_taps(x, plan), w_rows, sub, choose)


def _col2im_temp(plan: ConvPlan, s: Sizes) -> int:
    # The GEMM's product (K·O per input position) and the output; stacking the rows, the
    # stacked taps, a product K / kw times narrower and (as in rows) the padded input.
    positions = plan.batch * int(np.prod(plan.in_spatial))
    if stacks_rows(plan):
        rows = positions // plan.in_spatial[-1] * plan.out_spatial[-1]
        return rows * stacked_row_elements(plan) + s.out + s.padded
    # Per image, the kernel broadcast to each image (at most 1/80 of the input).
    broadcast = plan.batch * _col2im_columns(plan) * plan.in_features
    return positions * _col2im_columns(plan) + s.out + broadcast * col2im_per_image(plan)


def _col2im_copies_too_much(plan: ConvPlan, itemsize: int) -> bool:
    """Whether a copy of the kernel exceeds the output plus the padded input by more than
    :data:`TILE_SLACK_BYTES` (the bound the strategies keep, see :func:`tiles`) while the
    input broadcast to every tap would be smaller than that copy, and the copy can be
    avoided: the user's kernel holds its taps outermost (``HWIO``). Any other layout
    (``OIHW``) is copied to reach the canonical one anyway, and XLA folds the one GEMM's
    ``(C, K·O)`` layout into that copy (batched over taps, a 5x5x5 512 -> 1024 layer ran
    2.09x as long as that GEMM, for the same temp)."""
    s = sizes(plan)
    kernel = plan.taps * plan.in_features * plan.out_features
    positions = plan.batch * math.prod(plan.in_spatial)
    _, _, *spatial = plan.dn.rhs_spec
    return (
        spatial == list(range(plan.num_spatial))
        and positions < plan.out_features
        and (kernel - s.out - s.padded) * itemsize > TILE_SLACK_BYTES
    )


def col2im_waste(plan: ConvPlan) -> float:
    """How many products ``col2im`` computes per product that lands in the output: every
    input position meets every tap (with window strides, every tap its input phase meets),
    and the products that fall outside the output (past its crop or padding) are dropped.
    1 for a transposed convolution that keeps its whole output; 49 for a 7x7 'VALID'
    kernel on a 7x7 map, whose output is one position."""
    used = computed = 1
    for size, k, s, ld, rd, (lo, _), out in zip(
        plan.in_spatial, plan.kernel, plan.strides, plan.lhs_dilation, plan.rhs_dilation,
        plan.pads, plan.out_spatial, strict=True,
    ):  # fmt: skip
        if s == 1:
            # Input i of tap t lands at output lo - t·rd + i·ld (see col2im): count the
            # pairs that land in [0, out).
            first = [max(0, -((lo - t * rd) // ld)) for t in range(k)]
            last = [min(size - 1, (out - 1 - lo + t * rd) // ld) for t in range(k)]
            used *= sum(max(0, b - a + 1) for a, b in zip(first, last, strict=True))
            computed *= k * size
            continue
        # Strided (ld = 1): input i meets tap t where i = o·s + t·rd - lo, and only the
        # inputs of that phase are multiplied with the tap (_col2im_strided).
        starts = [t * rd - lo for t in range(k)]
        computed *= sum(len(range(a % s, size, s)) for a in starts)
        used *= sum(len(range(max(a, a % s), min(size, (out - 1) * s + a + 1), s)) for a in starts)
    return computed / max(used, 1)


COL2IM = Strategy(
    col2im,
    lambda p: (_undilated(p) or all(s == 1 for s in p.strides)) and _ungrouped(p),
    _col2im_temp,
    channels_first=True,
)


# ---------------------------------------------------------------------------------------
# Long kernels: the convolution theorem


FFT_PRIMES = (2, 3, 5, 7)
"""The prime factors of the transform sizes :func:`fft` uses (fast in every FFT library)."""


def fast_size(n: int) -> int:
    """The least ``m >= n`` whose prime factors are all in :data:`FFT_PRIMES`."""
    m = max(n, 1)
    while True:
        r = m
        for p in FFT_PRIMES:
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


def fft_reach(plan: ConvPlan) -> tuple[int, ...]:
    """Per spatial dim, the padded input the outputs read: ``(out - 1)·stride + window``."""
    return tuple(
        (o - 1) * s + k for o, s, k in zip(plan.out_spatial, plan.strides, plan.window, strict=True)
    )


class FFTBlocks(NamedTuple):
    """How :func:`fft` cuts the padded input along each spatial dim: ``count`` blocks of
    ``size`` (the transform size) that overlap by ``window - 1`` and each give ``hop``
    consecutive stride-1 outputs (overlap-save). One block is the whole input, zero-extended
    to a fast size."""

    size: tuple[int, ...]
    hop: tuple[int, ...]
    count: tuple[int, ...]

    @property
    def half(self) -> int:
        """Elements of one block's half spectrum (``rfftn``'s last axis halved)."""
        *rest, last = self.size
        return math.prod(rest) * (last // 2 + 1)


FFT_TRANSFORM_COST = 5.0
"""Cost of a real FFT of ``n`` points, ``FFT_TRANSFORM_COST·n·log2(n)``, in the units of
one real multiply-add of a direct convolution (XLA:CPU's FFTs against its GEMMs: measured
by ``benchmarks/fft_crossover.py``, with :data:`FFT_PRODUCT_COST`)."""

FFT_PRODUCT_COST = 6.0
"""Cost of one complex multiply-add of the per-frequency product (four real ones, in
small batched complex GEMMs), in the same units."""


def _axis_blockings(reach: int, window: int) -> list[tuple[int, int, int]]:
    """Candidate ``(size, hop, count)`` along one dim: the whole input, or blocks of a fast
    size from twice the window (overlap-save) up."""
    outs = reach - window + 1  # stride-1 outputs
    whole = fast_size(reach)
    options = [(whole, outs, 1)]
    for m in (2, 3, 4, 6, 8, 12, 16, 24, 32, 64):
        size = fast_size(max(m * (window - 1), 8))
        if size >= whole:
            break
        hop = size - window + 1
        options.append((size, hop, -(-outs // hop)))
    return options


def fft_cost(plan: ConvPlan, blocks: FFTBlocks) -> float:
    """:func:`fft`'s cost with ``blocks`` in units of a direct multiply-add (the constants
    above): the transforms of the input blocks, the kernel and the output blocks, and the
    per-frequency products."""
    volume = math.prod(blocks.size)
    count = math.prod(blocks.count)
    log = math.log2(max(volume, 2))
    n, c, o, i = plan.batch, plan.in_features, plan.out_features, plan.group_in
    transforms = (n * count * (c + o) + i * o) * volume * log
    products = n * count * blocks.half * i * o
    return FFT_TRANSFORM_COST * transforms + FFT_PRODUCT_COST * products


@functools.lru_cache(maxsize=1024)
def fft_blocks(plan: ConvPlan) -> FFTBlocks:
    """The cheapest :class:`FFTBlocks` for ``plan`` by :func:`fft_cost`: long inputs are
    cut into blocks a few windows long, so that the kernel's spectrum (``I·O`` transforms)
    stays small and the products stay in cache."""
    per_axis = [_axis_blockings(r, k) for r, k in zip(fft_reach(plan), plan.window, strict=True)]
    best = None
    for combo in itertools.product(*per_axis):
        blocks = FFTBlocks(*(tuple(v) for v in zip(*combo, strict=True)))
        cost = fft_cost(plan, blocks)
        if best is None or cost < best[0]:
            best = (cost, blocks)
    return best[1]


def fft_dtype(dtype: Any, preferred: Any = None) -> np.dtype:
    """The real dtype :func:`fft` transforms in: float64 for float64 inputs (or a float64
    ``preferred_element_type``), float32 for every narrower float."""
    wide = jnp.dtype(dtype) == jnp.float64 or (
        preferred is not None and jnp.dtype(preferred) == jnp.float64
    )
    return jnp.dtype(jnp.float64 if wide else jnp.float32)


def _cut_blocks(xp, axis: int, size: int, hop: int, count: int):
    """Axis ``axis`` of ``xp`` (at least ``count·hop + size - hop`` long) as ``count``
    overlapping blocks ``(count, size)``, ``hop`` apart: chunks of ``hop``, each followed
    by the start of the next ones."""
    if count == 1:
        return jnp.expand_dims(lax.slice_in_dim(xp, 0, min(size, xp.shape[axis]), axis=axis), axis)
    chunks = -(-size // hop)  # chunks one block spans
    total = (count + chunks - 1) * hop
    config = [(0, 0, 0)] * xp.ndim
    config[axis] = (0, total - xp.shape[axis], 0)
    xp = lax.pad(xp, jnp.zeros((), xp.dtype), config)
    xp = xp.reshape(*xp.shape[:axis], count + chunks - 1, hop, *xp.shape[axis + 1 :])
    parts = [lax.slice_in_dim(xp, j, j + count, axis=axis) for j in range(chunks)]
    blocks = jnp.concatenate(parts, axis=axis + 1) if chunks > 1 else parts[0]
    return lax.slice_in_dim(blocks, 0, size, axis=axis + 1)


def fft(x, w, plan: ConvPlan, choose: Chooser):
    """The convolution theorem: real FFTs of the input and the kernel along the spatial
    dims, one small product per frequency, inverse FFTs, cropped to the outputs.

    The input is dilated and padded (negative pads crop) to the ``R = (out - 1)·s +
    window`` positions its outputs read (:func:`fft_reach`), the kernel dilated with zeros.
    Along each dim the input is either transformed whole, zero-extended to a size ``F >= R``
    with small prime factors, or cut into overlapping blocks of such a size (overlap-save,
    :func:`fft_blocks`, where the input is many windows long). In a block of size ``F``,
    ``y[t] = sum_k x[t + k]·w[k]`` is the inverse transform of ``X·conj(W)``, a circular
    correlation whose first ``F - window + 1`` sums never wrap; strides keep every
    ``s``-th output. Per frequency, each group's input features are contracted with its
    kernel: a batched complex GEMM with the frequencies leading (a product where groups
    have one input feature). Nothing is ``K`` times the input. The cost is about
    ``(N·(C + O)·P + I·O·F)·log F`` for the transforms (``P`` transformed positions, about
    the input's) and ``N·P·I·O/2`` complex products, against ``N·out·K·I·O`` products
    directly (:func:`fft_cost`): it pays for long kernels.

    Accuracy: floats narrower than float64 are transformed in float32 (float64 in
    float64), and an FFT's rounding is spread over all outputs rather than proportional
    to each: every output's error is at most about ``eps·log2(F)·max|x|·||w||_1``, ``eps``
    the transform dtype's (float32: ``1.2e-7``), ``F`` the largest transform size and
    ``||w||_1`` the largest sum of ``|w|`` over one output feature's kernel (so
    ``max|x|·||w||_1`` bounds every output's sum of ``|x·w|``). Measured on random data
    the error stays below a tenth of that (tests/test_fft.py); an output much smaller than
    that scale (a padded edge, a cancelling sum, a small kernel tap's share) therefore
    has a larger *relative* error than a direct sum's. A NaN or infinity anywhere in an
    input channel (or the kernel) makes every output it feeds NaN, not only those whose
    window holds it. Integer inputs never run here.
    """
    n = plan.num_spatial
    real = fft_dtype(x.dtype, plan.preferred)
    blocks = fft_blocks(plan)
    reach = fft_reach(plan)
    pads = [
        (lo, r - d - lo) for r, d, (lo, _) in zip(reach, plan.dilated_in, plan.pads, strict=True)
    ]
    xp = pad_spatial(x.astype(real), plan.spatial_axes, pads, plan.lhs_dilation)
    # (N, *S, C) -> (N, count_1, size_1, ..., count_n, size_n, C)
    for d in reversed(range(n)):
        xp = _cut_blocks(xp, 1 + d, blocks.size[d], blocks.hop[d], blocks.count[d])
    # -> (N, *counts, C, *sizes): the transforms run along the trailing axes
    perm = [0, *range(1, 2 * n, 2), 2 * n + 1, *range(2, 2 * n + 1, 2)]
    xp = jnp.transpose(xp, perm)
    rows = plan.batch * math.prod(blocks.count)
    c, o, g, i = plan.in_features, plan.out_features, plan.feature_groups, plan.group_in
    og = o // g
    axes = tuple(range(-n, 0))
    xf = jnp.fft.rfftn(xp.reshape(rows, c, *xp.shape[-n:]), s=blocks.size, axes=axes)
    half = blocks.half
    wt = jnp.moveaxis(w.astype(real), (n, n + 1), (0, 1))  # (I, O, *K)
    wt = pad_spatial(wt, tuple(range(2, 2 + n)), ((0, 0),) * n, plan.rhs_dilation)
    wf = jnp.conj(jnp.fft.rfftn(wt, s=blocks.size, axes=axes))  # (I, O, *F')
    xf = xf.reshape(rows, g, i, half)
    wf = wf.reshape(i, g, og, half)
    if i == 1:  # depthwise: one product per frequency, no contraction
        yf = xf * wf  # (M, G, 1, F') * (1, G, Og, F')
    else:
        # Frequencies and groups lead, as batch dims: measured on CPU, 3-4 times faster
        # than contracting with the frequencies trailing.
        yf = lax.dot_general(
            jnp.transpose(xf, (3, 1, 0, 2)),  # (F', G, M, I)
            jnp.transpose(wf, (3, 1, 0, 2)),  # (F', G, I, Og)
            (((3,), (2,)), ((0, 1), (0, 1))),
            precision=plan.precision,
        )  # (F', G, M, Og)
        yf = jnp.transpose(yf, (2, 1, 3, 0))
    freq = (*blocks.size[:-1], blocks.size[-1] // 2 + 1)
    y = jnp.fft.irfftn(yf.reshape(rows, o, *freq), s=blocks.size, axes=axes)
    # Each block's first `hop` outputs, woven back: (N, count_1, hop_1, ..., O).
    y = lax.slice(y, (0,) * (n + 2), (rows, o, *blocks.hop))
    y = y.reshape(plan.batch, *blocks.count, o, *blocks.hop)
    perm = [0, *(v for d in range(n) for v in (1 + d, n + 2 + d)), n + 1]
    y = jnp.transpose(y, perm)
    y = y.reshape(plan.batch, *(c * h for c, h in zip(blocks.count, blocks.hop, strict=True)), o)
    limit = (plan.batch, *((q - 1) * s + 1 for q, s in zip(
        plan.out_spatial, plan.strides, strict=True)), o)  # fmt: skip
    y = lax.slice(y, (0,) * (n + 2), limit, (1, *plan.strides, 1))
    return y.astype(plan.out_dtype(x.dtype))


def _fft_temp(plan: ConvPlan, s: Sizes) -> int:
    # The input blocks and the output blocks before cropping (real), the spectra of the
    # input, the kernel and the product (complex: two elements each), and a transposed
    # copy of each spectrum for the product.
    blocks = fft_blocks(plan)
    rows = plan.batch * math.prod(blocks.count)
    volume, half = math.prod(blocks.size), blocks.half
    c, o, i = plan.in_features, plan.out_features, plan.group_in
    return rows * (c + o) * volume + 4 * half * (rows * c + i * o + rows * o)


FFT = Strategy(
    fft,
    lambda p: p.batch_groups == 1 and 1 <= p.num_spatial <= 3,
    _fft_temp,
    dtypes=lambda p, dtype: jnp.issubdtype(dtype, jnp.floating),  # it rounds
)


# ---------------------------------------------------------------------------------------
# The registry

STRATEGIES: dict[str, Strategy] = {
    "im2col": IM2COL,
    "taps": TAPS,
    "rows": ROWS,
    "banded": BANDED,
    "space_to_depth": SPACE_TO_DEPTH,
    "depthwise": DEPTHWISE,
    "direct": DIRECT,
    "winograd": WINOGRAD,
    "grouped": GROUPED,
    "polyphase": POLYPHASE,
    "col2im": COL2IM,
    "fft": FFT,
    "scan": SCAN,
}
"""Every strategy by name. The order is the public ``jaxconv.STRATEGIES``, the order
``'tune'`` times them in, and the policy's last resort (its first that accepts a plan)."""


def accepts(name: str, plan: ConvPlan, dtype: Any = None) -> bool:
    """Whether strategy ``name`` can compute ``plan`` (in the plan's compute layout), on
    inputs of ``dtype`` where one is given."""
    strategy = STRATEGIES.get(name)
    if strategy is None or (plan.channels_first and not strategy.channels_first):
        return False
    if strategy.dtypes is not None and dtype is not None and not strategy.dtypes(plan, dtype):
        return False
    return strategy.accepts(plan)


DIRECT_PRODUCTS = 200
"""Most multiply-adds per output (taps times a group's input features) that ``direct`` is
tried on: it unrolls them into one fused loop, whose compile time grows with their number
and which already runs 20-40 times slower than a GEMM at 9 x 32 (measured on CPU)."""


COL2IM_WASTE = 4.0
"""Most products ``col2im`` is tried on per product it keeps (:func:`col2im_waste`): a
forward convolution whose output is much smaller than its input (a kernel as large as the
map, 'VALID') makes it compute and drop the rest. Measured on CPU (four sweeps, 2400
convolutions, 2026-12-01): where it keeps less than a quarter, ``col2im`` ran at 4.7x the
fastest strategy in geometric mean over 22 layers (a 7x7 'VALID' kernel on 7x7 maps, 64 ->
128, batch 34: 12x, 8.4x lax; a 5x5x5 kernel of dilation 6 on a 25^3 volume: 519x); it was
fastest on 4 of them, by 1.17-1.55x, batch-1 layers that only read their kernel. Up to 2-3
it is often the fastest (3-d kernels on small maps)."""


def feasible(name: str, plan: ConvPlan, dtype: Any = None) -> bool:
    """Whether strategy ``name`` accepts ``plan`` (on ``dtype``) and is worth trying (timing,
    tuning)."""
    if not accepts(name, plan, dtype):
        return False
    if name == "direct" and not plan.is_depthwise:
        return plan.taps * plan.group_in <= DIRECT_PRODUCTS
    if name == "col2im":
        return col2im_waste(plan) <= COL2IM_WASTE and col2im_gemms(plan) <= COL2IM_GEMMS
    return True


COL2IM_GEMMS = 16
"""Most GEMMs, one per input phase (:func:`col2im_gemms`), that ``col2im`` is tried on (by
``auto`` and ``tune``; asked for by name it still runs): each phase is a program of its
own, and past a few dozen their compile time outweighs anything they save. Measured on CPU
(2026-12-06, ``benchmarks/results/cpu-2core-col2im-phases``), forced on 'VALID' layers:
compile time 28-50 ms per phase (8.8 s at 256 phases, a 16x16/16 patch embedding; 20.7 s
at 512, an 8x8x8/8 one; about 4 minutes at 4096, a 16x16x16/16 one), and in two runs past
16 phases every layer timed ran 1.4-3.7x slower than ``space_to_depth`` (2-d 8x8/8 and
16x16/16, 3-d 4x4x4/4 and 8x8x8/8, 1-d 64/64). At 16 (2-d stride 4) it was within 5 % of
the fastest on a 7x7/4 kernel, and 0.9x and 1.7x ``im2col``'s time on an 11x11/4 one.
Held out, fresh layers of strides 3-8 where ``auto`` ran ``col2im`` on 25-343 phases,
forward against that choice in the same rounds: 0.40x the compile time and 0.943x the run
time over 48 layers of three draws (0.81x, 1.02x and 1.01x; worst 5.1x, a 4x4x4 kernel at
stride 6 on 8x42^3x32, ``rows``). ``tune`` on the 16x16/16 patch embedding took 17.3 s
before, 9.1 s after; on the 8x8x8/8 one, 55 s and 38 s."""


def col2im_gemms(plan: ConvPlan) -> int:
    """How many GEMMs :func:`col2im` runs on ``plan``: one per input phase under window
    strides (:func:`jaxconv._polyphase.input_phase_count`), else one."""
    return _polyphase.input_phase_count(plan) if any(s > 1 for s in plan.strides) else 1


GEMM_ON_INPUT = frozenset({"im2col", "taps", "rows", "col2im"})
"""The strategies that compute a pointwise plan (:attr:`ConvPlan.is_pointwise`) as one GEMM
on the input as it is, writing no tap, patch or slice."""


def temp_estimate(name: str, plan: ConvPlan, itemsize: int) -> int:
    """Bytes of temporary buffers strategy ``name`` holds at once on ``plan``."""
    if plan.is_pointwise and name in GEMM_ON_INPUT:
        # Compiled temp 0 channels-last (2026-12-01). Counted as taps and slices instead,
        # rows ran a 1x1 layer on 14x80x123x32 in 7 pieces at 2.8x the time of one GEMM.
        return 0
    return STRATEGIES[name].temp(plan, sizes(plan)) * itemsize


# ---------------------------------------------------------------------------------------
# Running a strategy: in tiles where its buffers would be large


TILE_SLACK_BYTES = 32 * 2**20
"""Strategies whose temporary buffers exceed the output plus the padded input by more than
this run in tiles (:func:`tiles`); smaller excesses are left alone, where tiling's loop
would cost more time than the memory is worth."""


GEMM_BUFFERS = ("col2im", "im2col")
"""Strategies whose largest buffer is the product or an operand of one GEMM (``col2im``'s
product, ``im2col``'s patches), which XLA writes whole: no fusion shrinks it below its
model."""

MMAP_THRESHOLD_BYTES = 32 * 2**20
"""glibc's largest ``mmap`` threshold. XLA:CPU allocates a program's temporary buffers as
one block, and a block past this is mapped afresh on every call: each of its pages faults
in again (performance.md, "Memory is time"). Measured on the project's 2-core host, a GEMM
writing 16 MiB took 1.2 ms, one writing 34 MiB 13 ms, two of 16 MiB in one program
11.7 ms."""

GEMM_PIECE_BYTES = 8 * 2**20
"""On CPU, a :data:`GEMM_BUFFERS` strategy on a layer whose output and padded input hold at
most :data:`SMALL_LAYER_BYTES` runs its buffers in pieces of at most this size
(:func:`tiles`) where they would take the program past :data:`MMAP_THRESHOLD_BYTES`, though
they are within the memory bound: past the threshold itself, or past
:data:`GEMM_WHOLE_BYTES` in the forward pass of a differentiated layer, whose program also
holds the gradients' buffers (a 3x3 12 -> 8 layer on 7x131x108, ``col2im``'s product
27 MiB: 54.6 MiB of temp forward+backward, lax 7.6; in pieces 16.8). The gradients' own
plans keep the threshold: in pieces from 16 MiB they raised a ResNet-20 training step's
temp by 12 MiB and its time by 6-9 %. A forward pass alone stays under the threshold with
a 16-32 MiB buffer whole; in pieces it ran 1.22x the time. Larger layers are left alone:
their activations alone take a step past the threshold, so the block is mapped afresh
either way and the pieces' loop would cost time for nothing. Measured on fresh draws
against the code before: ``benchmarks/results/cpu-2core-gemm-pieces``. Outside a
differentiated layer, where pieces of this size would cut images into blocks of rows but
whole images are at most twice as large, the pieces are whole images: 0.815x the time on
the 9 forward programs of seeds 9850-9859 this changes, 0.893x on the 9 of held-out seeds
9860-9879 (``benchmarks/results/cpu-2core-image-pieces``); in a differentiated layer's
forward pass such pieces took the step's temp past the threshold (39.5 -> 49 MiB) and
lost up to 1.3x."""

GEMM_WHOLE_BYTES = 24 * 2**20
"""Most bytes a :data:`GEMM_BUFFERS` strategy holds whole on a small layer in the forward
pass of a differentiated layer (see :data:`GEMM_PIECE_BYTES`). Past it the buffer sat
beside the gradients' and took the step past :data:`MMAP_THRESHOLD_BYTES`: ``im2col``'s
25.6 MiB of patches on a 3-d 8 -> 16 layer (step temp 24.7 -> 37.1 MiB whole, 1.10-1.12x
the time), ``col2im``'s 27 MiB product above. Under it, pieces only cost their loop: at
16 MiB (until 2026-12-07), ResNet-20's 16 -> 16 layer (16.1 MiB) ran its forward pass in
four pieces, and its forward+backward program took 1.18x the time it takes whole, for the
same 16.3 MiB of temp. Measured on CPU against 16 MiB, forward and backward programs
(``benchmarks/results/cpu-2core-differentiated-whole``): 0.865x the time on the 30 of seed
9856 where 32 MiB changed the pieces (a 25.6 MiB buffer crossing the threshold among
them), and on the 50 of held-out seeds 9857-9858 that 24 MiB changes, 0.853x and 0.867x
(30 faster by over 10 %; the two slower by over 10 %, 1.13x and 1.17x, re-timed at 1.06x
and 0.97-0.99x)."""

SMALL_LAYER_BYTES = 16 * 2**20
"""Most bytes of output plus padded input of a layer whose GEMM buffers run in pieces (see
:data:`GEMM_PIECE_BYTES`)."""

KERNEL_DOMINATED = 16
"""A GEMM buffer more than this many times the layer's output plus padded input holds the
kernel's taps more than the layer's positions (a 11x11 128 -> 128 layer on a few positions:
``col2im``'s product 25 MiB, its activations under 1 MiB); it runs whole. The step's other
buffers are as small as the activations, so it stays under the threshold, and pieces of a
few rows each re-read the kernel: 1.82x the time in pieces, and 0.97-1.16x on the five
other such programs of seeds 9009-9011."""

_DIFFERENTIATED = contextvars.ContextVar("jaxconv_differentiated", default=False)


@contextlib.contextmanager
def differentiated():
    """Strategies run inside compute the forward pass of a differentiated layer (in the
    gradients' JVP rule): their buffers share the program with the gradients'."""
    token = _DIFFERENTIATED.set(True)
    try:
        yield
    finally:
        _DIFFERENTIATED.reset(token)


def tiles(name: str, plan: ConvPlan, itemsize: int, buffer_itemsize: int | None = None) -> int:
    """Into how many pieces (of the batch, then of the first spatial dim of the output)
    strategy ``name`` splits ``plan`` so that its temporary buffers stay within the output
    plus the padded input, give or take :data:`TILE_SLACK_BYTES`: 1 for all but large
    inputs. On CPU, a small layer's GEMM buffers also run in pieces of at most
    :data:`GEMM_PIECE_BYTES` where they would take its program past glibc's ``mmap``
    threshold. ``itemsize``: bytes per element of the input; ``buffer_itemsize``, of the
    strategy's buffers (:func:`buffer_itemsize`; ``itemsize`` if not given)."""
    s = sizes(plan)
    budget = (s.out + s.padded) * itemsize
    if budget == 0 or plan.batch_groups > 1:
        return 1
    need = temp_estimate(name, plan, buffer_itemsize or itemsize)
    rows = plan.batch * plan.out_spatial[0]
    if need <= budget + TILE_SLACK_BYTES:
        differentiated = _DIFFERENTIATED.get()
        whole = GEMM_WHOLE_BYTES if differentiated else MMAP_THRESHOLD_BYTES
        if (
            name in GEMM_BUFFERS
            and whole < need <= KERNEL_DOMINATED * budget
            and budget <= SMALL_LAYER_BYTES
            and jax.default_backend() == "cpu"
        ):
            count = -(-need // GEMM_PIECE_BYTES)
            if not differentiated and plan.batch < count <= 2 * plan.batch:
                # Outside a differentiated layer, whole images of up to twice the piece
                # size rather than blocks of rows (a padded copy, a crop, more products).
                return plan.batch
            return int(min(rows, count))
        return 1
    # A piece gets a quarter of the budget (the padded input, the pieces' stacked outputs
    # and their reassembly hold the rest) and half the slack: on a small input, a few
    # pieces of a few MiB rather than hundreds of tiny ones, whose loop costs the time
    # (a 31-tap 1-d grouped layer: 125 pieces 14 ms, 3 pieces 4.7 ms).
    return int(min(rows, -(-need // (budget // 4 + TILE_SLACK_BYTES // 2))))


def buffer_itemsize(name: str, plan: ConvPlan, dtype: Any) -> int:
    """Bytes per element of the temporary buffers strategy ``name`` holds on inputs of
    ``dtype``: the accumulator's (float32 for narrower floats) but for ``rows`` and
    ``space_to_depth``, whose patches keep the input's. XLA:CPU multiplies narrow floats in
    float32, so a GEMM's narrow operands are copied to float32 beside its product. Integer
    inputs count at their own width. Measured (compiled temp, forward, bfloat16 over
    float32, 2026-12-07; five 1-d and 2-d layers, both layouts): ``rows`` and
    ``space_to_depth`` 0.46-0.50, the others 0.75-1.12. Counted at the input's width, a
    bfloat16 layer's buffers passed for half their size and ran whole where a float32
    layer's ran in pieces."""
    size = jnp.dtype(dtype).itemsize
    if name in ("rows", "space_to_depth") or not jnp.issubdtype(dtype, jnp.floating):
        return size  # integers: int8 runs natively, unconverted (not measured here)
    return max(size, jnp.dtype(acc_dtype(dtype, plan.preferred)).itemsize)


def tiles_for(name: str, plan: ConvPlan, dtype: Any) -> int:
    """:func:`tiles` on inputs of ``dtype``, its buffers at :func:`buffer_itemsize`."""
    return tiles(name, plan, jnp.dtype(dtype).itemsize, buffer_itemsize(name, plan, dtype))


def _tiled(fn, x, w, plan: ConvPlan, count: int):
    """``fn(x, w, plan)`` in ``count`` pieces run one after another (``lax.map``): groups of
    whole images where the batch allows, else single images each in blocks of rows of the
    first spatial dim (:func:`_tiled_rows`)."""
    n = plan.batch
    if n == 1:
        return _tiled_rows(fn, x, w, plan, count)
    per = next(c for c in range(min(count, n), n + 1) if n % c == 0)
    sub = plan._replace(batch=n // per)
    inner = -(-count // per)
    if inner > 1:
        fn = functools.partial(_tiled_rows, fn, count=inner)
    if per == n:
        # One image per piece: mapped over x itself. Over x.reshape(n, 1, ...) XLA:CPU gave
        # the reshape another layout and copied the whole input first (a 1x1/2 384 -> 384
        # layer on 4x112x112: 100.9 MiB of temp, 27.4 without the copy).
        ys = lax.map(lambda xc: fn(xc[None], w, sub), x)
    else:
        ys = lax.map(lambda xc: fn(xc, w, sub), x.reshape(per, n // per, *x.shape[1:]))
    return ys.reshape(n, *ys.shape[2:])


def _tiled_rows(fn, x, w, plan: ConvPlan, count: int):
    """``fn(x, w, plan)`` in about ``count`` blocks of rows of the first spatial dim of the
    output, each reading its rows of the padded input (the whole batch in each)."""
    ax = plan.spatial_axes[0]
    out0, s, lo = plan.out_spatial[0], plan.strides[0], plan.pads[0][0]
    if plan.lhs_dilation[0] > 1 and s == 1:
        return _tiled_dilated_rows(fn, x, w, plan, count)
    # A divisor of the dim's size where one is near, so that no rows past the end are
    # computed and cropped (a copy of the output).
    count = next((c for c in range(count, 2 * count + 1) if out0 % c == 0), count)
    rows = -(-out0 // count)
    count = -(-out0 // rows)
    window = plan.window[0]
    length = (count * rows - 1) * s + window  # padded input rows every piece can read
    dilated = plan.dilated_in[0]
    xp = pad_spatial(x, (ax,), ((lo, length - dilated - lo),), plan.lhs_dilation[:1])
    piece = (rows - 1) * s + window
    sub = plan._replace(
        in_spatial=(piece, *plan.in_spatial[1:]),
        out_spatial=(rows, *plan.out_spatial[1:]),
        pads=((0, 0), *plan.pads[1:]),
        lhs_dilation=(1, *plan.lhs_dilation[1:]),
    )

    def one(i):
        return fn(lax.dynamic_slice_in_dim(xp, i * rows * s, piece, axis=ax), w, sub)

    return _stack_row_blocks(lax.map(one, jnp.arange(count)), ax, out0)


def _stack_row_blocks(ys, ax: int, out0: int):
    """The blocks ``ys (count, N, ..., rows, ...)`` of :func:`_tiled_rows` as one output:
    ``count·rows`` rows along ``ax``, cropped to the first ``out0``."""
    count, rows = ys.shape[0], ys.shape[1 + ax]
    ys = jnp.moveaxis(ys, 0, ax)  # (N, ..., count, rows, ...)
    ys = ys.reshape(*ys.shape[:ax], count * rows, *ys.shape[ax + 2 :])
    return lax.slice_in_dim(ys, 0, out0, axis=ax)


def _tiled_dilated_rows(fn, x, w, plan: ConvPlan, count: int):
    """:func:`_tiled_rows` of a first dim with input dilation ``ld`` and no stride: blocks
    of a multiple of ``ld`` output rows, each reading its rows of the input as they are, so
    that every piece keeps the dilation (``col2im``'s and ``polyphase``'s phases). Dilating
    the input first made each piece a plain convolution of ``ld`` times the rows, all but
    one in ``ld`` of them zeros (a 16x16/8 8 -> 8 layer: 104 ms, where one piece took 4)."""
    ax = plan.spatial_axes[0]
    out0, (lo, _), ld = plan.out_spatial[0], plan.pads[0], plan.lhs_dilation[0]
    fits = (c for c in range(count, 2 * count + 1) if out0 % c == 0 and out0 // c % ld == 0)
    count = next(fits, count)
    rows = -(-out0 // count)
    rows = -(-rows // ld) * ld
    count = -(-out0 // rows)
    # Piece i computes outputs from i·rows on, which read padded, dilated positions
    # i·rows to i·rows + span - 1; input row r sits at position lo + r·ld. As rows is a
    # multiple of ld, every piece's first input row sits at the same offset, low.
    span = rows + plan.window[0] - 1
    low = lo % ld
    first = (low - lo) // ld  # piece 0's first input row (below 0: zero rows first)
    piece = (span - 1 - low) // ld + 1  # input rows each piece reads
    step, size = rows // ld, plan.in_spatial[0]
    before, after = max(0, -first), max(0, (count - 1) * step + first + piece - size)
    config = [(0, 0, 0)] * x.ndim
    config[ax] = (before, after, 0)
    xp = lax.pad(x, jnp.zeros((), x.dtype), config)
    sub = plan._replace(
        in_spatial=(piece, *plan.in_spatial[1:]),
        out_spatial=(rows, *plan.out_spatial[1:]),
        pads=((low, span - low - (piece - 1) * ld - 1), *plan.pads[1:]),
    )

    def one(i):
        return fn(lax.dynamic_slice_in_dim(xp, first + before + i * step, piece, axis=ax), w, sub)

    return _stack_row_blocks(lax.map(one, jnp.arange(count)), ax, out0)


def exact_in_float32(plan: ConvPlan, dtype: Any) -> bool:
    """Whether integer inputs of ``dtype`` convolve exactly in float32 on ``plan``: every
    product and partial sum is an integer below ``2^24`` in magnitude (from the dtype's
    range: int8 up to ``taps · group_in = 1024``, uint8 up to 258; never int16)."""
    if not jnp.issubdtype(dtype, jnp.integer):
        return False
    info = jnp.iinfo(dtype)
    largest = max(abs(int(info.min)), int(info.max))
    return plan.taps * plan.group_in * largest * largest <= 2**24


INT8_NATIVE = frozenset(
    {"im2col", "rows", "banded", "space_to_depth", "depthwise", "direct", "taps", "scan"}
)
"""The strategies that multiply int8 inputs as int8, summing in int32, where XLA has a GEMM
for int8 dots (:func:`int8_dots_fast`). Measured on CPU (jaxlib 0.10.2, 60 of the random
suite's layers in int8, each strategy's time natively over its time in float32, geometric
means): ``im2col`` 0.58, ``rows`` 0.66, ``banded`` and ``space_to_depth`` 0.69,
``depthwise`` 0.77, ``direct`` 0.79, ``taps`` 0.84, ``scan`` 0.88; ``col2im`` (1.31: its
column sums are int32 traffic) and ``grouped`` (1.35) stay in float32."""

INT8_DOTS_JAXLIB = (0, 9, 0)
"""The first jaxlib seen to compile an int8 x int8 -> int32 dot on CPU to a GEMM kernel: a
``(25088, 576) @ (576, 64)`` dot ran in 7.5 ms against float32's 8.9 with jaxlib 0.9.0 (7.4
against 10.3 with 0.10.0, 8.7 against 11.0 with 0.10.2), and in 118 ms against 18 with
0.8.0."""


@functools.cache
def int8_dots_fast() -> bool:
    """Whether int8 dots are GEMMs here: on CPU from jaxlib :data:`INT8_DOTS_JAXLIB` on
    (elsewhere not measured, so integers keep the float32 path)."""
    from jaxlib import version

    return jax.default_backend() == "cpu" and version.__version_info__ >= INT8_DOTS_JAXLIB


def int8_gemms(plan: ConvPlan, dtype: Any) -> bool:
    """Whether ``plan`` on inputs of ``dtype`` is int8 summed in int32
    (``preferred_element_type=int32``) where int8 dots are GEMMs (:func:`int8_dots_fast`)."""
    preferred = plan.preferred
    return (
        jnp.dtype(dtype) == jnp.int8
        and preferred is not None
        and jnp.dtype(preferred) == jnp.int32
        and int8_dots_fast()
    )


def native_int8(name: str, plan: ConvPlan, dtype: Any) -> bool:
    """Whether strategy ``name`` runs int8 inputs of ``dtype`` as int8 with int32 sums:
    one of :data:`INT8_NATIVE` on an :func:`int8_gemms` plan."""
    return name in INT8_NATIVE and int8_gemms(plan, dtype)


def in_float32(name: str, plan: ConvPlan, dtype: Any) -> bool:
    """Whether strategy ``name`` runs integer inputs of ``dtype`` in float32: every strategy
    but ``winograd`` (whose transforms would exceed ``2^24``) where that is exact
    (:func:`exact_in_float32`), unless it runs int8 as int8 (:func:`native_int8`). XLA:CPU
    multiplies wider integers in plain loops, float32 in GEMM kernels: measured on CPU, int8
    3x3 64 -> 64 on 8x56x56 runs at 1.17x lax's int8 convolution by ``taps`` in float32,
    3.4x by ``winograd`` in int32."""
    return (
        name != "winograd" and exact_in_float32(plan, dtype) and not native_int8(name, plan, dtype)
    )


def run(name: str, x, w, plan: ConvPlan, choose: Chooser):
    """Strategy ``name`` on the canonical ``x`` and ``w`` of a non-empty ``plan``, under
    ``jax.named_scope("jaxconv.<name>")`` so that a profile or an HLO dump shows it. On
    large inputs it runs in tiles (:func:`tiles`) so that its buffers stay bounded.
    ``choose`` picks the strategies of sub-convolutions (see :class:`Strategy`)."""
    strategy = STRATEGIES[name]
    if in_float32(name, plan, x.dtype):
        f32 = jnp.float32
        y = run(name, x.astype(f32), w.astype(f32), plan._replace(preferred=None), choose)
        # Exact integers: to int32 exactly, then to the output dtype (wrapping as lax's
        # narrow sums do).
        return y.astype(jnp.int32).astype(plan.out_dtype(x.dtype))

    def fn(x, w, plan):
        return strategy.run(x, w, plan, choose)

    count = tiles_for(name, plan, x.dtype)
    if count > 1:
        fn = functools.partial(_tiled, fn, count=count)
    with jax.named_scope(f"jaxconv.{name}"):
        # Rematerialise the taps in the backward pass instead of saving them: they are
        # cheap slices of x, and saving K of them costs K times the input's memory.
        return jax.checkpoint(functools.partial(fn, plan=plan))(x, w)
