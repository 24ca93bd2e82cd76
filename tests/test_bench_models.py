"""``python -m jaxconv bench --suite models``: training steps of whole networks, Flax's layers
against jaxconv's, and the checks that make a wrong jaxconv fail the run.

Structure and verification only, never speed. Compiling the training steps takes most of
the time here, so the networks are the tiny ``models-smoke`` ones and smaller still.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import jaxconv
import jaxconv.nnx
from jaxconv._bench import cli, models, report, runner, suites

CPU = jax.devices("cpu")[0]

# Smaller than the smoke suite, for a failure test: a two-level U-Net (one 2x2/2 transposed
# layer).
UNET_MICRO = suites.ModelCase("unet_micro", "unet", 1, (4, 4), (2, 4), 1, 2)


@pytest.fixture(scope="module")
def smoke_models(tmp_path_factory) -> tuple[dict, str, int]:
    """``bench --suite models-smoke`` run through the command's own entry point."""
    out = str(tmp_path_factory.mktemp("bench-models"))
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    argv = ["--suite", "models-smoke", "--devices", "cpu", "--reps", "2", "--out", out]
    code = cli.run(parser.parse_args(argv), argv=argv)
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f), out, code


def test_smoke_models_verify_and_follow_the_schema(smoke_models):
    doc, _, code = smoke_models
    assert code == 0
    assert doc["records"] == [] and doc["peaks"] == []  # no layer suite ran
    assert [m["case"] for m in doc["models"]] == [m.name for m in suites.MODELS_SMOKE]
    for m in doc["models"]:
        assert report.validate_record(m, report.MODEL_SCHEMA) == [], m
        assert m["suite"] == "models-smoke" and m["strategy"] == "auto"
        assert m["layout"] == "NHWC" and m["dtype"] == "float32"
        assert m["tolerance"] == runner.tolerance(np.float32, "cpu")
        assert 0 <= m["loss_rel_diff"] <= m["tolerance"]
        assert m["update_tolerance"] == max(m["tolerance"], 2 * m["flax_update_max_rel_error"])
        assert 0 <= m["update_max_rel_error"] <= m["update_tolerance"]
        assert m["flax_update_max_rel_error"] >= 0
        assert m["loss_rel_diff"] == pytest.approx(
            abs(m["loss_jaxconv"] - m["loss_flax"]) / abs(m["loss_flax"]), rel=1e-12
        )
        # 2 rounds, more (up to 3x) where the times spread over 30 %
        assert 2 <= m["reps"] <= 2 * models.MORE_ROUNDS
        assert m["ratio"] == pytest.approx(m["jaxconv_ms"] / m["flax_ms"], rel=1e-12)
        assert m["min_ratio"] == pytest.approx(m["jaxconv_min_ms"] / m["flax_min_ms"], rel=1e-12)
        assert m["spread"] >= 0
        assert m["flax_min_ms"] <= m["flax_ms"] <= m["flax_max_ms"]
        assert m["jaxconv_min_ms"] <= m["jaxconv_ms"] <= m["jaxconv_max_ms"]
        assert sum(m["strategies"].values()) == m["convs"]
        assert set(m["strategies"]) <= set(jaxconv.STRATEGIES)
    # Softmax cross-entropy of near-uniform predictions starts near log(classes).
    for m, case in zip(doc["models"], suites.MODELS_SMOKE, strict=True):
        assert abs(m["loss_flax"] - np.log(case.classes)) < 1.0


def test_smoke_models_summary_and_chart(smoke_models):
    doc, out, _ = smoke_models
    with open(os.path.join(out, "summary.md")) as f:
        md = f.read()
    assert "# Models: one training step" in md
    assert "geomean ratio" not in md  # no layer records, no layer tables
    for m in doc["models"]:
        row = next(
            line for line in md.splitlines() if line.startswith(f"| models-smoke/{m['case']} ")
        )
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[4].startswith(f"{m['flax_ms']:.1f}")
        assert cells[5].startswith(f"{m['jaxconv_ms']:.1f}")
        assert cells[6] == f"{m['ratio']:.2f}" and cells[7] == f"{m['min_ratio']:.2f}"
        assert cells[9] == f"{m['loss_rel_diff']:.1e}"
        assert cells[10] == f"{m['update_max_rel_error']:.1e}"
    with open(os.path.join(out, "results.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------
# Same parameters, and the convolutions each network runs


@pytest.mark.parametrize("case", suites.MODELS_SMOKE, ids=lambda c: c.name)
def test_both_builds_start_from_the_same_parameters(case):
    flax_model = models.build(case, models.flax_layers())
    ours = models.build(case, models.jaxconv_layers("auto"))
    assert models.same_parameters(nnx.state(flax_model), nnx.state(ours)) is None
    # The comparison can fail: another seed draws other kernels.
    other = models.build(case, models.jaxconv_layers("auto"), seed=1)
    assert "different values" in models.same_parameters(nnx.state(flax_model), nnx.state(other))


@pytest.mark.parametrize("case", suites.MODELS_SMOKE, ids=lambda c: c.name)
def test_the_smooth_twin_has_the_parameters_and_not_the_kinks(case):
    real = nnx.split(models.build(case, models.flax_layers()), nnx.Param, ...)
    twin = models.build(case, models.flax_layers(), kinks=models.SMOOTH)
    assert models.same_parameters(real[1], nnx.state(twin, nnx.Param)) is None
    x, _ = models.make_batch(case, np.float32)
    # The same parameters, another function: softplus > ReLU everywhere, mean <= max.
    assert not np.allclose(twin(x), nnx.merge(*real)(x))
    z = np.linspace(-8, 8, 33)
    assert np.all(models.SMOOTH.relu(z) > nnx.relu(z))
    assert 0.6 < np.abs(models.SMOOTH.relu6(z) - nnx.relu6(z)).max() <= np.log(2)


def test_the_networks_run_the_convolutions_of_their_papers():
    resnet, mobilenet, unet = (models.conv_layers(c) for c in suites.MODELS)
    # ResNet-20: a 3x3 stem, 18 3x3 layers in 9 blocks, two 1x1/2 projections.
    kinds = [(c.kernel, c.strides) for c, _ in resnet]
    assert len(resnet) == 21 and kinds.count(((1, 1), (2, 2))) == 2
    assert kinds.count(((3, 3), (2, 2))) == 2 and kinds.count(((3, 3), (1, 1))) == 17
    assert [c.in_spatial for c, _ in resnet][-1] == (8, 8) and resnet[-1][0].out_channels == 64
    assert {c.batch for c, _ in resnet} == {32}
    # MobileNetV2: stem, 2 layers in the first block, 3 in each of 6 others, the last 1x1.
    assert len(mobilenet) == 22
    dw = [c for c, _ in mobilenet if c.kind == "depthwise"]
    assert len(dw) == 7 and sum(c.strides == (2, 2) for c in dw) == 3
    assert mobilenet[-1][0].kernel == (1, 1) and mobilenet[-1][0].out_channels == 1280
    # U-Net: 2 layers per level, 3 transposed 2x2/2 layers and 2 layers after each, the 1x1.
    up = [c for c, _ in unet if c.transposed]
    assert len(unet) == 18 and len(up) == 3
    assert all(c.kernel == (2, 2) and c.strides == (2, 2) for c in up)
    assert [c.in_spatial for c in up] == [(8, 8), (16, 16), (32, 32)]
    for layers in (resnet, mobilenet, unet):
        for c, strategy in layers:
            assert strategy == runner.chosen_strategy(c, "NHWC", jnp.float32)
            assert min(runner.out_shape(c, "NHWC", jnp.float32)) > 0
    # A training step's layers, as its table reports them: differentiated, ResNet-20's
    # 64 -> 64 layers keep col2im where inference runs winograd (forward-only rule).
    step = models.conv_layers(suites.MODELS[0], direction="fwd+bwd")
    assert [c for c, _ in step] == [c for c, _ in resnet]
    for c, strategy in step:
        assert strategy == runner.chosen_strategy(c, "NHWC", jnp.float32, "auto", "fwd+bwd")
    assert [s for _, s in step] != [s for _, s in resnet]


def test_layer_cases_count_repeated_layers():
    distinct = models.layer_cases(suites.MODELS[0])
    assert sum(n for _, n, _ in distinct) == 21
    assert len({c for c, _, _ in distinct}) == len(distinct) == 8
    assert next(n for c, n, _ in distinct if c.name == "32_3x3_16-16") == 6


# ---------------------------------------------------------------------------------------
# A wrong jaxconv fails the run


def _flipped_kernel(lhs, rhs, *args, **kwargs):
    """A convolution instead of a cross-correlation: the kernel's spatial axes reversed."""
    return jaxconv.conv_general_dilated(lhs, jnp.flip(rhs, (0, 1)), *args, **kwargs)


def _kernel_gradient_doubled(fn):
    """``fn`` (a conv function) with the right output and twice the kernel gradient."""

    def wrong(lhs, rhs, *args, **kwargs):
        def f(x, w):
            return fn(x, w, *args, **kwargs)

        @jax.custom_vjp
        def conv(x, w):
            return f(x, w)

        def fwd(x, w):
            return jax.vjp(f, x, w)

        def bwd(vjp, ct):
            dx, dw = vjp(ct)
            return dx, 2 * dw

        conv.defvjp(fwd, bwd)
        return conv(lhs, rhs)

    return wrong


def _flipped_layers(strategy):
    return models.Layers(
        functools.partial(jaxconv.nnx.Conv, conv_general_dilated=_flipped_kernel),
        models.jaxconv_layers(strategy).conv_transpose,
    )


def _wrong_transpose_gradient_layers(strategy):
    wrong = _kernel_gradient_doubled(functools.partial(jaxconv.conv_transpose, strategy=strategy))
    return models.Layers(
        models.jaxconv_layers(strategy).conv,
        functools.partial(jaxconv.nnx.ConvTranspose, conv_transpose=wrong),
    )


def test_models_layers_suite_is_the_networks_layers():
    # --suite models-layers lists each network's distinct convolutions with how often one
    # forward pass runs them: derived here from the networks as built.
    expected = []
    for m in suites.MODELS:
        for c, count, _ in models.layer_cases(m):
            expected.append(c._replace(name=f"{m.name}_{c.name}_x{count}"))
    listed = [c._replace(layouts=None) for c in suites.SUITES["models-layers"]]
    assert listed == expected
    assert all(c.layouts == ("NHWC",) for c in suites.SUITES["models-layers"])


def test_models_layers_suite_runs_against_lax(tmp_path):
    # One layer of it through the bench: verified against lax, one record per direction.
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    argv = ["--suite", "models-layers", "--match", "resnet20_16_1x1s2", "--devices", "cpu",
            "--reps", "1", "--out", str(tmp_path)]  # fmt: skip
    assert cli.run(parser.parse_args(argv), argv=argv) == 0
    records = json.loads((tmp_path / "results.json").read_text())["records"]
    assert {(r["case"], r["layout"], r["direction"]) for r in records} == {
        ("resnet20_16_1x1s2_32-64_x1", "NHWC", d) for d in ("fwd", "fwd+bwd")
    }


def test_network_totals_weigh_each_layer_by_its_count():
    def record(case, direction, jc, lx):
        fields = {"case": case, "direction": direction, "jaxconv_ms": jc, "lax_ms": lx}
        return {"suite": "models-layers", "device": "cpu:0", "dtype": "float32",
                "ratio": jc / lx, **fields}  # fmt: skip

    records = [
        record("resnet20_32_3x3_16-16_x6", "fwd", 2.0, 1.0),
        record("resnet20_8_3x3_64-64_x5", "fwd", 1.0, 2.0),
        record("unet_64_1x1_16-4_x1", "fwd", 0.5, 1.0),
        {**record("resnet20_32_3x3_16-16_x6", "fwd", 1.0, 1.0), "suite": "quick"},
    ]
    lines = report.network_totals(records)
    # resnet20: 6 * 2 + 5 * 1 = 17 ms against 6 * 1 + 5 * 2 = 16 ms; unet: 0.5 against 1.
    assert "| resnet20 | cpu:0 | float32 | fwd | 2 | 17.0 | 16.0 | 1.06 |" in lines
    assert "| unet | cpu:0 | float32 | fwd | 1 | 0.5 | 1.0 | 0.50 |" in lines
    assert report.network_totals(records[3:]) == []


def test_a_wrong_gradient_fails_on_the_update():
    # The loss agrees (the forward is right); the transposed layer's kernel update does not.
    with pytest.raises(runner.VerificationError, match=r"jaxconv's \[0\]\['up'\]\[0\] differs"):
        models.run_model("t", UNET_MICRO, CPU, reps=1, layers=_wrong_transpose_gradient_layers)


def test_a_wrong_forward_fails_the_run_on_the_loss(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    argv = ["--suite", "models-smoke", "--devices", "cpu", "--reps", "1", "--out", str(tmp_path)]
    assert cli.run(parser.parse_args(argv), argv=argv, layers=_flipped_layers) == 1
    err = capsys.readouterr().err
    assert "verification failed" in err and "models-smoke/resnet_tiny" in err
    assert "jaxconv's loss" in err and "differs from Flax's" in err
    with open(tmp_path / "results.json") as f:
        assert json.load(f)["models"] == []  # the failing model is not reported as timed


def test_state_errors_by_hand():
    ref = {"bn": {"scale": np.array([0.5, 2.0]), "bias": np.array([1e-9, 0.0])},
           "conv": {"kernel": np.array([2.0, 1.0, 0.0])}}  # fmt: skip
    # A bias near zero is measured against its layer's largest value (the scale's 2.0).
    new = {"bn": {"scale": np.array([0.5, 2.0]), "bias": np.array([-1e-9, 0.0])},
           "conv": {"kernel": np.array([2.0, 1.0, -0.5])}}  # fmt: skip
    abs_err, rel_err, where = models.state_errors(ref, new)
    assert where == "['conv']" and abs_err == pytest.approx(0.5) and rel_err == pytest.approx(0.25)
    new["conv"]["kernel"] = ref["conv"]["kernel"]
    abs_err, rel_err, where = models.state_errors(ref, new)
    assert where == "['bn']" and abs_err == pytest.approx(2e-9) and rel_err == pytest.approx(1e-9)


def test_the_reference_step_is_flax_in_float64_on_the_smooth_twin():
    case = UNET_MICRO
    twin = models.build(case, models.flax_layers(), kinks=models.SMOOTH)
    g, params, rest = nnx.split(twin, nnx.Param, ...)
    images, labels = models.make_batch(case, np.float32)
    new_params, new_rest = models.reference_step(case, params, rest, images, labels)
    assert {np.asarray(a).dtype for a in jax.tree.leaves((new_params, new_rest))} == {
        np.dtype(np.float64)
    }
    # Against Flax's float32 step of the twin: the same state up to float32 rounding.
    _, f32_params, f32_rest = jax.jit(models.train_step(g))(params, rest, images, labels)
    abs_err, rel_err, _ = models.state_errors((new_params, new_rest), (f32_params, f32_rest))
    assert 0 < rel_err < 1e-5


# ---------------------------------------------------------------------------------------
# The command line


def test_help_lists_the_model_suites_without_importing_flax():
    code = (
        "import sys, contextlib, io; from jaxconv.__main__ import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        "    main(['bench', '--help'])\n"
        "assert 'flax' not in sys.modules, 'flax imported'\n"
        "print(out.getvalue())"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "models (3 models), models-smoke (3 models)" in proc.stdout


def test_the_model_schema_is_documented():
    readme = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "README.md")
    with open(readme) as f:
        assert report.schema_markdown(report.MODEL_SCHEMA) in f.read()


def test_suite_names_split_between_layers_and_models():
    assert suites.resolve("models") == []
    assert suites.resolve("smoke,models-smoke") == [("smoke", c) for c in suites.SMOKE]
    assert suites.resolve_models("smoke,models-smoke") == [
        ("models-smoke", m) for m in suites.MODELS_SMOKE
    ]
    with pytest.raises(ValueError, match="models-smoke"):  # listed among the choices
        suites.resolve("model")
