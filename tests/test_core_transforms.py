"""jaxconv under jit, vmap, grad (first and second order) and sharding."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import HIGHEST, assert_close, assert_second_order_matches, conv_plan, random_array
from jax import lax
from jax.test_util import check_grads

import jaxconv
from jaxconv import _strategies

NHWC = ("NHWC", "HWIO", "NHWC")

# --- second order, forward and reverse, in float64 ----------------------------------------------

GRAD_CASES = {
    "grouped_strided_dilated": dict(
        x=(2, 4, 5, 4),
        w=(2, 2, 2, 4),
        window_strides=(2, 1),
        padding=((1, 0), (1, 2)),
        rhs_dilation=(2, 1),
        dimension_numbers=("NHWC", "HWIO", "NCHW"),
        feature_group_count=2,
    ),
    "depthwise": dict(
        x=(1, 4, 4, 2),
        w=(2, 2, 1, 4),
        window_strides=(1, 1),
        padding="SAME",
        dimension_numbers=NHWC,
        feature_group_count=2,
    ),
    "input_dilated": dict(
        x=(1, 3, 3, 2),
        w=(2, 2, 2, 2),
        window_strides=(1, 1),
        padding=((1, 1), (0, 1)),
        lhs_dilation=(2, 1),
        dimension_numbers=NHWC,
    ),
    # 'auto' runs winograd here, and for its input gradient (16 features both ways)
    "winograd": dict(
        x=(2, 6, 6, 16),
        w=(3, 3, 16, 16),
        window_strides=(1, 1),
        padding="SAME",
        dimension_numbers=NHWC,
    ),
    "batch_grouped": dict(
        x=(2, 4, 3, 2),
        w=(2, 2, 2, 2),
        window_strides=(1, 1),
        padding="VALID",
        dimension_numbers=NHWC,
        batch_group_count=2,
    ),
}


def _grad_params():
    for case, kw in GRAD_CASES.items():
        plan = conv_plan(
            kw["x"],
            kw["w"],
            kw["dimension_numbers"],
            kw["window_strides"],
            kw["padding"],
            kw.get("lhs_dilation"),
            kw.get("rhs_dilation"),
            kw.get("feature_group_count", 1),
            kw.get("batch_group_count", 1),
        )
        # Every strategy on the case it is made for, and the default one on every case.
        names = [n for n in jaxconv.STRATEGIES if _strategies.accepts(n, plan)]
        for name in names if case == "depthwise" else ["auto"]:
            yield case, name
        if case == "winograd":
            yield case, "winograd"
        if case == "input_dilated":
            yield from ((case, n) for n in names if n not in ("im2col", "taps"))


@pytest.mark.parametrize("case, strategy", list(_grad_params()))
def test_second_order_float64_matches_lax(case, strategy):
    kw = dict(GRAD_CASES[case])
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        x = rng.standard_normal(kw.pop("x"))
        w = rng.standard_normal(kw.pop("w"))

        def ours(a, b):
            return jaxconv.conv_general_dilated(a, b, **kw, strategy=strategy)

        def ref(a, b):
            return lax.conv_general_dilated(a, b, **kw)

        assert jax.eval_shape(ours, x, w).dtype == np.float64
        assert_second_order_matches(ours, ref, x, w, rng)


def test_check_grads_float32():
    rng = np.random.default_rng(1)
    x, w = random_array(rng, (1, 4, 4, 2)), random_array(rng, (2, 2, 2, 3))
    f = jax.jit(lambda a, b: jaxconv.conv(a, b, 1, "SAME", precision=HIGHEST))
    check_grads(f, (x, w), order=2, modes=["fwd", "rev"], eps=1e-2, atol=5e-2, rtol=5e-2)


def test_conv_transpose_second_order_float64_matches_lax():
    rng = np.random.default_rng(2)
    with jax.enable_x64(True):
        x, w = rng.standard_normal((1, 3, 3, 2)), rng.standard_normal((3, 3, 3, 2))
        kw = dict(strides=(2, 2), padding="SAME", transpose_kernel=True)
        assert_second_order_matches(
            functools.partial(jaxconv.conv_transpose, **kw),
            functools.partial(lax.conv_transpose, **kw),
            x,
            w,
            rng,
        )


# --- gradients against lax's gradients (float32, HIGHEST) ---------------------------------------

LAX_GRAD_CASES = {
    "grouped": dict(x=(2, 5, 6, 4), w=(3, 2, 2, 6), feature_group_count=2),
    "batch_grouped": dict(x=(4, 5, 6, 4), w=(3, 2, 4, 6), batch_group_count=2),
    "dilated": dict(x=(2, 6, 6, 3), w=(2, 3, 3, 4), rhs_dilation=(2, 1)),
    "strided": dict(x=(2, 7, 6, 3), w=(3, 2, 3, 4), window_strides=(2, 3)),
    "input_dilated": dict(
        x=(2, 4, 5, 3), w=(3, 3, 3, 2), lhs_dilation=(2, 2), padding=((1, 2), (2, 0))
    ),
}


@pytest.mark.parametrize("case", list(LAX_GRAD_CASES))
def test_vjp_and_jvp_match_lax(case):
    kw = dict(window_strides=(1, 1), padding="SAME", dimension_numbers=NHWC, precision=HIGHEST)
    kw.update(LAX_GRAD_CASES[case])
    rng = np.random.default_rng(3)
    x, w = random_array(rng, kw.pop("x")), random_array(rng, kw.pop("w"))
    ours = functools.partial(jaxconv.conv_general_dilated, **kw)
    theirs = functools.partial(lax.conv_general_dilated, **kw)
    y, ours_vjp = jax.vjp(ours, x, w)
    y_ref, lax_vjp = jax.vjp(theirs, x, w)
    assert_close(y, y_ref)
    ct = random_array(rng, y.shape)
    for got, expected in zip(ours_vjp(ct), lax_vjp(ct), strict=True):
        assert_close(got, expected)
    tx, tw = random_array(rng, x.shape), random_array(rng, w.shape)
    _, got = jax.jvp(ours, (x, w), (tx, tw))
    _, expected = jax.jvp(theirs, (x, w), (tx, tw))
    assert_close(got, expected)


def test_conv_transpose_grads_match_lax():
    rng = np.random.default_rng(4)
    x, w = random_array(rng, (2, 3, 4, 2)), random_array(rng, (3, 2, 3, 2))
    kw = dict(strides=(2, 2), padding="SAME", transpose_kernel=True, precision=HIGHEST)

    def loss(fn):
        return lambda a, b: jnp.sum(jnp.sin(fn(a, b, **kw)))

    got = jax.jit(jax.grad(loss(jaxconv.conv_transpose), argnums=(0, 1)))(x, w)
    expected = jax.grad(loss(lax.conv_transpose), argnums=(0, 1))(x, w)
    for g, e in zip(got, expected, strict=True):
        assert_close(g, e)


# --- vmap, jit, recompilation -------------------------------------------------------------------


def test_vmap_matches_loop():
    rng = np.random.default_rng(5)
    xs, ws = random_array(rng, (3, 2, 5, 6, 4)), random_array(rng, (3, 3, 3, 2, 4))
    f = functools.partial(jaxconv.conv, strides=(1, 2), padding="SAME", groups=2, precision=HIGHEST)
    both = jax.jit(jax.vmap(f))(xs, ws)
    over_x = jax.jit(jax.vmap(f, in_axes=(0, None)))(xs, ws[0])
    over_w = jax.jit(jax.vmap(f, in_axes=(None, 0)))(xs[0], ws)
    for i in range(3):
        assert_close(both[i], f(xs[i], ws[i]))
        assert_close(over_x[i], f(xs[i], ws[0]))
        assert_close(over_w[i], f(xs[0], ws[i]))


def test_jit_matches_eager_and_does_not_recompile():
    rng = np.random.default_rng(6)
    x, w = random_array(rng, (2, 5, 6, 3)), random_array(rng, (3, 2, 3, 4))
    f = jax.jit(lambda a, b: jaxconv.conv(a, b, (2, 1), "SAME", dilation=(1, 2), precision=HIGHEST))
    eager = jaxconv.conv(x, w, (2, 1), "SAME", dilation=(1, 2), precision=HIGHEST)
    assert_close(f(x, w), eager)
    assert_close(
        eager,
        lax.conv_general_dilated(
            x, w, (2, 1), "SAME", rhs_dilation=(1, 2), dimension_numbers=NHWC, precision=HIGHEST
        ),
    )
    assert f._cache_size() == 1
    x2, w2 = random_array(rng, x.shape), random_array(rng, w.shape)
    compiled = []
    listener = lambda event, *a, **k: compiled.append(event)  # noqa: E731
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        f(x2, w2).block_until_ready()
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert f._cache_size() == 1
    assert not [e for e in compiled if "compile" in e and "backend" in e], compiled
    # A new shape does compile once more.
    f(x2[:1], w2)
    assert f._cache_size() == 2


# --- sharding, in a subprocess with 8 host devices ----------------------------------------------

SHARDING_SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np
    from jax import lax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import jaxconv

    assert jax.device_count() == 8, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("d",))
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (8, 6, 7, 4)).astype(np.float32)
    w = rng.uniform(-1, 1, (3, 3, 4, 16)).astype(np.float32)
    kw = dict(window_strides=(1, 2), padding="SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
              precision=lax.Precision.HIGHEST)
    expected = lax.conv_general_dilated(x, w, **kw)

    f = jax.jit(lambda a, b: jaxconv.conv_general_dilated(a, b, **kw))
    xs = jax.device_put(x, NamedSharding(mesh, P("d")))           # batch-sharded input
    wr = jax.device_put(w, NamedSharding(mesh, P()))
    y = f(xs, wr)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert y.sharding.spec[0] == "d", y.sharding
    hlo = f.lower(xs, wr).compile().as_text()
    assert "all-gather" not in hlo, "the batch-sharded input was gathered"

    wo = jax.device_put(w, NamedSharding(mesh, P(None, None, None, "d")))  # output features
    xr = jax.device_put(x, NamedSharding(mesh, P()))
    y = f(xr, wo)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    # Both sharded: batch on the input, output features on the kernel.
    y = f(xs, wo)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)

    g = jax.jit(lambda a, b: jaxconv.conv_general_dilated(a, b, **kw, out_sharding=NamedSharding(
        mesh, P("d"))))
    y = g(xs, wo)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert y.sharding.spec[0] == "d", y.sharding
    print("SHARDING OK")
    """
)


def test_sharding_in_subprocess():
    env = dict(os.environ)
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    env["JAX_PLATFORMS"] = "cpu"
    result = subprocess.run(
        [sys.executable, "-c", SHARDING_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SHARDING OK" in result.stdout
