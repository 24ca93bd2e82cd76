"""``strategy='tune'``: the tuned choice gives lax's numbers, and the cache behaves.

The tests never judge speed: they check what was measured, cached and read back, with the
cache in a temporary folder (``JAXCONV_CACHE_DIR``).
"""

from __future__ import annotations

import functools
import json
import warnings

import jax
import jax.numpy as jnp
import jax.test_util
import numpy as np
import pytest
from conftest import HIGHEST, assert_close, assert_second_order_matches, random_array
from jax import lax

import jaxconv
from jaxconv import _grad, _strategies, _tune
from jaxconv._plan import make_plan

NHWC = ("NHWC", "HWIO", "NHWC")
NCHW = ("NCHW", "OIHW", "NCHW")
OHWI = ("NHWC", "OHWI", "NHWC")


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(_tune.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(_tune, "_CACHE", None)
    return tmp_path


@pytest.fixture
def no_measuring(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("measured, but should not have")

    monkeypatch.setattr(_tune, "time_strategies", fail)


def _fast_timing(monkeypatch):
    """Time two strategies, three rounds each: the tests check the plumbing, not the
    choice (and each strategy compiled costs a CI second)."""
    real, candidates = _tune.time_strategies, _tune.candidates
    monkeypatch.setattr(_tune, "time_strategies", functools.partial(real, rounds=3, budget_s=0))
    monkeypatch.setattr(_tune, "candidates", lambda plan: candidates(plan)[-2:])


def _arrays(xs, ws, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return jnp.asarray(random_array(rng, xs, dtype)), jnp.asarray(random_array(rng, ws, dtype))


CASES = [
    # (x shape, w shape, strides, padding, dilation, dn, groups)
    ((2, 9, 8, 3), (3, 3, 3, 4), (1, 1), "SAME", (1, 1), NHWC, 1),
    ((1, 4, 10, 7), (5, 4, 3, 3), (2, 1), ((1, 2), (0, 1)), (1, 1), NCHW, 1),
    ((2, 8, 8, 6), (3, 3, 2, 6), (1, 1), "SAME", (2, 1), NHWC, 3),
    ((2, 12, 4), (5, 1, 4), (2,), "VALID", (1,), ("NWC", "WIO", "NWC"), 4),
    # mostly reads its OIHW kernel: timed with the kernel as given (reads_kernel_in_place)
    ((1, 64, 3, 3), (128, 64, 3, 3), (1, 1), "SAME", (1, 1), NCHW, 1),
]


@pytest.mark.parametrize("case", CASES, ids=range(len(CASES)))
def test_tuned_choice_gives_lax_numbers_forward_and_gradients(case, monkeypatch):
    _fast_timing(monkeypatch)
    xs, ws, strides, padding, dilation, dn, groups = case
    x, w = _arrays(xs, ws)
    conv = functools.partial(
        jaxconv.conv_general_dilated, window_strides=strides, padding=padding,
        rhs_dilation=dilation, dimension_numbers=dn, feature_group_count=groups,
        precision=HIGHEST,
    )  # fmt: skip
    ref = functools.partial(
        lax.conv_general_dilated, window_strides=strides, padding=padding,
        rhs_dilation=dilation, dimension_numbers=dn, feature_group_count=groups,
        precision=HIGHEST,
    )  # fmt: skip
    tuned = jax.jit(functools.partial(conv, strategy="tune"))
    assert_close(tuned(x, w), ref(x, w))
    ct = jnp.asarray(random_array(np.random.default_rng(1), ref(x, w).shape))
    got = jax.vjp(functools.partial(conv, strategy="tune"), x, w)[1](ct)
    want = jax.vjp(ref, x, w)[1](ct)
    for g, r in zip(got, want, strict=True):
        assert_close(g, r)
    # The forward plan and its input gradient's plan were tuned and remembered.
    plan = make_plan(xs, ws, strides, padding, None, dilation, dn, groups, 1, "zeros")
    fields = ("in_features", "out_features", "in_spatial", "pads", "lhs_dilation")
    want_plans = {
        tuple(json.dumps(getattr(p, f)) for f in fields)
        for p in (plan, _grad.input_grad_plan(plan))
    }
    entries = jaxconv.tune_cache().entries()
    assert {tuple(json.dumps(e["plan"][f]) for f in fields) for e in entries} == want_plans
    for e in entries:
        assert e["best"] in e["ms"] and e["platform"] == jax.devices()[0].platform


def test_forward_mode_second_order_and_vmap(monkeypatch):
    _fast_timing(monkeypatch)
    x, w = _arrays((1, 6, 5, 2), (3, 3, 2, 3))
    f = functools.partial(jaxconv.conv2d, padding="SAME", strategy="tune", precision=HIGHEST)
    ref = functools.partial(lax.conv_general_dilated, window_strides=(1, 1), padding="SAME",
                            dimension_numbers=NHWC, precision=HIGHEST)  # fmt: skip
    assert_close(jax.jvp(f, (x, w), (x, w))[1], jax.jvp(ref, (x, w), (x, w))[1])
    assert_second_order_matches(f, ref, x, w, np.random.default_rng(0))
    xb = jnp.stack([x, 2 * x])
    assert_close(jax.vmap(lambda x: f(x, w))(xb), jax.vmap(lambda x: ref(x, w))(xb))


def test_the_cache_round_trips_through_the_disk(cache_dir, monkeypatch):
    _fast_timing(monkeypatch)
    x, w = _arrays((1, 8, 8, 4), (3, 3, 4, 4))
    jax.jit(functools.partial(jaxconv.conv2d, strategy="tune", precision=HIGHEST))(x, w)
    (path,) = cache_dir.glob("tune-*.json")
    data = json.loads(path.read_text())
    assert data["jaxconv_tune_cache"] == _tune.CACHE_SCHEMA
    assert data["jax"] == jax.__version__ and data["device_kind"] == jax.devices()[0].device_kind
    ((key, entry),) = data["entries"].items()
    assert entry["best"] == min(entry["ms"], key=entry["ms"].get)
    # A new process (a fresh cache object) reads the choice instead of measuring again.
    monkeypatch.setattr(_tune, "_CACHE", None)
    monkeypatch.setattr(_tune, "time_strategies", _raise)
    y = jax.jit(functools.partial(jaxconv.conv2d, strategy="tune", precision=HIGHEST))(x, w)
    ref = lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=NHWC,
                                   precision=HIGHEST)  # fmt: skip
    assert_close(y, ref)
    assert [e["best"] for e in jaxconv.tune_cache().entries()] == [entry["best"]]
    jaxconv.tune_cache().clear()
    assert not list(cache_dir.glob("tune-*.json")) and jaxconv.tune_cache().entries() == []


def _raise(*args, **kwargs):
    raise AssertionError("measured, but the cache had the answer")


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "unreadable"),
        ('{"jaxconv_tune_cache": 1, "entries": []}', "unreadable"),
        ("[1, 2]", "unreadable"),
        ("FOREIGN", "written for"),
    ],
)
def test_a_corrupt_or_foreign_cache_is_ignored_with_a_warning(cache_dir, monkeypatch, content,
                                                             match):  # fmt: skip
    _fast_timing(monkeypatch)
    path = _tune.tune_cache().path(jax.devices()[0])
    if content == "FOREIGN":
        content = json.dumps({"jaxconv_tune_cache": 1, **_tune._device_id(jax.devices()[0]),
                              "jax": "0.0.1", "entries": {"k": {"best": "taps"}}})  # fmt: skip
    path.write_text(content)
    x, w = _arrays((1, 6, 6, 2), (3, 3, 2, 2))
    with pytest.warns(UserWarning, match=match):
        y = jax.jit(functools.partial(jaxconv.conv2d, strategy="tune", precision=HIGHEST))(x, w)
    assert_close(y, lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=NHWC,
                                             precision=HIGHEST))  # fmt: skip
    data = json.loads(path.read_text())  # replaced by a valid file of this process
    assert data["jax"] == jax.__version__ and len(data["entries"]) == 1


def test_abstract_evaluation_does_not_measure(no_measuring):
    x = jax.ShapeDtypeStruct((2, 16, 16, 8), jnp.float32)
    w = jax.ShapeDtypeStruct((3, 3, 8, 4), jnp.float32)
    f = functools.partial(jaxconv.conv2d, strides=2, padding="SAME", strategy="tune")
    assert jax.eval_shape(f, x, w).shape == (2, 8, 8, 4)
    assert jax.eval_shape(jax.grad(lambda x, w: f(x, w).sum(), (0, 1)), x, w)[1].shape == w.shape
    assert jaxconv.tune_cache().entries() == []


def test_export_lowers_autos_choice_without_measuring(no_measuring):
    x, w = _arrays((1, 7, 7, 3), (3, 3, 3, 5))
    f = jax.jit(functools.partial(jaxconv.conv2d, padding="SAME", strategy="tune",
                                  precision=HIGHEST))  # fmt: skip
    exported = jax.export.export(f)(x, w)
    want = jaxconv.conv2d(x, w, padding="SAME", precision=HIGHEST)
    assert_close(exported.call(x, w), want)
    assert jaxconv.tune_cache().entries() == []


def test_a_long_tuning_prints_one_line(monkeypatch, capsys):
    _fast_timing(monkeypatch)
    monkeypatch.setattr(_tune, "NOTE_SECONDS", 0.0)
    x, w = _arrays((1, 6, 6, 3), (3, 3, 3, 3))
    jax.jit(functools.partial(jaxconv.conv2d, strategy="tune"))(x, w)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxconv: tuned a convolution")
    assert "kernel (3, 3, 3, 3)" in lines[0]


def test_flax_modules_take_the_tuned_convolution(monkeypatch):
    from flax import nnx

    import jaxconv.nnx

    _fast_timing(monkeypatch)
    tuned = functools.partial(jaxconv.conv_general_dilated, strategy="tune", precision=HIGHEST)
    layer = jaxconv.nnx.Conv(3, 4, (3, 3), conv_general_dilated=tuned, rngs=nnx.Rngs(0))
    ref = nnx.Conv(3, 4, (3, 3), precision=HIGHEST, rngs=nnx.Rngs(0))
    x = jnp.asarray(random_array(np.random.default_rng(0), (2, 8, 8, 3)))
    assert_close(nnx.jit(lambda m, x: m(x))(layer, x), ref(x))
    assert len(jaxconv.tune_cache().entries()) == 1


def test_the_key_ignores_the_users_layout_and_names_the_settings():
    a = make_plan((1, 8, 8, 3), (3, 3, 3, 4), (1, 1), "SAME", None, None, NHWC, 1, 1, "zeros")
    b = make_plan((1, 3, 8, 8), (4, 3, 3, 3), (1, 1), "SAME", None, None, NCHW, 1, 1, "zeros")
    assert _tune.plan_key(a, jnp.float32) == _tune.plan_key(b, jnp.float32)
    # ... except where im2col reads an output-major kernel in place (a layer that mostly
    # reads its kernel): there the user's kernel layout changes what a strategy costs.
    c, d = (make_plan((1, 4, 4, 256), ws, (1, 1), "SAME", None, None, dn, 1, 1, "zeros")
            for ws, dn in (((3, 3, 256, 256), NHWC), ((256, 3, 3, 256), OHWI)))  # fmt: skip
    assert _strategies.reads_kernel_in_place(d) == "ki"
    assert _tune.plan_key(c, jnp.float32) != _tune.plan_key(d, jnp.float32)
    assert _tune.plan_key(a, jnp.float32) != _tune.plan_key(a, jnp.bfloat16)
    assert _tune.plan_key(a, jnp.float32) != _tune.plan_key(a._replace(precision=HIGHEST),
                                                            jnp.float32)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _tune.candidates(a)[0] in jaxconv.STRATEGIES
