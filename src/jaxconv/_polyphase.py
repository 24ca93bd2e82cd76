"""Polyphase decomposition of a convolution with input (lhs) dilation.

With input dilation ``ld`` most taps of a window meet the inserted zeros. Group the
outputs by phase ``o mod P`` (``P = ld / gcd(stride, ld)``): within one phase the same
subset of kernel taps — every ``q``-th, ``q = ld / gcd(rhs_dilation, ld)`` — meets real
input, at a fixed stride. So each phase is an ordinary convolution of the *undilated*
input with a sub-sampled kernel, and the phases interleave into the output. A stride-2
transposed 3×3 convolution becomes four convolutions with 4, 2, 2 and 1 taps instead of
one with 9 taps on an input four times larger.

Window strides split the other way (:func:`input_phases`): group the *inputs* by phase
``i mod s``; the inputs of one phase meet every ``q``-th tap only, each at unit stride, so
a strided convolution is the sum of stride-1 convolutions of the input's phases with
sub-sampled kernels.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
from jax import lax

from ._plan import ConvPlan


class _DimPhase(NamedTuple):
    phase: int  # first output of the phase; outputs phase, phase + P, ...
    tap0: int  # first kernel tap that meets real input
    tap_step: int  # q: every q-th tap from tap0
    kernel: int  # number of those taps
    stride: int  # stride over the undilated input
    dilation: int  # distance between consecutive taps, in undilated input elements
    pads: tuple[int, int]
    out: int  # outputs in this phase


def _dim_phases(size, kernel, stride, ldil, rdil, low, out) -> tuple[int, list[_DimPhase]]:
    period = ldil // math.gcd(stride, ldil)
    sub_stride = stride // math.gcd(stride, ldil)
    q = ldil // math.gcd(rdil, ldil)
    sub_dil = q * rdil // ldil
    phases = []
    for phi in range(period):
        count = len(range(phi, out, period))
        t0 = next(
            (t for t in range(min(q, kernel)) if (phi * stride + t * rdil - low) % ldil == 0), None
        )
        k = 0 if t0 is None else len(range(t0, kernel, q))
        if k == 0 or count == 0:
            phases.append(_DimPhase(phi, 0, q, 0, sub_stride, sub_dil, (0, 0), count))
            continue
        base = (phi * stride + t0 * rdil - low) // ldil
        needed = (count - 1) * sub_stride + (k - 1) * sub_dil + 1
        pads = (-base, needed - size + base)
        phases.append(_DimPhase(phi, t0, q, k, sub_stride, sub_dil, pads, count))
    return period, phases


def phases(plan: ConvPlan) -> tuple[tuple[int, ...], list[tuple[tuple[_DimPhase, ...], ConvPlan]]]:
    """The period per spatial dim and, for every phase, its per-dim data and sub-plan."""
    per_dim = [
        _dim_phases(n, k, s, ld, rd, lo, o)
        for n, k, s, ld, rd, (lo, _), o in zip(
            plan.in_spatial,
            plan.kernel,
            plan.strides,
            plan.lhs_dilation,
            plan.rhs_dilation,
            plan.pads,
            plan.out_spatial,
            strict=True,
        )
    ]
    periods = tuple(p for p, _ in per_dim)
    out = []
    for combo in itertools.product(*(ph for _, ph in per_dim)):
        sub = plan._replace(
            kernel=tuple(d.kernel for d in combo),
            out_spatial=tuple(d.out for d in combo),
            strides=tuple(d.stride for d in combo),
            pads=tuple(d.pads for d in combo),
            lhs_dilation=(1,) * plan.num_spatial,
            rhs_dilation=tuple(d.dilation for d in combo),
        )
        out.append((combo, sub))
    return periods, out


def _tap_index(combo) -> tuple[slice, ...]:
    return tuple(slice(d.tap0, None, d.tap_step) for d in combo)


def forward(
    x: jnp.ndarray,
    w: jnp.ndarray,
    plan: ConvPlan,
    conv: Callable[[jnp.ndarray, jnp.ndarray, ConvPlan], jnp.ndarray],
    out_dtype,
) -> jnp.ndarray:
    """The convolution ``plan`` of ``x (N, *S, C)`` and ``w (*K, I, O)``, phase by phase.

    ``conv(x, w_sub, sub_plan)`` computes each phase, whose plan has no input dilation.
    """
    periods, items = phases(plan)
    batch = plan.batch // plan.batch_groups
    longest = longest_phase(plan, periods)
    parts = []
    for combo, sub in items:
        if 0 in sub.kernel or 0 in sub.out_spatial:
            y = jnp.zeros((batch, *sub.out_spatial, plan.out_features), out_dtype)
        else:
            y = conv(x, w[_tap_index(combo)], sub).astype(out_dtype)
        # Pad every phase to the longest so the phases stack into one array.
        pad = [(0, 0, 0)] + [(0, m - o, 0) for m, o in zip(longest, sub.out_spatial, strict=True)]
        parts.append(lax.pad(y, jnp.zeros((), out_dtype), pad + [(0, 0, 0)]))
    return interleave(parts, plan, periods)


def longest_phase(plan: ConvPlan, periods) -> tuple[int, ...]:
    """Outputs of the longest phase, per spatial dim."""
    return tuple(-(-o // p) for o, p in zip(plan.out_spatial, periods, strict=True))


def interleave(parts, plan: ConvPlan, periods) -> jnp.ndarray:
    """The phases' outputs, each ``(N, *longest, O)`` (``(N, O, *longest)`` for a
    channels-first plan) in :func:`phases`' order, woven into ``(N, *out_spatial, O)``
    (``(N, O, *out_spatial)``)."""
    axes = plan.spatial_axes
    stacked = jnp.stack(parts).reshape(*periods, *jnp.shape(parts[0]))
    woven = weave(stacked, axes, periods)
    index = [slice(None)] * woven.ndim
    for ax, o in zip(axes, plan.out_spatial, strict=True):
        index[ax] = slice(0, o)
    return woven[tuple(index)]


def weave(stacked, axes, periods) -> jnp.ndarray:
    """``stacked (*periods, *part)`` woven into ``part`` with each of its ``axes`` that many
    times longer: element ``i`` of phase ``p`` along an axis of period ``P`` lands at
    ``i·P + p``."""
    part = stacked.shape[len(periods) :]
    perm = []
    for a in range(len(part)):
        perm.append(len(periods) + a)
        if a in axes:
            perm.append(axes.index(a))  # each spatial axis followed by its period axis
    shape = list(part)
    for ax, p in zip(axes, periods, strict=True):
        shape[ax] *= p
    return jnp.transpose(stacked, perm).reshape(shape)


class InputPhase(NamedTuple):
    """One input phase of a strided convolution: the slices of the canonical input's spatial
    axes and of the kernel's that it reads, and its stride-1 plan."""

    inputs: tuple[slice, ...]
    taps: tuple[slice, ...]
    plan: ConvPlan


class _DimInputPhase(NamedTuple):
    inputs: slice  # the phase's inputs r, r + s, ...
    taps: slice  # the taps they meet: t0, t0 + q, ...
    size: int  # inputs in the phase
    kernel: int  # taps it meets
    dilation: int  # between those taps, in the phase's inputs
    pads: tuple[int, int]  # of the phase's stride-1 convolution


def _dim_input_phases(size, kernel, stride, rdil, low, out) -> list[_DimInputPhase]:
    # Input i = r + s·j meets tap t at output o where o·s = i + low - t·rdil: only the taps
    # t = t0, t0 + q, ... with (r + low - t0·rdil) divisible by s, at unit stride in j.
    q = stride // math.gcd(rdil, stride)
    found = []
    for r in range(min(stride, size)):
        t0 = next((t for t in range(min(q, kernel)) if (r + low - t * rdil) % stride == 0), None)
        if t0 is None:
            continue
        k, dil = len(range(t0, kernel, q)), q * rdil // stride
        n = len(range(r, size, stride))
        lo = (r + low - t0 * rdil) // stride  # j = o + m·dil - lo for the m-th tap
        hi = (out - 1) + (k - 1) * dil + 1 - n - lo
        found.append(
            _DimInputPhase(slice(r, None, stride), slice(t0, None, q), n, k, dil, (lo, hi))
        )
    return found


def _input_phases_per_dim(plan: ConvPlan) -> list[list[_DimInputPhase]]:
    return [
        _dim_input_phases(n, k, s, rd, lo, o)
        for n, k, s, rd, (lo, _), o in zip(
            plan.in_spatial, plan.kernel, plan.strides, plan.rhs_dilation, plan.pads,
            plan.out_spatial, strict=True,
        )
    ]  # fmt: skip


def input_phase_count(plan: ConvPlan) -> int:
    """How many input phases :func:`input_phases` gives ``plan``, without building them."""
    return math.prod(len(d) for d in _input_phases_per_dim(plan))


def input_phases(plan: ConvPlan) -> list[InputPhase]:
    """The input phases of ``plan`` (window strides, no input dilation), each with a
    stride-1 plan of the same output: the convolution is the sum of theirs. Phases that
    meet no tap are left out (none at all: every tap falls in the padding)."""
    out = []
    for combo in itertools.product(*_input_phases_per_dim(plan)):
        sub = plan._replace(
            in_spatial=tuple(d.size for d in combo),
            kernel=tuple(d.kernel for d in combo),
            strides=(1,) * plan.num_spatial,
            rhs_dilation=tuple(d.dilation for d in combo),
            pads=tuple(d.pads for d in combo),
            kernel_order=None,
        )
        out.append(InputPhase(tuple(d.inputs for d in combo), tuple(d.taps for d in combo), sub))
    return out
