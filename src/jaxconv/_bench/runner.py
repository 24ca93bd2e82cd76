"""Verify jaxconv against lax and time both, per case, device, dtype, layout and direction.

Every measurement follows the same recipe (``jax/benchmarks/math_benchmark.py``'s): each
program is jitted and compiled ahead of time (``jit(f).lower(...).compile()``, so the
compile time and XLA's ``memory_analysis()`` come from the very program that is timed),
called once as a warm-up that is not timed, checked against lax's answer, then timed
``reps`` times with ``block_until_ready`` — jaxconv and lax interleaved in the same process
(alternating which goes first) so that both see the same machine load. Times are medians
with min and max, in milliseconds.

Directions: ``fwd`` is the convolution ``y = conv(x, w)``; ``fwd+bwd`` is ``y`` together with
both gradients ``(dx, dw)`` of ``sum(y * ct)`` for a fixed random cotangent ``ct`` (one
``jax.vjp``), as in a training step.
"""

from __future__ import annotations

import functools
import re
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv

from .suites import Case

LAYOUTS = ("NHWC", "NCHW")
"""The layout families: ``NHWC`` is channels-last of the case's rank (``NWC``, ``NHWC``,
``NDHWC``; kernel ``WIO``, ``HWIO``, ``DHWIO``), ``NCHW`` channels-first (``NCW``, ``NCHW``,
``NCDHW``; kernel ``OIW``, ``OIHW``, ``OIDHW``)."""

DIRECTIONS = ("fwd", "fwd+bwd")

ConvFn = Callable[[jax.Array, jax.Array], jax.Array]
Implementation = Callable[[Case, str, str], ConvFn]
"""``impl(case, layout, strategy) -> f(x, w)``: builds the convolution under test."""


def dimension_numbers(case: Case, layout: str) -> tuple[str, str, str]:
    """``(input, kernel, output)`` layout strings of ``case``'s rank in ``layout``'s family."""
    sp = "DHW"[3 - case.rank :]
    if layout == "NHWC":
        return f"N{sp}C", f"{sp}IO", f"N{sp}C"
    if layout == "NCHW":
        return f"NC{sp}", f"OI{sp}", f"NC{sp}"
    raise ValueError(f"`layout` must be one of {LAYOUTS}, got {layout!r}.")


class VerificationError(AssertionError):
    """jaxconv and lax disagree beyond the dtype's tolerance."""


class LaxDisagreement(UserWarning):
    """jaxconv and lax disagree, and it is lax that is wrong: jaxconv agrees with the float64
    reference, lax does not (XLA:CPU's float32 convolution reads out of bounds when a
    padding pair has a negative low and a positive high side, openxla/xla#48713)."""


def tolerance(dtype: Any, platform: str) -> float:
    """Largest accepted ``max|jaxconv - lax| / max|lax|`` for ``dtype`` on ``platform``.

    float32 on GPU/TPU may multiply in TF32 or bfloat16 passes at default precision, and
    the two programs may round differently, hence the looser bound there.
    """
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        return 0.0  # integer convolutions are exact
    if dtype == np.float64:
        return 1e-10
    if dtype == np.float32:
        return 1e-4 if platform == "cpu" else 2e-2
    return 5e-2  # bfloat16, float16: 8-11 mantissa bits in the stored output


def preferred(case: Case) -> Any:
    """The ``preferred_element_type`` of ``case``: int32 for an integer case, else None."""
    integer = case.dtype is not None and np.issubdtype(np.dtype(case.dtype), np.integer)
    return jnp.int32 if integer else None


def jaxconv_impl(case: Case, layout: str, strategy: str = "auto") -> ConvFn:
    """jaxconv's convolution for ``case`` in ``layout`` (the default implementation)."""
    dn = dimension_numbers(case, layout)
    pet = preferred(case)
    if case.transposed:
        return lambda x, w: jaxconv.conv_transpose(
            x, w, case.strides, case.padding, dimension_numbers=dn, strategy=strategy,
            preferred_element_type=pet,
        )  # fmt: skip
    return lambda x, w: jaxconv.conv_general_dilated(
        x, w, case.strides, case.padding, case.lhs_dilation, case.dilation, dimension_numbers=dn,
        feature_group_count=case.groups, strategy=strategy, preferred_element_type=pet,
    )  # fmt: skip


def lax_impl(case: Case, layout: str, strategy: str = "auto") -> ConvFn:
    """The baseline: ``lax.conv_general_dilated`` (``lax.conv_transpose`` if transposed)."""
    del strategy
    dn = dimension_numbers(case, layout)
    pet = preferred(case)
    if case.transposed:
        return lambda x, w: jax.lax.conv_transpose(
            x, w, case.strides, case.padding, dimension_numbers=dn, preferred_element_type=pet
        )
    return lambda x, w: jax.lax.conv_general_dilated(
        x, w, case.strides, case.padding, case.lhs_dilation, case.dilation, dimension_numbers=dn,
        feature_group_count=case.groups, preferred_element_type=pet,
    )  # fmt: skip


def program(f: ConvFn, direction: str) -> Callable[..., tuple[jax.Array, ...]]:
    """``(x, w, ct) -> outputs``: ``(y,)`` for ``fwd``, ``(y, dx, dw)`` for ``fwd+bwd``, the
    VJP of ``ct`` made to wait for ``y`` (its values unchanged where ``y`` is finite).

    In a training step the cotangent comes from the layers after this one, so the backward
    pass starts once the output is there. A cotangent that is only an argument would let
    XLA:CPU run the backward pass beside the forward one, which on two cores slowed a
    strategy that copies much (``grouped``'s patches) to up to 2.6x its time in a step
    (``benchmarks/results/cpu-2core-grouped-strided-grad``)."""
    if direction == "fwd":
        return lambda x, w, ct: (f(x, w),)
    if direction == "fwd+bwd":

        def fwd_bwd(x, w, ct):
            y, vjp = jax.vjp(f, x, w)
            # min(|y|, 0) is 0 for finite y (NaN stays NaN); XLA does not fold it away.
            return (y, *vjp(ct + jnp.minimum(jnp.abs(y), 0).astype(ct.dtype)))

        return fwd_bwd
    raise ValueError(f"`direction` must be one of {DIRECTIONS}, got {direction!r}.")


# ---------------------------------------------------------------------------------------
# Shapes and inputs


def shapes(case: Case, layout: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The input and kernel shapes of ``case`` in ``layout``: ``(N, *S, C)`` and
    ``(*K, C // groups, O)`` channels-last, ``(N, C, *S)`` and ``(O, C // groups, *K)``
    channels-first (transposed cases: the kernel's ``I`` is ``C``)."""
    n, c = case.batch, case.in_channels
    i = c if case.transposed else c // case.groups
    if layout == "NHWC":
        return (n, *case.in_spatial, c), (*case.kernel, i, case.out_channels)
    return (n, c, *case.in_spatial), (case.out_channels, i, *case.kernel)


def plan_of(case: Case, layout: str):
    """``case``'s plan in ``layout`` (the user's layout, before any strategy's); a transposed
    case as the convolution that computes it (``conv_transpose`` with explicit pairs: input
    dilation by the strides)."""
    from jaxconv._plan import make_plan

    if case.transposed:
        case = case._replace(transposed=False, strides=(1,) * case.rank, lhs_dilation=case.strides)
    xs, ws = shapes(case, layout)
    return make_plan(xs, ws, case.strides, case.padding, case.input_dilation, case.rhs_dilation,
                     dimension_numbers(case, layout), case.groups, 1, "zeros")  # fmt: skip


def out_shape(case: Case, layout: str, dtype: Any) -> tuple[int, ...]:
    """The output shape in ``layout``, from lax's own shape rule (in the case's own dtype
    where it has one)."""
    dtype = case.dtype or dtype
    xs, ws = shapes(case, layout)
    f = lax_impl(case, layout)
    out = jax.eval_shape(f, jax.ShapeDtypeStruct(xs, dtype), jax.ShapeDtypeStruct(ws, dtype))
    return tuple(out.shape)


def _out_spatial(case: Case, layout: str) -> tuple[int, ...]:
    os = out_shape(case, layout, np.float32)
    return os[1:-1] if layout == "NHWC" else os[2:]


def make_inputs(case: Case, layout: str, dtype: Any, seed: int = 0) -> tuple[np.ndarray, ...]:
    """``(x, w, ct)`` as numpy arrays of ``dtype``: unit normal input and cotangent, kernel
    scaled by ``1/sqrt(fan_in)`` so outputs are of order one; for integer dtypes ``x`` and
    ``w`` uniform over int8's range (int32 sums of them stay exact in float64 checks) and
    ``ct`` zero. Same seed, same arrays."""
    rng = np.random.default_rng(seed)
    xs, ws = shapes(case, layout)
    if np.issubdtype(np.dtype(dtype), np.integer):
        x, w = (rng.integers(-128, 128, s).astype(dtype) for s in (xs, ws))
        return x, w, np.zeros(out_shape(case, layout, np.float32), np.int32)
    fan_in = int(np.prod(case.kernel)) * (ws[-2] if layout == "NHWC" else ws[1])
    x = rng.standard_normal(xs, np.float32)
    w = rng.standard_normal(ws, np.float32) / np.float32(np.sqrt(fan_in))
    ct = rng.standard_normal(out_shape(case, layout, np.float32), np.float32)
    return tuple(np.asarray(jnp.asarray(a, dtype)) for a in (x, w, ct))


def flops(case: Case, layout: str, direction: str) -> int:
    """Floating-point operations (2 per multiply-add) of the direct algorithm.

    Forward: ``2·N·prod(out)·O·(C/groups)·prod(K)``; transposed: ``2·N·prod(in)·C·O·prod(K)``
    (each input element meets each kernel element once; the inserted zeros are not
    counted). The backward pass (input and kernel gradients) costs twice the forward.
    """
    taps = int(np.prod(case.kernel))
    if case.transposed:
        fwd = 2 * case.batch * int(np.prod(case.in_spatial)) * case.in_channels
        fwd *= case.out_channels * taps
    else:
        outs = int(np.prod(_out_spatial(case, layout)))
        fwd = 2 * case.batch * outs * case.out_channels * (case.in_channels // case.groups) * taps
    return fwd if direction == "fwd" else 3 * fwd


def chosen_strategy(
    case: Case, layout: str, dtype: Any, strategy: str = "auto", direction: str = "fwd"
) -> str:
    """The strategy jaxconv runs for ``case`` forward (the forced one unless ``'auto'`` or
    ``'tune'``); with ``direction='fwd+bwd'``, the one ``'auto'`` runs on a floating ``case``
    where it is differentiated (:func:`jaxconv._policy.differentiated_choice`)."""
    if strategy not in ("auto", "tune"):
        return strategy
    dtype = case.dtype or dtype
    if direction == "fwd+bwd" and strategy == "auto" and jnp.issubdtype(dtype, jnp.floating):
        from jaxconv import _policy

        name, plan = _policy.decide(plan_of(case, layout), "auto", dtype)
        return name if plan.is_empty else _policy.differentiated_choice(plan, name, dtype)
    xs, ws = shapes(case, layout)
    x, w = jax.ShapeDtypeStruct(xs, dtype), jax.ShapeDtypeStruct(ws, dtype)
    dn = dimension_numbers(case, layout)
    ones = (1,) * case.rank
    pet = preferred(case)
    if case.transposed:
        return jaxconv.chosen_strategy(
            x, w, ones, case.padding, case.strides, None, dn, 1, 1, strategy=strategy,
            preferred_element_type=pet,
        )  # fmt: skip
    return jaxconv.chosen_strategy(
        x, w, case.strides, case.padding, case.lhs_dilation, case.dilation, dn, case.groups, 1,
        strategy=strategy, preferred_element_type=pet,
    )  # fmt: skip


def strategies_for(case: Case, layout: str) -> list[str]:
    """The strategies worth timing on ``case``: those that accept its plan (on its own
    dtype, where it has one) and are not hopeless (:func:`jaxconv._strategies.feasible`),
    as ``strategy=`` would run them."""
    from jaxconv import _policy, _strategies

    plan = plan_of(case, layout)
    return [
        name
        for name in _strategies.STRATEGIES
        if not (name == "direct" and plan.is_depthwise)  # the same function as depthwise
        and _strategies.feasible(name, _policy.in_layout(plan, name), case.dtype)
    ]


# ---------------------------------------------------------------------------------------
# Measurement


def _compile(fn: Callable, *args: Any) -> tuple[Any, float, int | None]:
    """``(compiled, seconds to trace+lower+compile, XLA temp bytes or None)``."""
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    seconds = time.perf_counter() - t0
    try:
        temp = int(compiled.memory_analysis().temp_size_in_bytes)
    except (AttributeError, TypeError, NotImplementedError):
        temp = None
    return compiled, seconds, temp


def program_text(compiled: Any) -> str:
    """The HLO of a compiled program without its debug information (op metadata, the tables
    of source files, functions and stack frames): the same text for two strategies that
    compile to the same program."""
    lines = compiled.as_text().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(("%", "ENTRY"))), 0)
    return re.sub(r", metadata=\{[^}]*\}", "", "\n".join(lines[start:]))


def _timed(fn: Callable, *args: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - t0


def time_interleaved(fns: Sequence[Callable], args: Sequence[Any], reps: int) -> list[list[float]]:
    """Seconds per call of each of ``fns`` on ``args``, ``reps`` rounds, interleaved: each
    round calls every function once, the starting one rotating from round to round."""
    times: list[list[float]] = [[] for _ in fns]
    for r in range(reps):
        for k in range(len(fns)):
            i = (r + k) % len(fns)
            times[i].append(_timed(fns[i], *args)[1])
    return times


SPREAD = 0.3
"""A case whose times spread more than this (interquartile range over median) gets more
rounds, up to its time budget."""


def spread(seconds: Sequence[float]) -> float:
    """The interquartile range of ``seconds`` over their median."""
    q25, q50, q75 = np.percentile(np.asarray(seconds), [25, 50, 75])
    return float((q75 - q25) / q50) if q50 > 0 else 0.0


def time_adaptive(
    fns: Sequence[Callable], args: Sequence[Any], reps: int, budget_s: float, most: int = 10
) -> list[list[float]]:
    """:func:`time_interleaved` for ``reps`` rounds, then more rounds (up to ``most`` times
    as many) while any function's :func:`spread` exceeds :data:`SPREAD` and the rounds so
    far took less than ``budget_s`` seconds."""
    t0 = time.perf_counter()
    times = time_interleaved(fns, args, reps)
    rounds = reps
    while (
        max(spread(t) for t in times) > SPREAD
        and time.perf_counter() - t0 < budget_s
        and rounds < most * reps
    ):
        # one round more, its first function rotating on as in time_interleaved's rounds
        first = rounds % len(fns)
        for j, t in enumerate(time_interleaved([*fns[first:], *fns[:first]], args, 1)):
            times[(first + j) % len(fns)] += t
        rounds += 1
    return times


def errors(got: Sequence[Any], want: Sequence[Any]) -> tuple[float, float]:
    """``(max abs error, max relative error)`` over all outputs; an output's relative error
    is ``max|got - want| / max|want|`` (float32 arithmetic; float64 for integers)."""
    max_abs = max_rel = 0.0
    for g, w in zip(got, want, strict=True):
        exact = np.issubdtype(np.asarray(w).dtype, np.integer)
        g = np.asarray(g, np.float64 if exact else np.float32)
        w = np.asarray(w, np.float64 if exact else np.float32)
        if g.shape != w.shape:
            return float("inf"), float("inf")
        if w.size == 0:
            continue
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(w))):
            return float("inf"), float("inf")
        err = float(np.max(np.abs(g - w)))
        scale = float(np.max(np.abs(w)))
        max_abs = max(max_abs, err)
        max_rel = max(max_rel, err / scale if scale > 0 else err)
    return max_abs, max_rel


def float64_reference(ref: Callable[..., Any], host_args: Sequence[Any]) -> list[np.ndarray]:
    """``ref``'s outputs on ``host_args`` computed in float64 on the CPU, with x64 enabled
    only for this call (the global setting is left alone)."""
    cpu = jax.devices("cpu")[0]
    with jax.enable_x64(True):
        args = [jax.device_put(np.asarray(a, np.float64), cpu) for a in host_args]
        return [np.asarray(o) for o in jax.jit(ref)(*args)]


def check(
    label: str,
    got: Sequence[Any],
    want: Sequence[Any],
    tol: float,
    reference: Callable[[], Sequence[Any]] | None = None,
) -> tuple[float, float]:
    """:func:`errors`, raising :class:`VerificationError` when the relative error exceeds
    ``tol`` (or an output is not finite, or the shapes differ).

    Where jaxconv and lax disagree, ``reference()`` (the float64 answer) says which is
    wrong: if only lax is, this warns with :class:`LaxDisagreement` ("lax disagrees with the
    float64 reference here") and returns jaxconv's errors against the float64 reference.
    """
    max_abs, max_rel = errors(got, want)
    if not max_rel <= tol and reference is not None:
        exact = reference()
        ours, theirs = errors(got, exact), errors(want, exact)
        if ours[1] <= tol and not theirs[1] <= tol:
            warnings.warn(
                f"{label}: lax disagrees with the float64 reference here (max relative error "
                f"{theirs[1]:.3g}; jaxconv's {ours[1]:.3g}): XLA's convolution is known to be "
                "wrong for some paddings (openxla/xla#48713); errors recorded against float64.",
                LaxDisagreement,
                stacklevel=2,
            )
            return ours
    if not max_rel <= tol:
        shapes_ = [tuple(np.shape(g)) for g in got], [tuple(np.shape(w)) for w in want]
        raise VerificationError(
            f"{label}: jaxconv disagrees with lax: max abs error {max_abs:.3g}, max relative "
            f"error {max_rel:.3g} > tolerance {tol:.3g} (output shapes {shapes_[0]} vs "
            f"{shapes_[1]})."
        )
    return max_abs, max_rel


def _stats(seconds: Sequence[float]) -> tuple[float, float, float]:
    ms = np.asarray(seconds) * 1e3
    return float(np.median(ms)), float(np.min(ms)), float(np.max(ms))


def choose_reps(max_reps: int, per_round_s: float, budget_s: float) -> int:
    """At most ``max_reps`` rounds, fewer when a round is slow, never fewer than 3."""
    if per_round_s <= 0:
        return max_reps
    return int(max(min(max_reps, 3), min(max_reps, budget_s // per_round_s)))


def measure_peak(device: Any, dtype: Any, reps: int = 8) -> float:
    """The device's matmul throughput in GFLOP/s: the fastest of ``reps`` calls of a large
    square ``dot`` of ``dtype`` (2048 on CPU, 8192 on accelerators), jitted, warm-up
    excluded. The fastest rather than the median call, since a peak is what the best
    conditions allow."""
    n = 2048 if device.platform == "cpu" else 8192
    rng = np.random.default_rng(1)
    a = jax.device_put(jnp.asarray(rng.standard_normal((n, n), np.float32), dtype), device)
    b = jax.device_put(jnp.asarray(rng.standard_normal((n, n), np.float32), dtype), device)
    # Integers as their convolutions multiply them: int32 sums.
    integer = jnp.issubdtype(dtype, jnp.integer)
    dot = functools.partial(jnp.dot, preferred_element_type=jnp.int32) if integer else jnp.dot
    compiled, _, _ = _compile(dot, a, b)
    _timed(compiled, a, b)
    (seconds,) = time_interleaved([compiled], (a, b), reps)
    return 2 * n**3 / float(np.min(seconds)) / 1e9


def case_fields(case: Case, layout: str) -> dict[str, Any]:
    """The shape fields of a record (see :data:`jaxconv._bench.report.SCHEMA`)."""
    padding = case.padding if isinstance(case.padding, str) else [list(p) for p in case.padding]
    return {
        "case": case.name, "kind": case.kind, "rank": case.rank, "batch": case.batch,
        "in_spatial": list(case.in_spatial), "out_spatial": list(_out_spatial(case, layout)),
        "in_channels": case.in_channels, "out_channels": case.out_channels,
        "kernel": list(case.kernel), "strides": list(case.strides), "padding": padding,
        "dilation": list(case.rhs_dilation), "lhs_dilation": list(case.input_dilation),
        "groups": case.groups, "transposed": case.transposed,
    }  # fmt: skip


def padded_input_bytes(case: Case, layout: str, dtype: Any) -> int:
    """Bytes of the input padded (and input-dilated) as the convolution reads it."""
    plan = plan_of(case, layout)
    padded = int(np.prod(plan.padded_in))
    return padded * plan.batch * plan.in_features * jnp.dtype(dtype).itemsize


def memory_fields(
    jc_temp: int | None, lax_temp: int | None, output_bytes: int, padded: int
) -> dict[str, Any]:
    """The memory bound's fields: ``temp <= 2 * lax temp + output + padded input``."""
    bound = None if lax_temp is None else 2 * lax_temp + output_bytes + padded
    within = None if bound is None or jc_temp is None else bool(jc_temp <= bound)
    return {"padded_input_bytes": padded, "temp_bound_bytes": bound, "within_bound": within}


def memory_case(
    suite: str, case: Case, device: Any, dtype: Any, layout: str, direction: str
) -> dict[str, Any]:
    """Compile ``case`` (jaxconv's ``auto`` and lax) for ``device`` without running it: the
    record of :func:`run_case` with XLA's temp bytes and the bound, and no timings."""
    dtype = jnp.dtype(dtype)
    xs, ws = shapes(case, layout)
    out = out_shape(case, layout, dtype)
    args = [jax.ShapeDtypeStruct(s, dtype, sharding=jax.sharding.SingleDeviceSharding(device))
            for s in (xs, ws, out)]  # fmt: skip
    _, jc_compile, jc_temp = _compile(program(jaxconv_impl(case, layout), direction), *args)
    _, lax_compile, lax_temp = _compile(program(lax_impl(case, layout), direction), *args)
    outputs = [out] if direction == "fwd" else [out, xs, ws]
    output_bytes = int(sum(np.prod(s) for s in outputs)) * dtype.itemsize
    nothing = dict.fromkeys(
        ["jaxconv_ms", "jaxconv_min_ms", "jaxconv_max_ms", "lax_ms", "lax_min_ms", "lax_max_ms",
         "ratio", "min_ratio", "spread", "gflops", "lax_gflops", "peak_gflops", "peak_fraction",
         "lax_peak_fraction", "max_abs_error", "max_rel_error", "tolerance"]
    )  # fmt: skip
    return {
        **_device_fields([device]),
        "suite": suite, **case_fields(case, layout),
        "dtype": dtype.name, "layout": layout, "direction": direction,
        "strategy": chosen_strategy(case, layout, dtype, direction=direction), "auto_strategy":
        chosen_strategy(case, layout, dtype, direction=direction), **nothing, "reps": 0,
        "flops": flops(case, layout, direction),
        "jaxconv_temp_bytes": jc_temp, "lax_temp_bytes": lax_temp, "output_bytes": output_bytes,
        **memory_fields(jc_temp, lax_temp, output_bytes,
                        padded_input_bytes(case, layout, dtype)),
        "jaxconv_compile_s": jc_compile, "lax_compile_s": lax_compile,
        **UNSHARDED,
    }  # fmt: skip


UNSHARDED = {
    "sharded": None,
    "single_jaxconv_ms": None,
    "single_lax_ms": None,
    "scaling": None,
    "lax_scaling": None,
    "collectives": None,
}
"""The sharded-run fields of a record on one device."""

COLLECTIVES = ("collective-permute", "all-gather", "all-to-all", "all-reduce")


def count_collectives(hlo: str) -> dict[str, int]:
    """How many of each of :data:`COLLECTIVES` a compiled program's HLO text holds (an
    asynchronous pair ``op-start``/``op-done`` counts once)."""
    return {op: len(re.findall(rf"= [^=\n]*? {op}(-start)?\(", hlo)) for op in COLLECTIVES}


def _device_fields(devices: Sequence[Any]) -> dict[str, Any]:
    d = devices[0]
    name = f"{d.platform}:{d.id}" if len(devices) == 1 else f"{d.platform}:mesh[{len(devices)}]"
    return {
        "device": name, "platform": d.platform, "device_kind": d.device_kind,
        "num_devices": len(devices), "num_processes": jax.process_count(),
        "jax_version": jax.__version__, "jaxconv_version": jaxconv.__version__,
    }  # fmt: skip


def _timing_fields(
    case: Case, layout: str, direction: str, jc_s: Sequence[float], lax_s: Sequence[float],
    peak_gflops: float | None,
) -> dict[str, Any]:  # fmt: skip
    jc_ms, jc_min, jc_max = _stats(jc_s)
    lax_ms, lax_min, lax_max = _stats(lax_s)
    fl = flops(case, layout, direction)
    gflops, lax_gflops = fl / jc_ms / 1e6, fl / lax_ms / 1e6
    return {
        "jaxconv_ms": jc_ms, "jaxconv_min_ms": jc_min, "jaxconv_max_ms": jc_max,
        "lax_ms": lax_ms, "lax_min_ms": lax_min, "lax_max_ms": lax_max,
        "reps": len(jc_s), "ratio": jc_ms / lax_ms, "min_ratio": jc_min / lax_min,
        "spread": max(spread(jc_s), spread(lax_s)), "flops": fl,
        "gflops": gflops, "lax_gflops": lax_gflops, "peak_gflops": peak_gflops,
        "peak_fraction": gflops / peak_gflops if peak_gflops else None,
        "lax_peak_fraction": lax_gflops / peak_gflops if peak_gflops else None,
    }  # fmt: skip


def run_case(
    suite: str,
    case: Case,
    device: Any,
    dtype: Any,
    layout: str,
    direction: str,
    *,
    reps: int = 10,
    budget_s: float = 1.0,
    strategy: str = "auto",
    peak_gflops: float | None = None,
    impl: Implementation = jaxconv_impl,
) -> dict[str, Any]:
    """Verify and time one case on one device; the record described by ``report.SCHEMA``.

    Args:
        suite, case: the case and the suite it came from.
        device: a ``jax.Device``; inputs are committed to it, so both programs run there.
        dtype: input, kernel and output dtype.
        layout: ``'NHWC'`` (channels-last) or ``'NCHW'`` (channels-first).
        direction: ``'fwd'`` or ``'fwd+bwd'``.
        reps: timed rounds; fewer (at least 3) when one round exceeds ``budget_s / reps``
            seconds, more (see :func:`time_adaptive`) when the times spread widely.
        budget_s: the timing budget of the case, seconds.
        strategy: forwarded to ``impl`` (jaxconv's ``strategy=``).
        peak_gflops: the device's matmul GFLOP/s for ``peak_fraction``.
        impl: builds the convolution under test; tests pass a wrong one here.

    Raises:
        VerificationError: when the outputs (and, for ``fwd+bwd``, both gradients) differ
            from lax's by more than :func:`tolerance`.
    """
    return run_case_strategies(
        suite, case, device, dtype, layout, direction, [strategy], reps=reps,
        budget_s=budget_s, peak_gflops=peak_gflops, impl=impl,
    )[0]  # fmt: skip


def run_case_strategies(
    suite: str,
    case: Case,
    device: Any,
    dtype: Any,
    layout: str,
    direction: str,
    strategies: Sequence[str],
    *,
    reps: int = 10,
    budget_s: float = 1.0,
    peak_gflops: float | None = None,
    impl: Implementation = jaxconv_impl,
) -> list[dict[str, Any]]:
    """:func:`run_case` for several strategies at once: each is verified, then all of them
    and lax are timed interleaved in the same rounds (those that compile to the same
    program, :func:`program_text`, once); one record per strategy, all sharing lax's
    times. With ``fwd+bwd`` a strategy is forced on the forward convolution; the gradients'
    convolutions run ``auto``'s choice (``tune``'s, for ``'tune'``)."""
    dtype = jnp.dtype(dtype)
    host = make_inputs(case, layout, dtype)
    args = tuple(jax.device_put(a, device) for a in host)
    ref = program(lax_impl(case, layout), direction)
    lx, lax_compile, lax_temp = _compile(ref, *args)
    want, warm = _timed(lx, *args)
    tol = tolerance(dtype, device.platform)
    exact = functools.partial(float64_reference, ref, host)
    compiled, checked = [], []
    for strategy in strategies:
        label = f"{suite}/{case.name} [{dtype.name}, {layout}, {direction}, {device}, {strategy}]"
        ours = program(impl(case, layout, strategy), direction)
        jc, jc_compile, jc_temp = _compile(ours, *args)
        got, jc_warm = _timed(jc, *args)
        checked.append((check(label, got, want, tol, exact), jc_compile, jc_temp))
        compiled.append(jc)
        warm += jc_warm
    n = choose_reps(reps, warm, budget_s)
    # Strategies that compile to the same program are timed once and share its times:
    # their differences would be noise (a 1x1 layer's taps and rows, one dot each, measured
    # 0.69x and 0.40x lax in the same rounds), and a regret against the fastest of several
    # copies would count the noise as the choice's.
    owner = {}
    first = [owner.setdefault(program_text(jc), i) for i, jc in enumerate(compiled)]
    unique = sorted(set(first))
    *unique_times, lax_s = time_adaptive([*(compiled[i] for i in unique), lx], args, n, budget_s)
    times_of = dict(zip(unique, unique_times, strict=True))
    jc_times = [times_of[i] for i in first]
    auto = chosen_strategy(case, layout, dtype, direction=direction)
    output_bytes = int(sum(np.asarray(o).nbytes for o in want))
    padded = padded_input_bytes(case, layout, dtype)
    records = []
    for strategy, jc_s, ((max_abs, max_rel), jc_compile, jc_temp) in zip(
        strategies, jc_times, checked, strict=True
    ):
        records.append({
            **_device_fields([device]),
            "suite": suite, **case_fields(case, layout),
            "dtype": dtype.name, "layout": layout, "direction": direction,
            "strategy": chosen_strategy(case, layout, dtype, strategy, direction),
            "auto_strategy": auto,
            **_timing_fields(case, layout, direction, jc_s, lax_s, peak_gflops),
            "jaxconv_temp_bytes": jc_temp, "lax_temp_bytes": lax_temp,
            "output_bytes": output_bytes,
            **memory_fields(jc_temp, lax_temp, output_bytes, padded),
            "jaxconv_compile_s": jc_compile, "lax_compile_s": lax_compile,
            "max_abs_error": max_abs, "max_rel_error": max_rel, "tolerance": tol,
            **UNSHARDED,
        })  # fmt: skip
    return records


def run_data_parallel(
    suite: str,
    case: Case,
    devices: Sequence[Any],
    dtype: Any,
    layout: str,
    direction: str,
    *,
    reps: int = 10,
    strategy: str = "auto",
    peak_gflops: float | None = None,
    impl: Implementation = jaxconv_impl,
    sharded: str = "batch",
) -> dict[str, Any]:
    """``case`` with its batch (``sharded='batch'``) or its first spatial dim
    (``'spatial'``) split over ``devices`` (one mesh axis; the kernel replicated), against
    the same global arrays on one device (strong scaling), and lax sharded the same way.

    Works unchanged across processes under ``jax.distributed``: every process builds the
    same global arrays from the same seed and hands over its own shards; the one-device
    baseline is timed by process 0 on its first local device; the sharded outputs are
    gathered to every process and checked there against lax's one-device answer. The
    number of rounds is ``reps`` exactly, the same in every process.

    Returns:
        A record as :func:`run_case`'s, with ``jaxconv_ms``/``lax_ms`` the sharded times,
        ``single_*_ms`` the one-device times (process 0 only; ``None`` elsewhere),
        ``scaling = single_jaxconv_ms / jaxconv_ms`` (``lax_scaling`` likewise) and the
        collectives XLA compiled into both sharded programs.
    """
    from jax.experimental import multihost_utils
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    dtype = jnp.dtype(dtype)
    label = f"{suite}/{case.name} [{dtype.name}, {layout}, {direction}, {len(devices)} devices]"
    host = make_inputs(case, layout, dtype)
    ours = program(impl(case, layout, strategy), direction)
    ref = program(lax_impl(case, layout), direction)
    tol = tolerance(dtype, devices[0].platform)

    # One device: lax's answer in every process, timings in process 0.
    local = jax.local_devices()[0]
    single = tuple(jax.device_put(a, local) for a in host)
    lx1, _, _ = _compile(ref, *single)
    want = jax.device_get(lx1(*single))
    single_jc = single_lax = None
    if jax.process_index() == 0:
        jc1, _, _ = _compile(ours, *single)
        _timed(jc1, *single)
        s_jc, s_lax = time_interleaved([jc1, lx1], single, reps)
        single_jc, single_lax = _stats(s_jc)[0], _stats(s_lax)[0]
    multihost_utils.sync_global_devices("jaxconv-bench-single-done")

    # All devices: the batch or the first spatial dim on the mesh axis, the kernel replicated.
    mesh = Mesh(np.asarray(devices), (sharded,))
    first = 2 if layout == "NCHW" else 1  # the first spatial axis of x and of the output
    split = NamedSharding(mesh, PartitionSpec(*[None] * (first if sharded == "spatial" else 0),
                                              sharded))  # fmt: skip
    replicated = NamedSharding(mesh, PartitionSpec())
    shardings = (split, replicated, split)
    args = tuple(
        jax.make_array_from_callback(a.shape, s, lambda idx, a=a: a[idx])
        for a, s in zip(host, shardings, strict=True)
    )
    jc, jc_compile, jc_temp = _compile(ours, *args)
    lx, lax_compile, lax_temp = _compile(ref, *args)
    collectives = {"jaxconv": count_collectives(jc.as_text()),
                   "lax": count_collectives(lx.as_text())}  # fmt: skip
    _timed(jc, *args)
    _timed(lx, *args)
    got = [multihost_utils.process_allgather(o, tiled=True) for o in jc(*args)]
    max_abs, max_rel = check(label, got, want, tol, functools.partial(float64_reference, ref, host))
    jc_s, lax_s = time_interleaved([jc, lx], args, reps)
    timing = _timing_fields(case, layout, direction, jc_s, lax_s, peak_gflops)
    if peak_gflops:  # the peak is one device's: compare against all of them
        timing["peak_fraction"] /= len(devices)
        timing["lax_peak_fraction"] /= len(devices)
    return {
        **_device_fields(devices),
        "suite": suite, **case_fields(case, layout),
        "dtype": dtype.name, "layout": layout, "direction": direction,
        # On a mesh the convolution is one partitioned op whose gradients run the forward
        # pass's strategy (no differentiated choice): the forward's names.
        "strategy": chosen_strategy(case, layout, dtype, strategy),
        "auto_strategy": chosen_strategy(case, layout, dtype),
        **timing,
        "jaxconv_temp_bytes": jc_temp, "lax_temp_bytes": lax_temp,
        "output_bytes": int(sum(np.asarray(o).nbytes for o in want)),
        **memory_fields(jc_temp, lax_temp, int(sum(np.asarray(o).nbytes for o in want)),
                        padded_input_bytes(case, layout, dtype)),
        "jaxconv_compile_s": jc_compile, "lax_compile_s": lax_compile,
        "max_abs_error": max_abs, "max_rel_error": max_rel, "tolerance": tol,
        "sharded": sharded, "single_jaxconv_ms": single_jc, "single_lax_ms": single_lax,
        "scaling": single_jc / timing["jaxconv_ms"] if single_jc else None,
        "lax_scaling": single_lax / timing["lax_ms"] if single_lax else None,
        "collectives": collectives,
    }  # fmt: skip
