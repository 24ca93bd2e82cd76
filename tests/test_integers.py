"""Integer convolutions against lax, bit for bit: int8 and int16 over their whole range,
with ``preferred_element_type=jnp.int32`` and with lax's default (the input's dtype, whose
sums wrap around as two's complement arithmetic does)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jaxconv
from jaxconv import _strategies
from jaxconv._plan import make_plan

CASES = {
    "dense_3x3": dict(x=(2, 9, 8, 16), w=(3, 3, 16, 8), window_strides=(1, 1), padding="SAME"),
    "strided": dict(
        x=(2, 9, 8, 4), w=(3, 2, 4, 6), window_strides=(2, 3), padding=((1, 2), (0, 1))
    ),
    "depthwise": dict(
        x=(2, 7, 7, 4), w=(3, 3, 1, 8), window_strides=(1, 1), padding="SAME", feature_group_count=4
    ),
    "grouped": dict(
        x=(2, 7, 6, 8),
        w=(3, 3, 4, 6),
        window_strides=(1, 2),
        padding="VALID",
        feature_group_count=2,
    ),  # fmt: skip
    "transposed": dict(
        x=(1, 5, 4, 3),
        w=(3, 3, 3, 4),
        window_strides=(1, 1),
        padding=((2, 2), (1, 2)),
        lhs_dilation=(2, 2),
    ),  # fmt: skip
    "winograd": dict(x=(2, 8, 8, 16), w=(3, 3, 16, 16), window_strides=(1, 1), padding="SAME"),
    "1d_long": dict(x=(2, 64, 4), w=(31, 4, 4), window_strides=(1,), padding="SAME"),
    "3d": dict(x=(1, 5, 6, 4, 3), w=(3, 2, 3, 3, 4), window_strides=(1, 2, 1), padding="SAME"),
}

LAYOUTS = {
    3: ("NWC", "WIO", "NWC"),
    4: ("NHWC", "HWIO", "NHWC"),
    5: ("NDHWC", "DHWIO", "NDHWC"),
}


def _full_range(rng, shape, dtype):
    info = jnp.iinfo(dtype)
    return rng.integers(info.min, info.max + 1, size=shape).astype(dtype)


def _strategies_for(case, dtype, preferred):
    kw = {k: v for k, v in case.items() if k not in ("x", "w")}
    dn = LAYOUTS[len(case["x"])]
    plan = make_plan(
        case["x"], case["w"], **kw, dimension_numbers=dn, dtype=dtype,
        preferred_element_type=preferred,
    )  # fmt: skip
    return ["auto"] + [s for s in jaxconv.STRATEGIES if _strategies.accepts(s, plan, dtype)]


@pytest.mark.parametrize("preferred", [jnp.int32, None], ids=["int32", "default"])
@pytest.mark.parametrize("dtype", [np.int8, np.int16])
@pytest.mark.parametrize("name", list(CASES))
def test_exact_against_lax(name, dtype, preferred):
    case = CASES[name]
    rng = np.random.default_rng(len(name))
    x, w = _full_range(rng, case["x"], dtype), _full_range(rng, case["w"], dtype)
    kw = {k: v for k, v in case.items() if k not in ("x", "w")}
    kw.update(dimension_numbers=LAYOUTS[x.ndim], preferred_element_type=preferred)
    want = np.asarray(lax.conv_general_dilated(x, w, **kw))
    strategies = _strategies_for(case, dtype, preferred)

    # Every strategy in one compiled program: one compilation instead of a dozen.
    @jax.jit
    def every(x, w):
        return [jaxconv.conv_general_dilated(x, w, **kw, strategy=s) for s in strategies]

    for strategy, got in zip(strategies, every(x, w), strict=True):
        assert got.dtype == want.dtype, strategy
        np.testing.assert_array_equal(np.asarray(got), want, err_msg=strategy)


def test_winograd_refuses_integer_sums_that_could_reach_2_to_the_29():
    # Its transforms give 4·y modulo 2**32: exact for int8 into int32 while
    # 9·C·128² < 2**29 (C < 3641), never for full-range int16 into int32.
    def plan(c, dtype):
        return make_plan(
            (1, 8, 8, c), (3, 3, c, 4), (1, 1), "SAME", dimension_numbers=LAYOUTS[4],
            dtype=dtype, preferred_element_type=jnp.int32,
        )  # fmt: skip

    assert _strategies.accepts("winograd", plan(3640, np.int8), np.int8)
    assert not _strategies.accepts("winograd", plan(3641, np.int8), np.int8)
    assert not _strategies.accepts("winograd", plan(1, np.int16), np.int16)


def test_fft_never_accepts_integers():
    case = CASES["1d_long"]
    kw = {k: v for k, v in case.items() if k not in ("x", "w")}
    plan = make_plan(case["x"], case["w"], **kw, dimension_numbers=LAYOUTS[3])
    assert _strategies.accepts("fft", plan, np.float32)
    for dtype in (np.int8, np.int16, np.int32, np.uint8):
        assert not _strategies.accepts("fft", plan, dtype)


@pytest.mark.parametrize("dtype", [jnp.int8, jnp.uint8])
@pytest.mark.parametrize("preferred", [None, jnp.int32])
def test_float32_path_is_exact_at_its_bound(dtype, preferred):
    # Integer convolutions whose sums stay within 2^24 run in float32 (XLA:CPU's integer
    # products are plain loops). At the bound every product is the largest the dtype allows
    # (-128 * -128, 255 * 255) and every sum reaches 2^24 (int8: 4x4 taps of 64 features) or
    # just under; one feature more runs in integers. Against numpy in int64.
    info = jnp.iinfo(dtype)
    extreme = int(info.min) if info.min < 0 else int(info.max)
    features = 64 if dtype == jnp.int8 else 16  # uint8: 16 taps * 16 = 256 <= 258
    for c in (features, features + 1):
        xs, ws = (2, 6, 6, c), (4, 4, c, 3)
        kw = dict(window_strides=(1, 1), padding="VALID", dimension_numbers=LAYOUTS[4])
        plan = make_plan(xs, ws, dtype=dtype, **kw)
        assert _strategies.in_float32("taps", plan, dtype) == (c == features)
        x = np.full(xs, extreme, dtype)
        x[0, 0, 0, 0] = info.max  # not all equal
        w = np.full(ws, extreme, dtype)
        exact = np.einsum(
            "nhwijc,ijco->nhwo",
            np.lib.stride_tricks.sliding_window_view(
                x.astype(np.int64), (4, 4), axis=(1, 2)
            ).transpose(0, 1, 2, 4, 5, 3),
            w.astype(np.int64),
        )
        out = np.int32 if preferred is not None else dtype
        want = exact.astype(np.int64).astype(out)  # wraps like two's complement sums
        for strategy in ("auto", "taps", "im2col", "rows"):
            conv = functools.partial(
                jaxconv.conv_general_dilated, **kw, preferred_element_type=preferred
            )
            got = jax.jit(conv, static_argnames="strategy")(x, w, strategy=strategy)
            assert got.dtype == out
            np.testing.assert_array_equal(np.asarray(got), want, err_msg=f"{c} {strategy}")


def test_int8_into_int32_multiplies_int8_where_int8_dots_are_gemms():
    # Where XLA:CPU has a GEMM for int8 dots, strategies of INT8_NATIVE multiply the int8
    # inputs as they are (their dots take s8 operands); col2im keeps the float32 path, and
    # without preferred_element_type every strategy does.
    x = jax.ShapeDtypeStruct((2, 9, 8, 16), jnp.int8)
    w = jax.ShapeDtypeStruct((3, 3, 16, 8), jnp.int8)

    def dot_operands(strategy, preferred):
        def f(x, w):
            return jaxconv.conv_general_dilated(
                x, w, (1, 1), "SAME", dimension_numbers=LAYOUTS[4], strategy=strategy,
                preferred_element_type=preferred)  # fmt: skip

        def walk(jaxpr):
            for eqn in jaxpr.eqns:
                if eqn.primitive.name == "dot_general":
                    yield from (v.aval.dtype.name for v in eqn.invars)
                for param in eqn.params.values():
                    inner = getattr(param, "jaxpr", param)  # closed or open jaxprs
                    if hasattr(inner, "eqns"):
                        yield from walk(inner)

        return set(walk(jax.make_jaxpr(f)(x, w).jaxpr))

    native = _strategies.int8_dots_fast()
    assert native == (jax.default_backend() == "cpu" and jax.__version_info__ >= (0, 9, 0))
    for strategy in ("taps", "im2col", "rows"):
        assert dot_operands(strategy, jnp.int32) == ({"int8"} if native else {"float32"}), strategy
        assert dot_operands(strategy, None) == {"float32"}, strategy
    assert dot_operands("col2im", jnp.int32) == {"float32"}
