"""Fast gradients that still differentiate to any order, in forward and reverse mode.

JAX's derived backward of a strategy transposes its slices into pads and its contractions
into contractions over the long position axis, which on CPU is slow and keeps ``K`` copies
of the input alive. The gradients have better forms of their own:

- with respect to the input: a convolution of the output cotangent with the kernel flipped
  and its in/out features swapped, input-dilated by the strides (lax's own rule), which
  runs through the same fast strategies as the forward pass;
- with respect to the kernel: one contraction per tap of the input's taps with the
  cotangent over batch and positions (a fused multiply-and-reduce when depthwise).

A ``custom_vjp`` would lose forward mode. Instead the convolution is a ``custom_jvp`` whose
tangent map is written as the *linear transpose* of those gradient functions: reverse mode
transposes it back into exactly those functions, forward mode evaluates the transposed
form, and every step is an ordinary lax primitive, so higher orders follow from JAX's own
rules.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero

from . import _policy, _tune
from ._padding import pad_spatial
from ._plan import ConvPlan
from ._strategies import (
    TILE_SLACK_BYTES,
    acc_dtype,
    is_empty,
    run,
    scan_taps,
    tap_at,
    tap_offsets,
    taps_of,
)


def input_grad_plan(plan: ConvPlan) -> ConvPlan:
    """The convolution that maps an output cotangent to the input's cotangent.

    With ``k = (kernel - 1) * rhs_dilation + 1``, the cotangent is input-dilated by the
    strides, padded by ``k - 1 - low`` before and what makes the output the input's size
    after, and strided by the forward input dilation (lax's ``_conv_general_vjp_lhs_padding``).
    """
    pads = []
    for size, k, s, lo, ld, rd, o in zip(
        plan.in_spatial,
        plan.kernel,
        plan.strides,
        (p[0] for p in plan.pads),
        plan.lhs_dilation,
        plan.rhs_dilation,
        plan.out_spatial,
        strict=True,
    ):
        dilated_in, window, dilated_out = (size - 1) * ld + 1, (k - 1) * rd + 1, (o - 1) * s + 1
        before = window - lo - 1
        pads.append((before, dilated_in + window - 1 - dilated_out - before))
    return plan._replace(
        in_features=plan.out_features,
        out_features=plan.in_features,
        in_spatial=plan.out_spatial,
        out_spatial=plan.in_spatial,
        strides=plan.lhs_dilation,
        pads=tuple(pads),
        lhs_dilation=plan.strides,
    )


def input_grad_kernel(w: jnp.ndarray, plan: ConvPlan) -> jnp.ndarray:
    """``w (*K, I, G·Og)`` flipped and regrouped as ``(*K, Og, G·I)``."""
    g, i = plan.feature_groups, plan.group_in
    n = plan.num_spatial
    wg = w.reshape(*plan.kernel, i, g, plan.out_features // g)
    wt = jnp.transpose(wg, (*range(n), n + 2, n + 1, n))  # (*K, Og, G, I)
    wt = wt.reshape(*plan.kernel, plan.out_features // g, plan.in_features)
    return jnp.flip(wt, axis=tuple(range(n)))


def run_policy(policy: str, x, w, plan: ConvPlan, precision, preferred_element_type):
    """Strategy ``policy`` on ``plan``; ``'auto'`` picks one from the rules, ``'tune'``
    the one measured fastest on the device the program is lowered for."""
    if policy in ("auto", "tune"):
        name = _policy.choose(plan, x.dtype, precision, preferred_element_type)
        if policy == "tune" and not is_empty(plan):
            op = _tune.Tuned(plan, precision, preferred_element_type, name)
            return _tune.tuned_conv(x, w, op)
    else:
        name = policy
    return run(name, x, w, plan, precision, preferred_element_type)


def input_grad(ct, w, plan: ConvPlan, precision, policy: str = "auto"):
    """The cotangent of the input ``(N, *in_spatial, C)`` for an output cotangent ``ct``;
    ``policy`` (``'auto'`` or ``'tune'``) picks the strategy of its convolution."""
    tplan = input_grad_plan(plan)
    wt = input_grad_kernel(w, plan)
    ct = ct.astype(w.dtype)
    user = tplan._replace(channels_first=False)
    if tplan.channels_first and not _policy.runs_channels_first(
        user, _policy.choose(user, ct.dtype, precision, None, decide_layout=True)
    ):
        # A channels-first layer whose input gradient runs best channels-last (a Winograd
        # layer whose gradient does not pay for Winograd): one transpose each way.
        tplan = user
        dx = run_policy(policy, jnp.moveaxis(ct, 1, -1), wt, tplan, precision, None)
        return jnp.moveaxis(dx, -1, 1)
    return run_policy(policy, ct, wt, tplan, precision, None)


def kernel_grad(ct, x, plan: ConvPlan, precision):
    """The cotangent of the kernel ``(*K, I, O)`` for an output cotangent ``ct``.

    Tap ``k`` of the kernel meets tap ``k`` of the input at every output position, so its
    gradient contracts that tap with ``ct`` over batch and positions, group by group:
    as a multiply-and-reduce per tap when depthwise, as one GEMM on the stacked taps when
    a dense layer has few input features (a per-tap GEMM would have that few rows), and as
    one GEMM per tap otherwise (no patch array; in a ``lax.scan`` when the taps are large,
    see :func:`jaxconv._strategies.scan_taps`). Channels-first plans contract in ``(N, C, *S)``.
    """
    g, i = plan.feature_groups, plan.group_in
    og = plan.out_features // g
    acc = acc_dtype(x.dtype, None)
    depthwise = i == 1 and g > 1
    # Large taps run one at a time in a scan (see :func:`jaxconv._strategies.scan_taps`).
    # Depthwise reductions read plain slices best: in a scan they would run 3-5 times
    # slower (measured on CPU, MobileNetV2's layers), so they scan only where XLA would
    # otherwise hold taps far larger than the input (it materialises each one).
    taps_bytes = plan.taps * plan.batch * int(np.prod(plan.out_spatial)) * plan.in_features
    taps_bytes *= x.dtype.itemsize
    scan = taps_bytes > TILE_SLACK_BYTES if depthwise else scan_taps(plan, x.dtype)
    if plan.channels_first:
        # (N, C, *S): contract batch and positions of each tap with ct, batched over groups.
        n = plan.num_spatial
        axes = (0, *range(3, 3 + n))
        ctg = ct.astype(x.dtype).reshape(plan.batch, g, og, *plan.out_spatial)

        def tap_grad_cf(t):
            t = t.reshape(plan.batch, g, i, *plan.out_spatial)
            if i == 1 and og == 1:
                # One filter per channel: a multiply-and-reduce, no GEMM of one row.
                dk = jnp.sum(t.astype(acc) * ctg.astype(acc), axis=axes)  # (G, 1)
            else:
                dims = ((axes, axes), ((1,), (1,)))
                dk = lax.dot_general(t, ctg, dims, precision=precision, preferred_element_type=acc)
            return jnp.moveaxis(dk.reshape(g, i, og), 0, 1)  # (I, G, Og)

        dw = _per_tap(x, plan, tap_grad_cf, scan)
        return dw.reshape(*plan.kernel, i, plan.out_features).astype(x.dtype)
    lead = (plan.batch, *plan.out_spatial)
    axes = tuple(range(len(lead)))
    ctg = ct.astype(x.dtype).reshape(*lead, g, og)

    def contract(lhs, extra):
        # lhs (*lead, [K,] G, I) with ctg (*lead, G, Og) over lead, batched over G.
        n = len(lead)
        return lax.dot_general(
            lhs,
            ctg,
            ((axes, axes), ((n + extra,), (n,))),
            precision=precision,
            preferred_element_type=acc,
        )

    def tap_grad(tap):
        # tap (*lead, G·I) -> its kernel gradient (I, G, Og).
        tap = tap.reshape(*lead, g, i)
        if depthwise:
            # A GEMM would have one row: a fused multiply-and-reduce instead.
            return jnp.sum(tap.astype(acc) * ctg.astype(acc), axis=axes)[None]
        return jnp.moveaxis(contract(tap, 0), 0, 1)

    if g == 1 and i < 16 and taps_bytes <= TILE_SLACK_BYTES:
        # Few input features: one GEMM on the stacked taps (per tap it would have i rows),
        # unless the stack is large (a volume's 27 taps): then per tap, scanned.
        # Not for groups: their stack and its transposed copy cost twice K taps, and per
        # tap in a scan they run as fast (measured on CPU, ResNeXt's g = 32 layers with
        # 4 and 8 features per group: temp 30 -> 5 MB and 15 -> 2.5 MB).
        taps = [t.reshape(*lead, g, i) for t in taps_of(x, plan)]
        dk = contract(jnp.stack(taps, axis=len(lead)), 1)  # (G, K, I, Og)
        dw = jnp.transpose(dk, (1, 2, 0, 3))
    else:
        dw = _per_tap(x, plan, tap_grad, scan, fused=depthwise)  # (K, I, G, Og)
    return dw.reshape(*plan.kernel, i, plan.out_features).astype(x.dtype)


def _per_tap(x, plan: ConvPlan, fn, scan: bool, fused: bool = False):
    """``fn`` on each tap of ``x``, stacked: ``(K, ...)``. With ``scan``, one tap at a time
    in a ``lax.scan``, so that only one tap of the input is alive."""
    if not scan:
        return jnp.stack([fn(t) for t in taps_of(x, plan, fused=fused)])
    xp = pad_spatial(x, plan.spatial_axes, plan.pads, plan.lhs_dilation)

    def one_tap(_, offset):
        return None, fn(tap_at(xp, plan, offset))

    # Checkpointed so that JAX's partial evaluation of the scan (when this gradient is
    # itself transposed or differentiated) recomputes each tap instead of stacking all K.
    _, out = lax.scan(jax.checkpoint(one_tap), None, tap_offsets(plan))
    return out


def _kernel_grad_fn(x, plan: ConvPlan, name, precision, w_struct):
    if any(d > 1 for d in plan.lhs_dilation):
        name = _policy.choose(plan, x.dtype, precision) if name in ("auto", "tune") else name
        # Input dilation runs polyphase or col2im; the kernel gradient is JAX's transpose of it.
        transpose = jax.linear_transpose(lambda w: run(name, x, w, plan, precision, None), w_struct)
        return lambda ct: transpose(ct.astype(x.dtype))[0]
    return lambda ct: kernel_grad(ct, x, plan, precision)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4, 5))
def _conv(x, w, plan, name, precision, preferred_element_type):
    return run_policy(name, x, w, plan, precision, preferred_element_type)


def _conv_jvp(plan, name, precision, preferred_element_type, primals, tangents):
    x, w = primals
    dx, dw = tangents
    y = run_policy(name, x, w, plan, precision, preferred_element_type)
    out = jax.ShapeDtypeStruct(y.shape, y.dtype)
    policy = "tune" if name == "tune" else "auto"
    terms = []
    if not isinstance(dx, SymbolicZero):
        grad = functools.partial(input_grad, w=w, plan=plan, precision=precision, policy=policy)
        (ty_x,) = jax.linear_transpose(grad, out)(dx)
        terms.append(ty_x.astype(y.dtype))
    if not isinstance(dw, SymbolicZero):
        w_struct = jax.ShapeDtypeStruct(w.shape, w.dtype)

        def kernel_tangent(dw, x):
            grad_fn = _kernel_grad_fn(x, plan, name, precision, w_struct)
            return jax.linear_transpose(grad_fn, out)(dw)[0]

        # Checkpointed so that reverse mode recomputes the input's taps inside the kernel
        # gradient instead of saving all K of them (a scan's stacked taps) as residuals.
        terms.append(jax.checkpoint(kernel_tangent)(dw, x).astype(y.dtype))
    return y, functools.reduce(jnp.add, terms) if terms else jnp.zeros_like(y)


_conv.defjvp(_conv_jvp, symbolic_zeros=True)


def convolve(x, w, plan: ConvPlan, name: str, precision, preferred_element_type):
    """Strategy ``name`` on canonical ``x (N, *S, C)`` and ``w (*K, I, O)``, with the fast
    gradients above where they apply (floating point, no batch groups)."""
    inexact = jnp.issubdtype(x.dtype, jnp.inexact)
    if not inexact or plan.batch_groups > 1 or is_empty(plan):
        return run_policy(name, x, w, plan, precision, preferred_element_type)
    if preferred_element_type is not None:
        preferred_element_type = np.dtype(preferred_element_type)
    return _conv(x, w, plan, name, precision, preferred_element_type)
