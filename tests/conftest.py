"""Shared test configuration: XLA's compile flags, strict promotion, one tolerance table,
random operands."""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

# Compiling takes most of the suite's time, so the tests compile the same optimized HLO into
# the same buffers, faster: with XLA:CPU's elemental emitters instead of its MLIR fusion
# emitters (~10 ms per fusion, half that; the whole suite on 2 cores: 22.6 -> 15.7 min), and
# with LLVM's optimization level 1 (test_core_transforms and test_rules: 98 -> 84 s; the
# values and gradients of seven strategies on a 3x3 layer were bit for bit those of XLA's
# defaults). JAXCONV_TEST_XLA_DEFAULTS=1 runs them on XLA's defaults. Set before XLA starts
# (it reads XLA_FLAGS then, not when jax is imported), inherited by xdist's workers and the
# tests' subprocesses, and only where this jaxlib knows the flags (XLA aborts on an unknown
# one).
COMPILE_FLAGS = "--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=1"


def _compile_faster() -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    if os.environ.get("JAXCONV_TEST_XLA_DEFAULTS") == "1" or "fusion_emitters" in flags:
        return
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import jax; jax.devices()"],
            env={**os.environ, "XLA_FLAGS": f"{flags} {COMPILE_FLAGS}"},
            capture_output=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        return
    if probe.returncode == 0:
        os.environ["XLA_FLAGS"] = f"{flags} {COMPILE_FLAGS}".strip()


_compile_faster()

# Flax's initializers draw their random bits with JAX's default (partitionable) threefry,
# which XLA:CPU compiles in 2-5 s for each new 4-d kernel shape, against 0.3 s for the
# original one (jax 0.10). The tests build Flax modules of many shapes, so they draw with
# the original (test_nnx and test_linen on 2 cores: 171 -> 63 s). Only which random
# parameters a module starts from changes (jaxconv's modules draw theirs with Flax's
# initializers), and both sides of every comparison share them. Here and, through the
# environment, in the tests' subprocesses.
# A value set in the environment was read when jax was imported, and stays.
if (
    "JAX_THREEFRY_PARTITIONABLE" not in os.environ
    and "jax_threefry_partitionable" in jax.config.values
):
    os.environ["JAX_THREEFRY_PARTITIONABLE"] = "0"
    jax.config.update("jax_threefry_partitionable", False)

# The modules of the longest tests (subprocesses of 30 s to 1.5 min) run first: xdist hands
# out tests in collection order, and one such test left for the end keeps one worker busy
# while the other has nothing left to run.
LONG_FIRST = ("test_shard.py", "test_distributed.py", "test_bench_models.py", "test_bench.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in LONG_FIRST)  # stable: order kept within


# Silent rank broadcasting anywhere in jaxconv (or a test) becomes an error.
jax.config.update("jax_numpy_rank_promotion", "raise")

HIGHEST = lax.Precision.HIGHEST

# One tolerance table for every comparison against a reference. float32 comparisons run at
# Precision.HIGHEST on both sides; int32 is exact.
TOLERANCES: dict[np.dtype, dict[str, float]] = {
    np.dtype(np.float64): {"rtol": 1e-12, "atol": 1e-12},
    np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-5},
    np.dtype(jnp.bfloat16): {"rtol": 2e-2, "atol": 5e-2},
    np.dtype(np.float16): {"rtol": 2e-3, "atol": 5e-3},
    np.dtype(np.int32): {"rtol": 0.0, "atol": 0.0},
    np.dtype(np.complex64): {"rtol": 1e-5, "atol": 1e-5},
}


def tolerance(dtype) -> dict[str, float]:
    """``rtol``/``atol`` for comparing arrays of ``dtype``."""
    return TOLERANCES[np.dtype(dtype)]


def assert_close(actual, expected, dtype=None) -> None:
    """Same shape and dtype, and values within the table's tolerance for ``dtype``."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    dtype = np.dtype(dtype or expected.dtype)
    if dtype == np.dtype(jnp.bfloat16) or dtype == np.float16:
        actual, expected = actual.astype(np.float32), expected.astype(np.float32)
    np.testing.assert_allclose(actual, expected, **tolerance(dtype))


def random_array(rng: np.random.Generator, shape: Sequence[int], dtype=np.float32) -> np.ndarray:
    """Random values of ``dtype``: small integers for int dtypes, uniform in [-1, 1] otherwise."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        return rng.integers(-3, 4, size=shape).astype(dtype)
    if np.issubdtype(dtype, np.complexfloating):
        re, im = rng.uniform(-1, 1, size=(2, *shape))
        return (re + 1j * im).astype(dtype)
    return rng.uniform(-1, 1, size=shape).astype(np.float32).astype(dtype)


def layout_shape(layout: str, sizes: Mapping[str, int]) -> tuple[int, ...]:
    """The shape of an array laid out as ``layout`` with ``sizes[letter]`` along each letter."""
    return tuple(sizes[c] for c in layout)


def random_conv_operands(
    rng: np.random.Generator,
    dimension_numbers: tuple[str, str, str],
    *,
    batch: int,
    in_features: int,
    out_features: int,
    in_spatial: Sequence[int],
    kernel: Sequence[int],
    feature_group_count: int = 1,
    dtype=np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Random ``(lhs, rhs)`` for the layouts ``dimension_numbers``.

    Sizes are canonical: ``in_spatial`` and ``kernel`` are listed in the order of the kernel
    layout's spatial letters (the order lax takes strides and padding in).
    """
    lhs_spec, rhs_spec, _ = dimension_numbers
    spatial = [c for c in rhs_spec if c not in "OI"]
    lhs_sizes = {"N": batch, "C": in_features, **dict(zip(spatial, in_spatial, strict=True))}
    rhs_sizes = {
        "O": out_features,
        "I": in_features // feature_group_count,
        **dict(zip(spatial, kernel, strict=True)),
    }
    lhs = random_array(rng, layout_shape(lhs_spec, lhs_sizes), dtype)
    rhs = random_array(rng, layout_shape(rhs_spec, rhs_sizes), dtype)
    return lhs, rhs


def spatial_letters(num_spatial: int) -> str:
    """``W``, ``HW`` or ``DHW``."""
    return {1: "W", 2: "HW", 3: "DHW"}[num_spatial]


def conv_plan(
    lhs_shape: Sequence[int],
    rhs_shape: Sequence[int],
    dimension_numbers,
    window_strides: Sequence[int],
    padding,
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
):
    """jaxconv's checked plan for these ``conv_general_dilated`` arguments (to ask
    ``jaxconv._strategies.accepts`` which strategies can run them)."""
    from jaxconv._plan import make_plan

    return make_plan(
        lhs_shape,
        rhs_shape,
        window_strides,
        padding,
        lhs_dilation,
        rhs_dilation,
        dimension_numbers,
        feature_group_count,
        batch_group_count,
        "zeros",
    )


def jitted(fn):
    """``fn`` run under ``jax.jit`` with its array arguments traced and all others static.

    Compiling one program is much cheaper than running jaxconv's many small ops eagerly.
    """

    @functools.wraps(fn)
    def call(*args, **kwargs):
        is_array = [isinstance(a, np.ndarray | jax.Array) for a in args]
        arrays = [a for a, b in zip(args, is_array, strict=True) if b]

        def inner(*traced):
            it = iter(traced)
            return fn(
                *(next(it) if b else a for a, b in zip(args, is_array, strict=True)), **kwargs
            )

        return jax.jit(inner)(*arrays)

    return call


@functools.partial(jax.jit, static_argnums=0)
def second_derivatives(f, x, w, tx, tw, ct):
    """``f(x, w)``'s second derivatives in every composition of modes, as one program: the
    Hessian-vector product of ``sum(sin(f))`` along ``(tx, tw)`` forward over reverse and
    reverse over reverse, and ``f``'s jvp along ``(tx, tw)`` differentiated forward (along
    the same tangents) and in reverse (against ``ct``)."""

    def loss(x, w):
        return jnp.sum(jnp.sin(f(x, w)))

    grad = jax.grad(loss, (0, 1))

    def along(x, w):
        gx, gw = grad(x, w)
        return jnp.vdot(gx, tx) + jnp.vdot(gw, tw)

    def jvp(x, w):
        return jax.jvp(f, (x, w), (tx, tw))[1]

    return (
        *jax.jvp(grad, (x, w), (tx, tw))[1],
        *jax.grad(along, (0, 1))(x, w),
        jax.jvp(jvp, (x, w), (tx, tw))[1],
        *jax.vjp(jvp, x, w)[1](ct),
    )


def random_tangents(f, x, w, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Random ``(tx, tw, ct)``: tangents for ``x`` and ``w`` and a cotangent for ``f(x, w)``,
    each in its operand's shape and dtype."""
    y = jax.eval_shape(f, x, w)
    return tuple(random_array(rng, a.shape, a.dtype) for a in (x, w, y))


def assert_second_order_matches(ours, ref, x, w, rng: np.random.Generator) -> None:
    """``ours``'s second derivatives (:func:`second_derivatives`, random tangents and
    cotangent) equal ``ref``'s: two compiled programs, where ``check_grads`` compiles a
    dozen and compares with finite differences."""
    tangents = random_tangents(ref, x, w, rng)
    got = second_derivatives(ours, x, w, *tangents)
    want = second_derivatives(ref, x, w, *tangents)
    for g, e in zip(got, want, strict=True):
        assert_close(g, e)


REPO = Path(__file__).resolve().parents[1]


def load_script(path: str):
    """The module of a script outside the package (``path`` from the repository's root,
    e.g. ``'benchmarks/rules_loso.py'``), imported by file."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def hand_rules(monkeypatch):
    """``auto`` as it was before it was fitted on measurements: jaxconv's hand-written rules
    (``_policy.hand_choice``, Winograd and small groups channels-first). Tests that must
    reach a given strategy's gradient or layout path pin them, so that a refit of the rules
    cannot silently move them elsewhere."""
    from jaxconv import _policy

    def choose(
        plan, dtype=None, *, decide_layout=False, differentiated=False, input_gradient=False
    ):
        # (the hand rules made no differentiated or input-gradient choice of their own)
        if decide_layout and plan.padding_mode == "zeros" and plan.features_first:
            name = _policy.channels_first_choice(plan._replace(channels_first=True))
            if name is not None:
                return name
        return _policy.hand_choice(plan)

    monkeypatch.setattr(_policy, "choose", choose)


def numpy_conv_nhwc(x, w, strides=(1, 1), pads=((0, 0), (0, 0)), groups=1) -> np.ndarray:
    """The 2-d cross-correlation by its definition, in float64 numpy: ``x (N, H, W, C)``,
    ``w (kh, kw, C // groups, O)``, explicit ``(low, high)`` pads (negative ones crop)."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    for axis, (lo, hi) in zip((1, 2), pads, strict=True):
        x = np.pad(x, [(max(lo, 0), max(hi, 0)) if a == axis else (0, 0) for a in range(4)])
        x = x.take(range(max(-lo, 0), x.shape[axis] - max(-hi, 0)), axis=axis)
    kh, kw, ci, o = w.shape
    oh = (x.shape[1] - kh) // strides[0] + 1
    ow = (x.shape[2] - kw) // strides[1] + 1
    og = o // groups
    out = np.zeros((x.shape[0], oh, ow, o))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * strides[0] : i * strides[0] + kh, j * strides[1] : j * strides[1] + kw]
            for g in range(groups):
                p = patch[..., g * ci : (g + 1) * ci]
                out[:, i, j, g * og : (g + 1) * og] = np.einsum(
                    "nabc,abco->no", p, w[..., g * og : (g + 1) * og]
                )
    return out
