"""Fast gradients that still differentiate to any order, in forward and reverse mode.

JAX's derived backward of a strategy transposes its slices into pads and its contractions
into contractions over the long position axis, which on CPU is slow and keeps ``K`` copies
of the input alive. The gradients have better forms of their own:

- with respect to the input: a convolution of the output cotangent with the kernel flipped
  and its in/out features swapped, input-dilated by the strides (lax's own rule), which
  runs through the same fast strategies as the forward pass;
- with respect to the kernel: one contraction per tap of the input's taps with the
  cotangent over batch and positions (a fused multiply-and-reduce when depthwise); for
  ``fft``, JAX's transpose of the forward FFT convolution, itself an FFT correlation.

A ``custom_vjp`` would lose forward mode. Instead the convolution is a ``custom_jvp`` whose
tangent map is written as the *linear transpose* of those gradient functions: reverse mode
transposes it back into exactly those functions, forward mode evaluates the transposed
form, and every step is an ordinary lax primitive, so higher orders follow from JAX's own
rules.
"""

from __future__ import annotations

import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero

from . import _policy, _strategies
from ._plan import ConvPlan, dilated_size
from ._strategies import TILE_SLACK_BYTES
from ._taps import acc_dtype, padded_input, per_tap, scan_taps, taps_bytes, taps_of


def input_grad_plan(plan: ConvPlan) -> ConvPlan:
    """The convolution that maps an output cotangent to the input's cotangent.

    With ``k = (kernel - 1) * rhs_dilation + 1``, the cotangent is input-dilated by the
    strides, padded by ``k - 1 - low`` before and what makes the output the input's size
    after, and strided by the forward input dilation (lax's ``_conv_general_vjp_lhs_padding``).
    It accumulates in the input's dtype (no ``preferred_element_type``).
    """
    pads = []
    for dilated_in, window, (lo, _), o, s in zip(
        plan.dilated_in, plan.window, plan.pads, plan.out_spatial, plan.strides, strict=True
    ):
        before = window - lo - 1
        pads.append((before, dilated_in + window - 1 - dilated_size(o, s) - before))
    return plan._replace(
        in_features=plan.out_features,
        out_features=plan.in_features,
        in_spatial=plan.out_spatial,
        out_spatial=plan.in_spatial,
        strides=plan.lhs_dilation,
        pads=tuple(pads),
        lhs_dilation=plan.strides,
        preferred=None,
        kernel_order=None,  # the flipped, regrouped kernel is a copy
    )


def input_grad_kernel(w: jnp.ndarray, plan: ConvPlan) -> jnp.ndarray:
    """``w (*K, I, G·Og)`` flipped and regrouped as ``(*K, Og, G·I)``."""
    g, i = plan.feature_groups, plan.group_in
    n = plan.num_spatial
    wg = w.reshape(*plan.kernel, i, g, plan.out_features // g)
    wt = jnp.transpose(wg, (*range(n), n + 2, n + 1, n))  # (*K, Og, G, I)
    wt = wt.reshape(*plan.kernel, plan.out_features // g, plan.in_features)
    return jnp.flip(wt, axis=tuple(range(n)))


def input_grad(ct, w, plan: ConvPlan, policy: str = "auto"):
    """The cotangent of the canonical input for an output cotangent ``ct``; ``policy``
    (``'auto'``, ``'tune'``, or ``'lean'``: :func:`jaxconv._policy.lean_choice`, a sharded
    convolution's shards) picks the strategy of its convolution."""
    tplan = input_grad_plan(plan)
    wt = input_grad_kernel(w, plan)
    ct = ct.astype(w.dtype)
    if tplan.is_empty:
        return jnp.zeros(tplan.output_shape, ct.dtype)
    if policy == "lean":  # a shard's: in its own layout, holding the least
        return _policy.run(policy, _policy.lean_choice(tplan, ct.dtype), ct, wt, tplan)
    if not tplan.channels_first:  # the data is channels-last here: its strategies only
        name = _policy.choose(tplan, ct.dtype, input_gradient=True)
        return _policy.run(policy, name, ct, wt, tplan)
    user = tplan._replace(channels_first=False)
    name, run_plan = _policy.decide(user, "auto", ct.dtype, input_gradient=True)
    if run_plan.channels_first:
        return _policy.run(policy, name, ct, wt, tplan)
    # A channels-first layer whose input gradient runs best channels-last (a Winograd
    # layer whose gradient does not pay for Winograd): one transpose each way.
    dx = _policy.run(policy, name, jnp.moveaxis(ct, 1, -1), wt, run_plan)
    return jnp.moveaxis(dx, -1, 1)


def kernel_grad(ct, x, plan: ConvPlan, lean: bool = False):
    """The cotangent of the kernel ``(*K, I, O)`` for an output cotangent ``ct``, in either
    compute layout.

    Tap ``k`` of the kernel meets tap ``k`` of the input at every output position, so its
    gradient contracts that tap with ``ct`` over batch and positions, group by group:
    as a multiply-and-reduce per tap when depthwise; ungrouped, as one GEMM on the input
    windows of fewer output positions than taps (:func:`kernel_grad_by_output`) or on all
    the taps where they hold no more elements than the kernel (:func:`kernel_bound_grad`);
    as one GEMM on the stacked taps when a dense channels-last layer has few input features
    (a per-tap GEMM would have that few rows), and as one GEMM per tap otherwise (no patch
    array; in a ``lax.scan`` when the taps are large, see :func:`jaxconv._taps.scan_taps`).
    """
    g, i = plan.feature_groups, plan.group_in
    og = plan.out_features // g
    acc = acc_dtype(x.dtype, None)
    depthwise = i == 1 and g > 1
    # Large taps run one at a time in a scan (see :func:`jaxconv._taps.scan_taps`).
    # Depthwise reductions read plain slices best: in a scan they would run 3-5 times
    # slower (measured on CPU, MobileNetV2's layers), so they scan only where XLA would
    # otherwise hold taps far larger than the input (it materialises each one).
    nbytes = taps_bytes(plan, x.dtype)
    scan = nbytes > TILE_SLACK_BYTES if depthwise else scan_taps(plan, x.dtype)
    if lean:  # a shard's: one tap at a time, never the stack (memory comes first)
        scan = plan.taps > 1
    # The feature axis f splits into (G, I) (taps) or (G, Og) (ct); the other axes, batch
    # and positions, are contracted, G batched.
    f = plan.feature_axis
    axes = tuple(a for a in range(x.ndim + 1) if a not in (f, f + 1))

    def split(a, k):
        return a.reshape(*a.shape[:f], g, k, *a.shape[f + 1 :])

    ct = ct.astype(x.dtype)
    if g == 1 and not scan and kernel_grad_by_output(plan):  # windows as small as the taps
        return _kernel_grad_by_output(ct, x, plan, acc)
    if g == 1 and not lean and kernel_bound_grad(plan):  # the taps no larger than the kernel
        return _kernel_grad_stacked(ct, x, plan, acc)
    flat = g == 1 and flat_kernel_grad(plan)
    if flat:
        # Flattened here, outside any scan over the taps: a (1, Og) split carried into
        # the loop was copied into another layout first.
        ctg = ct.reshape((ct.shape[0], og, -1) if plan.channels_first else (-1, og))
    else:
        ctg = split(ct, og)

    def contract(lhs, extra):
        # lhs with (G, I) at f + extra with ctg, over batch and positions, batched over G:
        # (G, [K,] I, Og).
        if flat:
            return _ungrouped_contract(lhs, ctg, plan, acc)[None]
        dims = ((axes, axes), ((f + extra,), (f,)))
        return lax.dot_general(lhs, ctg, dims, precision=plan.precision, preferred_element_type=acc)

    # One filter per channel: a multiply-and-reduce, no GEMM of one row (channels-first
    # with a channel multiplier of 1 only, as measured).
    reduce = (i == 1 and og == 1) if plan.channels_first else depthwise

    # With one filter per channel the tap and the cotangent multiply as they are: split
    # into (G, 1) features, their reduction in a scan over the taps ran 5-12x slower
    # channels-last, 1.2-1.7x channels-first (measured on CPU, 8 layers;
    # benchmarks/results/cpu-2core-depthwise-kernel-grad).
    whole = reduce and og == 1
    other = tuple(a for a in range(x.ndim) if a != f)

    def tap_grad(tap):
        # tap (..., G·I, ...) -> its kernel gradient (I, G, Og).
        if whole:
            return jnp.sum(tap.astype(acc) * ct.astype(acc), axis=other).reshape(1, g, 1)
        tap = split(tap, i)
        if reduce:
            return jnp.sum(tap.astype(acc) * ctg.astype(acc), axis=axes)[None]
        return jnp.moveaxis(contract(tap, 0), 0, 1)

    few = i < 16 and not (scan and per_tap_kernel_grad(plan))
    # Counted at the accumulator's width: XLA:CPU copies a narrow float stack to float32
    # for its GEMM (a bfloat16 13x13 8 -> 8 layer on 73x73: 55 MiB of temp, lax 0.7).
    stacks = stacks_taps(plan, taps_bytes(plan, acc))
    if few and not lean and not plan.channels_first and g == 1 and stacks:
        # Few input features: one GEMM on the stacked taps (per tap it would have i rows),
        # unless the stack is large (a volume's 27 taps, see stacks_taps) or
        # per_tap_kernel_grad says its GEMMs per tap are faster: then per tap, scanned.
        # Not for groups: their stack and its transposed copy cost twice K taps, and per
        # tap in a scan they run as fast (measured on CPU, ResNeXt's g = 32 layers with
        # 4 and 8 features per group: temp 30 -> 5 MB and 15 -> 2.5 MB).
        taps = [split(t, i) for t in taps_of(x, plan)]
        dk = contract(jnp.stack(taps, axis=f), 1)  # (G, K, I, Og)
        dw = jnp.transpose(dk, (1, 2, 0, 3))
    else:
        dw = per_tap(x, plan, tap_grad, scan, fused=depthwise)  # (K, I, G, Og)
    return dw.reshape(*plan.kernel, i, plan.out_features).astype(x.dtype)


STACKED_TAPS_BYTES = 16 * 2**20
"""Most bytes of taps that a few-feature kernel gradient of three or more input features
stacks (:func:`stacks_taps`)."""


def stacks_taps(plan: ConvPlan, nbytes: int) -> bool:
    """Whether a few-feature kernel gradient (fewer than 16 input features, one group) may
    contract its ``nbytes`` of taps stacked rather than one tap at a time: at most
    :data:`STACKED_TAPS_BYTES` from three input features, at most ``TILE_SLACK_BYTES`` on
    one or two (where a tap's GEMM would have one or two rows).

    XLA writes the taps and then their stack, so the temp grows by up to twice the taps
    (46-63 MiB for 23-32 MiB of taps); past 32 MiB glibc serves an allocation with fresh
    pages on every call (its mmap threshold), and the program pays a page fault for each
    page it touches. Measured on CPU, forward and backward programs (``auto`` forward),
    both forms in the same rounds (``benchmarks/results/cpu-2core-stacked-taps``): of 60
    random few-feature layers with 2-41 MiB of taps, the 7 with 3-15 input features and
    16-32 MiB of taps took 0.80x the time per tap (0.60-1.04x; a 1-D 10 -> 32 layer on
    32x1854 NCW, 2.66x -> 1.60x lax); with one or two, 7.0x (one feature, 2-D), 1.07x and
    0.54x. Held out on 30 layers drawn in that zone: 0.733x the time (worst 1.25x, a 3-D
    layer at 0.11x lax), temp 0.56x; on the 126 programs of the random suites (seeds
    9700-9739, 112 of them 3-D) whose compiled form it changes: 0.474x (0.403x -> 0.191x
    lax), one slower by more than 10 % (1.19x, 0.21x -> 0.25x lax).
    """
    limit = STACKED_TAPS_BYTES if plan.group_in >= 3 else TILE_SLACK_BYTES
    return nbytes <= limit


def _rows(plan: ConvPlan) -> int:
    """Output positions in the batch: the rows of a per-tap GEMM of the kernel gradient."""
    return plan.batch * math.prod(plan.out_spatial)


BY_OUTPUT_POSITIONS = 64
"""Most output positions per image on which :func:`kernel_grad_by_output` may hold."""


def kernel_grad_by_output(plan: ConvPlan) -> bool:
    """Whether the kernel gradient of the ungrouped ``plan`` contracts the input windows that
    its output positions read, stacked, with the cotangent there, in one GEMM: fewer output
    positions than taps (at most :data:`BY_OUTPUT_POSITIONS`), no input dilation. A layer
    whose kernel spans (about) its input, with one output position or a few, has a few
    windows of ``K`` taps where per tap it has ``K`` GEMMs of a few rows each (the stack
    holds as many elements as the taps would). Measured on CPU (two runs, both gradients
    against per tap, ``benchmarks/results/cpu-2core-long-kernels``): 0.53-0.68x on a 31-tap
    kernel (NCW, 64 -> 64, one position), 0.58-1.07x on a 7x7 one on 7x7 maps, 0.72-0.98x on
    3x3 kernels on 2x2 maps of 512 features, 0.86-1.04x on 3x3 maps of 128; 0.90-1.18x on
    a 0.2 ms layer (9 taps, one position)."""
    positions = math.prod(plan.out_spatial)
    return (
        positions < plan.taps
        and positions <= BY_OUTPUT_POSITIONS
        and all(d == 1 for d in plan.lhs_dilation)
    )


def _kernel_grad_by_output(ct, x, plan: ConvPlan, acc):
    """:func:`kernel_grad` as one GEMM over the windows of the padded input that the output
    positions read, stacked ``(P, N, *K, C)`` (channels-first ``(P, N, C, *K)``), against
    ``ct`` at those positions, ``(P, N, O)``: contracted over positions and batch."""
    xp = padded_input(x, plan)
    axes = plan.spatial_axes
    n = plan.num_spatial
    windows = []
    for index in itertools.product(*(range(q) for q in plan.out_spatial)):
        start = [0] * xp.ndim
        limit = list(xp.shape)
        step = [1] * xp.ndim
        for a, p, s, k, rd in zip(axes, index, plan.strides, plan.kernel, plan.rhs_dilation,
                                  strict=True):  # fmt: skip
            start[a], limit[a], step[a] = p * s, p * s + dilated_size(k, rd), rd
        windows.append(lax.slice(xp, start, limit, step))
    stacked = jnp.stack(windows)
    f = plan.feature_axis
    ct = jnp.moveaxis(ct, axes, tuple(range(n))).reshape(len(windows), ct.shape[0], ct.shape[f])
    total = lax.dot_general(
        stacked, ct, (((0, 1), (0, 1)), ((), ())), precision=plan.precision,
        preferred_element_type=acc,
    )  # fmt: skip
    if plan.channels_first:  # (C, *K, O) -> (*K, C, O)
        total = jnp.moveaxis(total, 0, n)
    return total.astype(x.dtype)


KERNEL_BOUND_ELEMENTS = 2**18
"""Fewest kernel elements on which :func:`kernel_bound_grad` holds: below, the whole
gradient takes microseconds and the passes over the kernel do not show."""


def kernel_bound_grad(plan: ConvPlan) -> bool:
    """Whether the kernel gradient of the ungrouped ``plan`` contracts all its taps, stacked,
    with the cotangent in one GEMM written in the user's kernel order: two or more taps, no
    input dilation, and no more output positions (batch times positions) than output
    features, so that the stacked taps (``K·C`` per position) hold no more elements than the
    kernel (``K·C·O``). Such a gradient (deep features on a small map: ResNet's last 3x3
    layers on a batch of 8) is bound by writing the kernel: per tap it writes ``K`` GEMM
    outputs, stacks them and, for an ``OIHW`` kernel, transposes the stack, three passes
    over the kernel's size where this makes one."""
    kernel = plan.taps * plan.in_features * plan.out_features
    return (
        plan.taps > 1
        and _rows(plan) <= plan.out_features
        and kernel >= KERNEL_BOUND_ELEMENTS
        and all(d == 1 for d in plan.lhs_dilation)
    )


def _kernel_grad_stacked(ct, x, plan: ConvPlan, acc):
    """:func:`kernel_grad` as one GEMM of the stacked taps against ``ct`` over batch and
    positions, its output in the order of the user's kernel: ``(O, I, *K)`` or ``(O, *K,
    I)`` where that is output-major (``ConvPlan.kernel_order``), else ``(*K, I, O)``; moved
    to ``(*K, I, O)`` here, which XLA cancels against the move back to the user's order."""
    n, f = plan.num_spatial, plan.feature_axis
    order = plan.kernel_order
    # Taps stacked beside the features, in the kernel's order after O.
    stacked = jnp.stack(list(taps_of(x, plan)), axis=f + 1 if order == "ik" else f)
    rows, o = _rows(plan), plan.out_features
    if plan.channels_first:  # (N, [K,] C, [K,] *S) and (N, O, *S) moved to (N, *S, ...)
        stacked = jnp.moveaxis(stacked.reshape(plan.batch, -1, math.prod(plan.out_spatial)), 1, 2)
        ct = jnp.moveaxis(ct.reshape(plan.batch, o, -1), 1, 2)
    # (N·S, K·C) and (N·S, O): one plain GEMM over N·S, either operand first
    lhs, rhs = stacked.reshape(rows, -1), ct.reshape(rows, o)

    def dot(a, b):
        dims = (((0,), (0,)), ((), ()))
        return lax.dot_general(a, b, dims, precision=plan.precision, preferred_element_type=acc)

    if order is None:
        return dot(lhs, rhs).reshape(*plan.kernel, plan.in_features, o).astype(x.dtype)
    total = dot(rhs, lhs)  # (O, ...)
    shape = (plan.in_features, *plan.kernel) if order == "ik" else (*plan.kernel, plan.in_features)
    total = total.reshape(o, *shape)
    inverse = np.argsort(_strategies.output_major_axes(order, n))
    return jnp.transpose(total, tuple(int(a) for a in inverse)).astype(x.dtype)


STACKED_GRAD_ROWS = 8192
"""Below this many output positions (batch times positions), a few-feature kernel gradient
contracts the stacked taps (:func:`per_tap_kernel_grad`)."""


def per_tap_kernel_grad(plan: ConvPlan) -> bool:
    """Whether the kernel gradient of the ungrouped channels-last ``plan`` with fewer than 16
    input features, whose taps are large enough to scan (:func:`jaxconv._taps.scan_taps`),
    runs one GEMM per tap in the scan rather than one GEMM on the stacked taps: on images
    (2-D), from 3 input features, :data:`STACKED_GRAD_ROWS` positions and at most 8
    outputs per input feature.

    Measured on CPU (2026-12-02; the kernel gradient alone; 240 random 1-2-D layers in three
    draws, kernels 3-15 wide, 256-180 000 positions, 1-15 input and 4-128 output features,
    then 30 layers drawn where the rule runs per tap, to check it): where it runs per tap,
    2-D layers took 0.49-0.66x the time in geometric mean per draw (0.55x, worst 1.11x, on
    the check) and temp 3-57 MiB became 1-17 MiB: writing the stack costs more than
    reading each tap. Where it stacks: 1-D layers gained less and lost up to 1.9x (0.96x
    on the check), 3-D ones (12 drawn as the check) 0.75x but up to 2.1x; below 8192
    positions a scan's steps are too short (a 7x7 kernel on 2312 positions: 3.5x the time
    per tap); with one or two input features a tap's GEMM has one or two rows (one feature
    on 100 000 positions or more: 2.2-6.2x); with more outputs per input each tap re-reads
    the wider cotangent (3-4 -> 64-128 features: up to 1.8x).
    """
    i, o = plan.group_in, plan.out_features
    return plan.num_spatial == 2 and i >= 3 and o <= 8 * i and _rows(plan) >= STACKED_GRAD_ROWS


FLAT_GRAD_ROWS = 4096
"""From this many output positions (batch times positions), an ungrouped kernel gradient
may contract each tap as one plain GEMM (:func:`flat_kernel_grad`)."""
FLAT_GRAD_TAP_ROWS = 25000
"""From this many output positions times taps, and :data:`FLAT_GRAD_FEWEST_ROWS` output
positions, an ungrouped kernel gradient may too (:func:`flat_kernel_grad`)."""
FLAT_GRAD_FEWEST_ROWS = 512


def flat_kernel_grad(plan: ConvPlan) -> bool:
    """Whether the kernel gradient of the ungrouped ``plan`` contracts each tap with the
    cotangent as one plain GEMM (:func:`_ungrouped_contract`) rather than as a contraction
    over several axes, which XLA:CPU runs on transposed copies of both operands: where the
    cotangent is not much thinner than the taps, on :data:`FLAT_GRAD_ROWS` output
    positions (batch times positions) or more, or on :data:`FLAT_GRAD_FEWEST_ROWS` or more
    where positions times taps reach :data:`FLAT_GRAD_TAP_ROWS` (a kernel's every tap pays
    the copies).

    Measured on CPU (2026-12-01; 3x3 kernel gradients of 171 layers, 8-256 input features,
    half to twice as many outputs, 512-32768 positions, both layouts): from 6272 positions
    the plain GEMMs took 0.69-0.82x the time (geometric mean per size), at 2048 1.07-1.09x
    and at 512 1.35-1.38x, where the copies are small. Where the cotangent is much thinner
    than the taps the copies' GEMM wins: 64 -> 3 or 8 and 32 -> 4 features took 1.6-2.4x
    as long as plain GEMMs, and halving features from 64 or more 0.93-1.32x; halving them
    from 16 or 32 took 0.65-0.93x.

    Larger kernels pay sooner (2026-12-06, ``benchmarks/results/cpu-2core-flat-kernel-grad``,
    seeds 8151-8152: kernel gradients alone of 94 2-d layers below 4096 positions, 16-256
    input features and a cotangent wide enough, 3x3, 5x5 and 7x7 kernels, strides 1-2, both
    layouts): from 1024 positions, plain GEMMs took 0.57-0.79x the time on 5x5 and 7x7
    kernels (geometric mean per size) and 0.86-0.97x on 3x3; at 256-512 positions
    0.99-1.06x. On the 31 of the 94 at 512 or more positions and 25000 or more positions
    times taps, 0.720x (1.11x -> 0.80x lax; 3 slower, worst 1.18x); at 16384 0.757x with
    4 slower and one 1.64x, at 32768 0.641x of 20.
    """
    i, o = plan.group_in, plan.out_features
    wide_enough = o >= i or (2 * o >= i and i <= 32)
    rows = _rows(plan)
    many = rows >= FLAT_GRAD_FEWEST_ROWS and rows * plan.taps >= FLAT_GRAD_TAP_ROWS
    return wide_enough and (rows >= FLAT_GRAD_ROWS or many)


def _ungrouped_contract(lhs, ct, plan: ConvPlan, acc):
    """``lhs ([K,] I)`` taps against ``ct (Og)`` over batch and positions: ``([K,] I, Og)``.

    The taps as :func:`kernel_grad` splits them, with one group: channels-last ``(N, *S,
    [K,] 1, I)``, channels-first ``(N, 1, I, *S)``; the cotangent flattened: ``(N·P, Og)``,
    channels-first ``(N, Og, P)``. XLA:CPU transposes both operands of a contraction over
    several axes, or over axes around a batch axis, into copies before its GEMM; these
    forms read them in place: channels-last, batch and positions flattened into one
    contracted axis (a bitcast), one GEMM; channels-first, a GEMM per image over its
    positions, summed over the batch. Where they are faster: :func:`flat_kernel_grad`.
    """
    if plan.channels_first:
        a = lhs.reshape(lhs.shape[0], lhs.shape[2], -1)
        dims = (((2,), (2,)), ((0,), (0,)))
        out = lax.dot_general(a, ct, dims, precision=plan.precision, preferred_element_type=acc)
        return out.sum(0)
    lead = plan.num_spatial + 1  # batch and positions
    a = lhs.reshape(ct.shape[0], -1)
    dims = (((0,), (0,)), ((), ()))
    out = lax.dot_general(a, ct, dims, precision=plan.precision, preferred_element_type=acc)
    return out.reshape(*lhs.shape[lead:-2], lhs.shape[-1], ct.shape[-1])


def _kernel_grad_fn(x, plan: ConvPlan, name: str, w_struct, lean: bool = False):
    if name in ("col2im", "fft") and plan.channels_first:
        # col2im's and fft's kernel gradients run channels-last: fft, and the polyphase
        # form col2im's transposes below, run only there; and per tap, channels-first taps
        # ran 1.5x slower (measured on CPU, 5x5 192 -> 32 on 2x28x28: 15.3 -> 10.0 ms).
        last = plan._replace(channels_first=False)
        grad = _kernel_grad_fn(jnp.moveaxis(x, 1, -1), last, name, w_struct, lean)
        return lambda ct: grad(jnp.moveaxis(ct, 1, -1))
    # Scattered per input position (fewer positions than taps), col2im's own transpose
    # slices the cotangent once per position, where per tap (or polyphase's) it is K times.
    by_input = name == "col2im" and _strategies.col2im_by_input(plan)
    if name == "fft" or by_input or any(d > 1 for d in plan.lhs_dilation):
        # Input dilation: the kernel gradient is JAX's transpose of the forward strategy
        # (in the input's dtype, as the cotangent), of the polyphase form where col2im ran:
        # each phase's is a plain convolution's, where col2im's, K slices of the phases into
        # one wide array and a GEMM, ran 1.2-13x slower (measured on CPU, transposed 1-3-D
        # layers; col2im and polyphase both run channels-last here).
        # An FFT convolution's is its own transpose: the transpose of its kernel's
        # transform, product and inverse transform is again a correlation by FFT of the
        # input with the cotangent, where per-tap products would cost ``K`` passes over the
        # input for a long kernel.
        sub = plan._replace(preferred=None)
        transposed = "polyphase" if name == "col2im" and not by_input else name

        def forward(w):
            return _strategies.run(transposed, x, w, sub, _policy.choose)

        transpose = jax.linear_transpose(forward, w_struct)
        return lambda ct: transpose(ct.astype(x.dtype))[0]
    return lambda ct: kernel_grad(ct, x, plan, lean)


def _varying_as(t, y):
    """The tangent ``t`` varying over every manual mesh axis (inside ``shard_map``) that the
    output ``y`` varies over: a replicated kernel's tangent meets a per-block input's there,
    as the convolution met the kernel itself."""
    missing = tuple(sorted(_vma(y) - _vma(t)))
    return lax.pcast(t, missing, to="varying") if missing else t


def _vma(a) -> frozenset:
    """The manual mesh axes ``a`` varies over (JAX 0.10: ``manual_axis_type.varying``;
    before: ``vma``)."""
    aval = jax.typeof(a)
    axes = getattr(getattr(aval, "manual_axis_type", None), "varying", None)
    return frozenset(getattr(aval, "vma", ()) if axes is None else axes)


def _one_buffer(y: jax.Array) -> jax.Array:
    """``y`` as one buffer, written once: ``y`` plus ``-0.0`` at its first and last elements,
    by a scatter (exactly ``y``: ``-0.0`` is the identity of ``+``, signed zeros and NaN
    included; for complex ``y``, in both parts).

    A strategy's output is often an elementwise sum of terms (``col2im``'s shifted slices
    of its product, ``taps``' per-tap GEMMs, Winograd's inverse transform). XLA:CPU fuses
    such a sum into each of its users instead of writing it once, so the terms, up to ``K``
    times the output's size, stay alive as long as any user does: in a training step, until
    the backward pass's activation masks (a VGG-style step held 80.8 MiB of temp instead of
    37.6). XLA neither fuses a scatter into its users nor copies one that updates its
    operand in place, so ``y`` is written once, and read from there. Cheaper forms do not
    hold: ``optimization_barrier`` is gone before XLA:CPU fuses; a scatter of one element
    becomes a dynamic-update-slice that XLA fuses again, and one of ``y``'s own elements
    makes XLA write ``y``'s terms before summing them, to read them twice.
    """
    dn = lax.ScatterDimensionNumbers(
        update_window_dims=(),
        inserted_window_dims=tuple(range(y.ndim)),
        scatter_dims_to_operand_dims=tuple(range(y.ndim)),
    )
    first_and_last = np.array([[0] * y.ndim, [d - 1 for d in y.shape]], np.int32)
    zeros = np.negative(np.zeros((2,), y.dtype))  # -0.0 (complex: both parts)
    return lax.scatter_add(y, first_and_last, zeros, dn, indices_are_sorted=True)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def _conv(x, w, plan, name, policy):
    return _policy.run(policy, name, x, w, plan)


def _conv_jvp(plan, name, policy, primals, tangents):
    x, w = primals
    dx, dw = tangents
    if policy == "auto" and (swap := _policy.differentiated_choice(plan, name, x.dtype)) != name:
        # Differentiated, auto runs another strategy (see _policy.differentiated_choice), in
        # the layout that one runs the user's data in.
        to = _policy.in_layout(plan, swap)
        return _conv_jvp_in(plan, to, swap, policy, primals, tangents)
    if plan.channels_first and _policy.primal_channels_first(plan, name):
        # Differentiated, the layer runs channels-last as the transposes around it would:
        # its gradients ran faster there (see _policy.primal_channels_first).
        last = plan._replace(channels_first=False)
        return _conv_jvp_in(plan, last, name, policy, primals, tangents)
    # Written once where it is differentiated: reverse mode keeps it for the backward pass.
    # (Not in the primal above: without a backward pass nothing outlives its users, and
    # the scatter is one more op to run.)
    # Its buffers share a training step's program with the gradients' (see
    # _strategies.GEMM_PIECE_BYTES).
    with _strategies.differentiated():
        y = _one_buffer(_policy.run(policy, name, x, w, plan))
    out = y  # the output's type (inside shard_map, the mesh axes it varies over too)
    grad_policy = policy if policy in ("tune", "lean") else "auto"
    terms = []
    if not isinstance(dx, SymbolicZero):
        grad = functools.partial(input_grad, w=w, plan=plan, policy=grad_policy)
        (ty_x,) = jax.linear_transpose(grad, out)(_varying_as(dx, y))
        terms.append(ty_x.astype(y.dtype))
    if not isinstance(dw, SymbolicZero):
        w_struct = jax.ShapeDtypeStruct(w.shape, w.dtype)

        def kernel_tangent(dw, x):
            # By fft where it pays, under any policy but 'lean' (its spectra take more
            # memory than one tap at a time); 'tune' times no kernel gradients.
            pays = policy != "lean" and _policy.fft_kernel_grad_pays(plan, x.dtype)
            grad_fn = _kernel_grad_fn(x, plan, "fft" if pays else name, w_struct, policy == "lean")
            return jax.linear_transpose(grad_fn, out)(_varying_as(dw, y))[0]

        # Checkpointed so that reverse mode recomputes the input's taps inside the kernel
        # gradient instead of saving all K of them (a scan's stacked taps) as residuals.
        terms.append(jax.checkpoint(kernel_tangent)(dw, x).astype(y.dtype))
    return y, functools.reduce(jnp.add, terms) if terms else jnp.zeros_like(y)


def _conv_jvp_in(plan: ConvPlan, to: ConvPlan, name, policy, primals, tangents):
    """:func:`_conv_jvp` on ``to``, the convolution of ``plan`` in either compute layout, for
    data in ``plan``'s: moved to ``to``'s and back (XLA cancels a move against the one
    around the layer)."""
    if to.channels_first == plan.channels_first:
        return _conv_jvp(to, name, policy, primals, tangents)
    (x, w), (dx, dw) = primals, tangents
    here, there = (-1, 1) if to.channels_first else (1, -1)

    def move(a, src, dst):  # a symbolic zero as it is (only its type is read)
        return a if isinstance(a, SymbolicZero) else jnp.moveaxis(a, src, dst)

    y, t = _conv_jvp(to, name, policy, (move(x, here, there), w), (move(dx, here, there), dw))
    return move(y, there, here), move(t, there, here)


_conv.defjvp(_conv_jvp, symbolic_zeros=True)


def convolve(x, w, plan: ConvPlan, name: str, policy: str):
    """Strategy ``name`` on the canonical ``x`` and ``w`` of the non-empty ``plan`` (in its
    compute layout), under ``policy`` (the ``strategy=`` argument: ``'tune'`` tunes, the
    gradients of anything but ``'tune'`` run ``'auto'``), with the fast gradients above where
    they apply (floating point, no batch groups)."""
    if not jnp.issubdtype(x.dtype, jnp.inexact) or plan.batch_groups > 1:
        return _policy.run(policy, name, x, w, plan)
    return _conv(x, w, plan, name, policy)
