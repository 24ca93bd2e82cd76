"""``python -m jaxconv bench``: the results' structure and the verification step.

These tests check structure and correctness, never speed: timings on a shared CPU are noise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jaxconv
from jaxconv import _policy
from jaxconv._bench import cli, report, runner, suites

# The keys and types the issue asks every record for, written out by hand so that a change
# to report.SCHEMA cannot silently drop one.
REQUIRED = {
    "device": str, "device_kind": str, "jax_version": str, "suite": str, "case": str,
    "rank": int, "batch": int, "in_spatial": list, "out_spatial": list, "in_channels": int,
    "out_channels": int, "kernel": list, "strides": list, "padding": (str, list),
    "dilation": list, "lhs_dilation": list, "groups": int,
    "transposed": bool, "dtype": str, "layout": str, "direction": str,
    "jaxconv_ms": float, "jaxconv_min_ms": float, "jaxconv_max_ms": float, "lax_ms": float,
    "lax_min_ms": float, "lax_max_ms": float, "ratio": float, "gflops": float,
    "peak_fraction": float, "jaxconv_temp_bytes": int, "lax_temp_bytes": int,
    "jaxconv_compile_s": float, "lax_compile_s": float, "max_abs_error": float,
    "max_rel_error": float, "strategy": str, "auto_strategy": str, "min_ratio": float,
    "spread": float,
}  # fmt: skip


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> tuple[dict, str]:
    """The smoke suite forward+backward (the forward alone is covered below) in both layouts,
    plus the data-parallel and spatially sharded cases on two CPU devices, run as a user would:
    ``python -m jaxconv bench`` in a subprocess."""
    out = str(tmp_path_factory.mktemp("bench"))
    cmd = [sys.executable, "-m", "jaxconv", "bench", "--suite", "smoke", "--devices", "cpu",
           "--cpu-devices", "2", "--spatial-shard", "--direction", "fwd+bwd", "--reps", "3",
           "--out", out]  # fmt: skip
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "COLUMNS": "80"}  # an 80-column terminal
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(os.path.join(out, "stdout.txt"), "w") as f:
        f.write(proc.stdout)
    with open(os.path.join(out, "results.json")) as f:
        return json.load(f), out


def test_every_record_follows_the_schema(smoke_run):
    doc, _ = smoke_run
    assert doc["schema_version"] == report.SCHEMA_VERSION
    assert doc["peaks"] and all(p["gflops"] > 0 for p in doc["peaks"])
    for r in doc["records"]:
        assert report.validate_record(r) == [], r
        for key, types in REQUIRED.items():
            types = types if isinstance(types, tuple) else (types,)
            ok = isinstance(r[key], types) or (float in types and isinstance(r[key], int))
            assert ok, f"{key} = {r[key]!r} in {r['case']}"
            assert not (isinstance(r[key], bool) and bool not in types), key


def test_one_record_per_case_layout_direction(smoke_run):
    doc, _ = smoke_run
    single = [r for r in doc["records"] if r["num_devices"] == 1]
    keys = {(r["case"], r["layout"], r["direction"]) for r in single}
    assert len(keys) == len(single) == len(suites.SMOKE) * 2
    assert {r["kind"] for r in single} == {
        "dense", "depthwise", "grouped", "dilated", "transposed"
    }  # fmt: skip


def test_times_ratio_and_errors_are_consistent(smoke_run):
    doc, _ = smoke_run
    for r in doc["records"]:
        assert r["ratio"] == pytest.approx(r["jaxconv_ms"] / r["lax_ms"], rel=1e-12)
        assert r["jaxconv_min_ms"] <= r["jaxconv_ms"] <= r["jaxconv_max_ms"]
        assert r["lax_min_ms"] <= r["lax_ms"] <= r["lax_max_ms"]
        assert r["reps"] >= 3  # more rounds where the times spread widely
        assert r["min_ratio"] == pytest.approx(r["jaxconv_min_ms"] / r["lax_min_ms"])
        assert r["gflops"] == pytest.approx(r["flops"] / r["jaxconv_ms"] / 1e6)
        assert r["peak_fraction"] == pytest.approx(
            r["gflops"] / (r["peak_gflops"] * r["num_devices"])
        )
        assert 0 <= r["max_rel_error"] <= r["tolerance"]
        assert r["strategy"] in jaxconv.STRATEGIES
        assert r["auto_strategy"] == r["strategy"]  # the run used auto


def test_data_parallel_record(smoke_run):
    doc, _ = smoke_run
    dp = [r for r in doc["records"] if r["suite"] == "data-parallel"]
    assert len(dp) == 2  # two layouts
    for r in dp:
        assert r["num_devices"] == 2 and r["device"] == "cpu:mesh[2]"
        assert r["batch"] % 2 == 0
        assert r["scaling"] == pytest.approx(r["single_jaxconv_ms"] / r["jaxconv_ms"])
        assert r["lax_scaling"] == pytest.approx(r["single_lax_ms"] / r["lax_ms"])


def test_spatial_shard_record(smoke_run):
    doc, out = smoke_run
    ss = [r for r in doc["records"] if r["suite"] == "spatial-shard"]
    assert [r["layout"] for r in ss] == ["NHWC", "NCHW"]
    for r in ss:
        assert r["sharded"] == "spatial" and r["num_devices"] == 2
        assert (r["batch"], r["in_spatial"], r["in_channels"]) == (1, [256, 256], 16)
        assert r["max_rel_error"] <= r["tolerance"]
        assert r["scaling"] == pytest.approx(r["single_jaxconv_ms"] / r["jaxconv_ms"])
        mine, lax = r["collectives"]["jaxconv"], r["collectives"]["lax"]
        # One halo each way per neighbour, as lax: 2 forward, 6 with both gradients.
        assert mine["collective-permute"] <= lax["collective-permute"] + 2, r["collectives"]
        assert mine["all-gather"] == mine["all-to-all"] == 0, r["collectives"]
    assert all(r["sharded"] in (None, "batch") for r in doc["records"] if r not in ss)
    with open(os.path.join(out, "summary.md")) as f:
        assert "## Spatially sharded" in f.read()


def test_chart_and_summary_are_written(smoke_run):
    doc, out = smoke_run
    with open(os.path.join(out, "results.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(os.path.join(out, "results.png")) > 10_000
    with open(os.path.join(out, "summary.md")) as f:
        md = f.read()
    assert "geomean ratio" in md
    all_cases = md.split("## All cases")[1].split("\n## ")[0]
    assert all_cases.count("\n| smoke/") == len(
        [r for r in doc["records"] if r["suite"] == "smoke"]
    )


# ---------------------------------------------------------------------------------------
# The verification step catches wrong implementations.


def _off_by_one_percent(case, layout, strategy):
    f = runner.lax_impl(case, layout)
    return lambda x, w: f(x, w) * jnp.asarray(1.01, x.dtype)


def _wrong_gradient(case, layout, strategy):
    """Right forward, kernel gradient doubled: only ``fwd+bwd`` can see it."""
    f = runner.lax_impl(case, layout)

    @jax.custom_vjp
    def conv(x, w):
        return f(x, w)

    def fwd(x, w):
        y, vjp = jax.vjp(f, x, w)
        return y, vjp

    def bwd(vjp, ct):
        dx, dw = vjp(ct)
        return dx, 2 * dw

    conv.defvjp(fwd, bwd)
    return conv


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_wrong_output_is_caught(layout):
    case = suites.SMOKE[0]
    with pytest.raises(runner.VerificationError, match="disagrees with lax"):
        runner.run_case("smoke", case, jax.devices("cpu")[0], jnp.float32, layout, "fwd",
                        reps=1, impl=_off_by_one_percent)  # fmt: skip


def test_wrong_gradient_is_caught_only_with_bwd():
    case, dev = suites.SMOKE[-1], jax.devices("cpu")[0]  # transposed
    rec = runner.run_case("smoke", case, dev, jnp.float32, "NHWC", "fwd", reps=1,
                          impl=_wrong_gradient)  # fmt: skip
    assert rec["max_rel_error"] < 1e-5
    with pytest.raises(runner.VerificationError):
        runner.run_case("smoke", case, dev, jnp.float32, "NHWC", "fwd+bwd", reps=1,
                        impl=_wrong_gradient)  # fmt: skip


def test_cli_exits_1_with_a_clear_message(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    argv = ["--suite", "smoke", "--devices", "cpu", "--direction", "fwd", "--layout", "NHWC",
            "--reps", "1", "--out", str(tmp_path)]  # fmt: skip
    code = cli.run(parser.parse_args(argv), impl=_off_by_one_percent, argv=argv)
    assert code == 1
    err = capsys.readouterr().err
    assert "verification failed" in err and "smoke/dense_3x3" in err
    with open(tmp_path / "results.json") as f:
        assert json.load(f)["records"] == []  # the failing case is not reported as timed


def test_match_selects_cases_by_name(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    name = suites.SMOKE[1].name
    argv = ["--suite", "smoke", "--devices", "cpu", "--direction", "fwd", "--layout", "NHWC",
            "--reps", "1", "--out", str(tmp_path), "--match", f"^{name}$"]  # fmt: skip
    assert cli.run(parser.parse_args(argv), argv=argv) == 0
    with open(tmp_path / "results.json") as f:
        assert {r["case"] for r in json.load(f)["records"]} == {name}
    for bad, says in (("(", "must be a regular expression"), ("^nothing$", "matches no case")):
        argv = ["--suite", "smoke", "--out", str(tmp_path), "--match", bad]
        assert cli.run(parser.parse_args(argv), argv=argv) == 2
        assert says in capsys.readouterr().err


def test_a_list_of_strategies_times_those_that_accept_the_case(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    name = suites.SMOKE[1].name
    argv = ["--suite", "smoke", "--devices", "cpu", "--direction", "fwd", "--layout", "NHWC",
            "--reps", "1", "--out", str(tmp_path), "--match", f"^{name}$",
            "--strategy", "taps,depthwise,im2col"]  # fmt: skip
    assert cli.run(parser.parse_args(argv), argv=argv) == 0
    with open(tmp_path / "results.json") as f:
        records = json.load(f)["records"]
    case = suites.SMOKE[1]
    want = [n for n in runner.strategies_for(case, "NHWC") if n in ("taps", "depthwise", "im2col")]
    assert [r["strategy"] for r in records] == want and "taps" in want
    argv = ["--suite", "smoke", "--out", str(tmp_path), "--strategy", "taps,nope"]
    assert cli.run(parser.parse_args(argv), argv=argv) == 2
    assert "'taps,nope'" in capsys.readouterr().err


def test_interrupt_writes_the_records_measured(tmp_path, monkeypatch, capsys):
    # SIGTERM (or Ctrl-C) in the middle of a run: the cases measured so far are written,
    # and the exit code says the run did not finish; the handler is put back afterwards.
    before = signal.getsignal(signal.SIGTERM)
    calls = []
    measure = runner.run_case_strategies

    def interrupted_on_second(*args, **kwargs):
        calls.append(args[1].name)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # as `timeout` or `kill` would
        return measure(*args, **kwargs)

    monkeypatch.setattr(runner, "run_case_strategies", interrupted_on_second)
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    argv = ["--suite", "smoke", "--devices", "cpu", "--direction", "fwd", "--layout", "NHWC",
            "--reps", "1", "--out", str(tmp_path)]  # fmt: skip
    assert cli.run(parser.parse_args(argv), argv=argv) == 130
    with open(tmp_path / "results.json") as f:
        assert [r["case"] for r in json.load(f)["records"]] == calls[:1]
    assert "interrupted: 1 records of" in capsys.readouterr().out
    assert signal.getsignal(signal.SIGTERM) is before


def test_an_integer_dtype_makes_every_case_an_integer_case():
    # --dtype int8: a case without a dtype of its own runs forward only, as an int8 case
    # (int32 sums, checked bit-exact); a float dtype leaves it as it is.
    case = suites.SMOKE[0]
    asked = [(jnp.dtype(d), "NHWC", r) for d in ("float32", "int8") for r in ("fwd", "fwd+bwd")]
    runs = suites.combos(case, asked)
    floats = [(case, jnp.dtype("float32"), "NHWC", r) for r in ("fwd", "fwd+bwd")]
    assert runs == [*floats, (case._replace(dtype="int8"), "int8", "NHWC", "fwd")]
    assert runner.preferred(runs[-1][0]) == jnp.int32


def test_check_and_errors():
    want = [np.array([1.0, -2.0]), np.array([[4.0]])]
    assert runner.errors(want, want) == (0.0, 0.0)
    abs_err, rel_err = runner.errors([np.array([1.0, -2.5]), np.array([[4.0]])], want)
    assert abs_err == pytest.approx(0.5) and rel_err == pytest.approx(0.25)
    assert runner.errors([np.array([np.nan, 0.0])], [np.zeros(2)])[1] == math.inf
    assert runner.errors([np.zeros(3)], [np.zeros(2)])[1] == math.inf
    with pytest.raises(runner.VerificationError, match="tolerance"):
        runner.check("x", [np.array([1.0, -2.5])], [np.array([1.0, -2.0])], 1e-3)


def test_validate_record_reports_problems():
    assert any("missing" in p for p in report.validate_record({}))
    rec = {k: None for k in report.SCHEMA}
    assert any("'batch'" in p for p in report.validate_record(rec))
    assert "| `ratio` |" in report.schema_markdown()


# ---------------------------------------------------------------------------------------
# The suites


def test_suites_are_well_formed():
    for name, cases in suites.SUITES.items():
        assert cases, name
        assert len({c.name for c in cases}) == len(cases), name
        for case in cases:
            for layout in runner.LAYOUTS:
                out = runner.out_shape(case, layout, jnp.float32)
                assert min(out) > 0, (name, case)
                assert runner.chosen_strategy(case, layout, jnp.float32) in jaxconv.STRATEGIES
    assert [c.name for c in suites.RESNET50].count("stem_7x7s2_3-64") == 1
    assert all(c.kind == "depthwise" for c in suites.MOBILENETV2)
    assert all(c.kind == "grouped" and c.groups == 32 for c in suites.GROUPED)
    assert all(c.kind == "transposed" and c.strides != (1, 1) for c in suites.TRANSPOSED)
    assert {c.kind for c in suites.QUICK} == {
        "dense", "depthwise", "grouped", "dilated", "transposed"
    }  # fmt: skip
    assert len(suites.resolve("full")) == sum(len(suites.SUITES[s]) for s in suites.FULL)
    with pytest.raises(ValueError, match="unknown suite"):
        suites.resolve("nope")


def test_transposed_padding_matches_pytorch_output_size():
    # PyTorch: out = (in - 1) * s - 2p + k + output_padding.
    case = suites._t("t", 1, 28, 4, 2, 3, 2, 1, op=1)
    assert runner.out_shape(case, "NHWC", jnp.float32) == (1, 56, 56, 2)
    case = suites._t("t", 1, 16, 4, 2, 4, 2, 1)
    assert runner.out_shape(case, "NCHW", jnp.float32) == (1, 2, 32, 32)


# ---------------------------------------------------------------------------------------
# The random suite and the fitting data


def test_random_suite_is_drawn_like_real_networks():
    layers = suites.RANDOM
    assert len(layers) >= 300
    assert [c.name for c in suites.random_layers()] == [c.name for c in layers]  # seeded
    assert {c.rank for c in layers} == {1, 2, 3}
    assert {"dense", "depthwise", "grouped", "dilated"} <= {c.kind for c in layers}
    assert {1, 2} == {s for c in layers for s in c.strides}
    assert max(max(c.kernel) for c in layers) >= 31  # a few long kernels
    assert {c.layouts for c in layers} == {("NHWC",), ("NCHW",)}
    widths = [c.in_channels for c in layers]
    assert min(widths) == 1 and max(widths) >= 512
    held = [c for c in layers if suites.held_out(c)]
    assert len(held) == len(suites.SUITES["random-heldout"]) and 0.2 < len(held) / len(layers) < 0.3
    for c in layers:
        assert suites._flops(c) <= suites.FLOPS_CAP


def test_random_small_suite_draws_small_maps():
    # CIFAR-like layers: small maps with any features and bigger batches, which the main
    # draw (bigger maps for fewer features) never makes.
    suite = suites.SUITES["random-small"]
    layers = [c for c in suite if not c.name.endswith("_dx")]
    assert len(layers) == suites.RANDOM_SMALL_LAYERS and len(suite) == 2 * len(layers)
    assert [c.name for c in layers] == [
        c.name for c in suites.random_layers(len(layers), suites.RANDOM_SEED, small=True)
    ]
    assert all(c.name.startswith("s") for c in layers)
    two_d = [c for c in layers if c.rank == 2]
    assert max(max(c.in_spatial) for c in two_d) <= 64
    assert max(c.in_channels for c in two_d if max(c.in_spatial) <= 16) >= 256
    assert max(c.batch for c in layers) > 64
    assert {"dense", "depthwise", "grouped"} <= {c.kind for c in layers}
    held = [c for c in layers if suites.held_out(c)]
    assert 0.2 < len(held) / len(layers) < 0.3
    for c in layers:
        assert suites._flops(c) <= suites.FLOPS_CAP
    fresh = [c for s, c in suites.resolve("random-small", seed=7) if s == "random-small@7"]
    assert fresh[::2] == suites.random_layers(len(layers), 7, small=True)


def test_random_large_suite_draws_training_scale_layers():
    # Layers as a training step runs them (batch 4-128, up to 2 GFLOP), above the caps of
    # the main draw, which the rules would otherwise extrapolate to.
    suite = suites.SUITES["random-large"]
    layers = [c for c in suite if not c.name.endswith("_dx")]
    assert len(layers) == suites.RANDOM_LARGE_LAYERS and len(suite) == 2 * len(layers)
    assert layers == suites.random_layers(len(layers), suites.RANDOM_SEED, large=True)
    assert all(c.name.startswith("l") for c in layers)
    assert suite[1] == suites.input_grad_case(suite[0])
    flops = [suites._flops(c) for c in layers]
    assert max(flops) <= suites.LARGE_FLOPS_CAP
    assert sum(f > suites.FLOPS_CAP for f in flops) > len(layers) // 2
    for c in layers:
        assert c.batch * math.prod(c.in_spatial) * c.in_channels <= suites.LARGE_ELEMENTS_CAP
    assert {"dense", "depthwise", "grouped"} <= {c.kind for c in layers}
    assert 0.2 < sum(map(suites.held_out, layers)) / len(layers) < 0.3
    fresh = [c for s, c in suites.resolve("random-large", seed=7) if s == "random-large@7"]
    assert fresh[::2] == suites.random_layers(len(layers), 7, large=True)


def test_random_transposed_suite_draws_decoder_layers():
    # Transposed layers are in no other random suite (their gradients, strided convolutions,
    # are): a seeded draw of decoders' upsampling layers, its output sizes lax's own.
    layers = suites.SUITES["random-transposed"]
    assert len(layers) == suites.RANDOM_TRANSPOSED_LAYERS
    assert layers == suites.random_transposed_layers(seed=suites.RANDOM_SEED)
    assert all(c.transposed and c.kind == "transposed" and c.name.startswith("t") for c in layers)
    assert {c.rank for c in layers} == {1, 2, 3}
    assert {2, 4, 8} <= {c.strides[0] for c in layers}
    assert {c.layouts for c in layers} == {("NHWC",), ("NCHW",)}
    assert any(c.kernel[0] == c.strides[0] for c in layers)  # a U-Net's: taps never overlap
    assert any(c.kernel[0] > c.strides[0] for c in layers)  # DCGAN's: they do
    for c in layers:
        x = jax.ShapeDtypeStruct((c.batch, *c.in_spatial, c.in_channels), jnp.float32)
        w = jax.ShapeDtypeStruct((*c.kernel, c.in_channels, c.out_channels), jnp.float32)
        sp = "DHW"[-c.rank :]
        dn = (f"N{sp}C", f"{sp}IO", f"N{sp}C")
        y = jax.eval_shape(
            lambda x, w, c=c, dn=dn: jax.lax.conv_transpose(
                x, w, c.strides, c.padding, dimension_numbers=dn
            ),
            x,
            w,
        )
        assert y.shape == (c.batch, *suites._transposed_out(c), c.out_channels), c.name
        flops = 2 * c.batch * math.prod(c.in_spatial) * c.in_channels * c.out_channels
        assert flops * math.prod(c.kernel) <= suites.FLOPS_CAP, c.name
        assert max(x.size, y.size) <= suites.ELEMENTS_CAP, c.name
    fresh = suites.resolve("random-transposed", seed=7)
    assert {s for s, _ in fresh} == {"random-transposed@7"}
    assert [c for _, c in fresh] == suites.random_transposed_layers(seed=7) != layers


def test_seed_draws_fresh_random_layers(tmp_path):
    # --seed N: the random suites from another seed, layers no rule was fitted on; the
    # committed seed gives the committed suites.
    fresh = suites.resolve("random,random-heldout", seed=7)
    assert [c for _, c in suites.resolve("random", seed=suites.RANDOM_SEED)] == suites.SUITES[
        "random"
    ]
    layers = [c for s, c in fresh if s == "random@7" and not c.name.endswith("_dx")]
    assert layers == suites.random_layers(seed=7) and layers != suites.RANDOM
    assert [c for s, c in fresh if s == "random-heldout@7"] == [
        c for c in layers if suites.held_out(c)
    ]
    assert suites.resolve("smoke", seed=7) == suites.resolve("smoke")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    name = layers[0].name
    argv = ["--suite", "random", "--seed", "7", "--match", f"^{name}$", "--devices", "cpu",
            "--direction", "fwd", "--reps", "1", "--out", str(tmp_path)]  # fmt: skip
    assert cli.run(parser.parse_args(argv), argv=argv) == 0
    with open(tmp_path / "results.json") as f:
        records = json.load(f)["records"]
    assert [(r["suite"], r["case"], r["in_channels"], r["out_channels"]) for r in records] == [
        ("random@7", name, layers[0].in_channels, layers[0].out_channels)
    ]


@pytest.mark.parametrize("index", range(0, 336, 7))
def test_random_gradient_cases_are_the_input_gradients(index):
    """The suite's own arithmetic for a layer's `_dx` case agrees with jaxconv's gradient
    plan (an independent check of both)."""
    from jaxconv import _grad, _plan

    case = suites.RANDOM[index]
    dx = suites.input_grad_case(case)
    xs, ws = runner.shapes(case, "NHWC")
    dn = runner.dimension_numbers(case, "NHWC")
    plan = _plan.make_plan(xs, ws, case.strides, case.padding, None, case.dilation, dn,
                              case.groups, 1, "zeros")  # fmt: skip
    want = _grad.input_grad_plan(plan)
    assert dx.in_spatial == want.in_spatial and suites.out_spatial(dx) == want.out_spatial
    assert suites._pads(dx) == want.pads and dx.input_dilation == want.lhs_dilation
    assert (dx.in_channels, dx.out_channels, dx.groups) == (
        want.in_features, want.out_features, want.feature_groups
    )  # fmt: skip
    assert runner.out_shape(dx, "NHWC", jnp.float32)[1:-1] == case.in_spatial


def test_all_strategies_share_one_timing_run():
    case, dev = suites.SMOKE[0], jax.devices("cpu")[0]
    names = runner.strategies_for(case, "NHWC")
    assert {"im2col", "taps", "direct"} <= set(names) and "grouped" not in names
    recs = runner.run_case_strategies("smoke", case, dev, jnp.float32, "NHWC", "fwd", names,
                                      reps=3)  # fmt: skip
    assert [r["strategy"] for r in recs] == names
    assert len({r["lax_ms"] for r in recs}) == 1  # lax timed once, in the same rounds
    assert {r["auto_strategy"] for r in recs} == {runner.chosen_strategy(case, "NHWC", "float32")}
    for r in recs:
        assert report.validate_record(r) == []


def test_strategies_that_compile_to_one_program_are_timed_once():
    # A channels-last 1x1 layer is one dot for taps and rows alike: the same program (debug
    # information aside), timed once, the same times in both records; a 3x3 layer's taps and
    # rows are different programs, timed each.
    dev = jax.devices("cpu")[0]
    pointwise = suites._f("pointwise", 1, (7, 10), 64, 64, 1)
    three = suites._f("three", 1, (9, 10), 16, 16, 3)
    names = ["taps", "rows"]
    texts = {}
    for case in (pointwise, three):
        args = [jnp.zeros(s, jnp.float32) for s in runner.shapes(case, "NHWC")]
        texts[case.name] = [
            runner.program_text(
                jax.jit(runner.jaxconv_impl(case, "NHWC", n)).lower(*args).compile()
            )
            for n in names
        ]
    assert texts["pointwise"][0] == texts["pointwise"][1]
    assert texts["three"][0] != texts["three"][1]
    for case, same in ((pointwise, True), (three, False)):
        recs = runner.run_case_strategies("smoke", case, dev, jnp.float32, "NHWC", "fwd", names,
                                          reps=3)  # fmt: skip
        times = [(r["jaxconv_ms"], r["jaxconv_min_ms"], r["jaxconv_max_ms"]) for r in recs]
        assert (times[0] == times[1]) == same


def test_all_strategies_of_an_integer_case_take_its_dtype():
    case = next(c for c in suites.FRONTIER if c.dtype == "int8" and c.rank == 2)
    names = runner.strategies_for(case, "NHWC")
    assert "fft" not in names and {"im2col", "taps"} <= set(names)  # fft rounds: floats only
    float_case = case._replace(dtype=None)
    assert "fft" in runner.strategies_for(float_case, "NHWC")


def test_time_adaptive_adds_rounds_only_while_times_spread(monkeypatch):
    """Scripted round times, so that no clock jitter on a busy machine decides: steady
    times stop at ``reps`` rounds; times spread far over 30 % go on, up to ten times (or
    ``most``)."""

    def scripted(pattern):
        done = [0]

        def time_interleaved(fns, args, reps):
            times = [pattern(done[0] + i) for i in range(reps)]
            done[0] += reps
            return [times]

        return time_interleaved

    monkeypatch.setattr(runner, "time_interleaved", scripted(lambda i: 0.005))
    assert len(runner.time_adaptive([print], (), reps=5, budget_s=10.0)[0]) == 5
    jumpy = scripted(lambda i: 0.004 if i % 2 else 0.001)
    monkeypatch.setattr(runner, "time_interleaved", jumpy)
    assert len(runner.time_adaptive([print], (), reps=5, budget_s=10.0)[0]) == 50
    # at most `most` times as many (the models' steps: 3)
    monkeypatch.setattr(runner, "time_interleaved", scripted(lambda i: 0.004 if i % 2 else 0.001))
    assert len(runner.time_adaptive([print], (), reps=5, budget_s=10.0, most=3)[0]) == 15


def test_terminal_output_fits_80_columns(smoke_run):
    """At COLUMNS=80: every line fits, no cell is cut to '…', each case printed a progress
    line with its ratio, and the table keeps case, strategy and ratio with a legend."""
    doc, out = smoke_run
    with open(os.path.join(out, "stdout.txt")) as f:
        text = f.read()
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80, max(lines, key=len)
    assert "…" not in text
    progress = [line for line in lines if line.startswith("[") and ": ratio " in line]
    assert len(progress) == len(doc["records"])
    header = next(line for line in lines if "case" in line and "ratio" in line)
    assert "strategy" in header
    for r in doc["records"]:
        assert f"{r['ratio']:.2f}" in text
    assert "jaxconv ms / lax ms" in text  # the legend of the ratio column


def test_table_at_80_columns_and_legend():
    """rich's own capture at width 80 on a committed full-suite results file."""
    from rich.console import Console

    path = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "results", "cpu-2core")
    with open(os.path.join(path, "results.json")) as f:
        records = json.load(f)["records"]
    console = Console(width=80, record=True, color_system=None)
    t = report.table(records, width=80)
    console.print(t)
    console.print(report.legend(report.shown_columns(t)))
    text = console.export_text()
    assert max(map(len, text.splitlines())) <= 80
    assert "…" not in text
    shown = report.shown_columns(t)
    assert {"case", "strategy", "ratio"} <= set(shown)
    for h in shown:  # each shown column is explained
        assert h in report.LEGEND
    assert "not shown at this width:" in text
    # Wide enough, nothing is dropped and temp j/l and peak are explained.
    wide = report.table(records, width=None)
    assert report.shown_columns(wide) == report.HEADERS
    console = Console(width=200, record=True, color_system=None)
    console.print(report.legend(report.shown_columns(wide)))
    legend = console.export_text()
    assert "temp j/l  XLA's compiled temp memory" in legend and "peak  that rate" in legend


def test_benchmarks_readme_lists_the_schema():
    path = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "README.md")
    with open(path) as f:
        assert report.schema_markdown() in f.read()


def test_a_fwd_bwd_record_names_the_strategy_auto_runs_differentiated():
    # Differentiated, auto may run another strategy than forward alone
    # (_policy.differentiated_choice): a forward+backward record names that one, so that
    # `rules --evaluate` scores what ran. A 24 -> 8 5x5 layer runs fft there.
    case = suites._f("few_outputs", 1, (60, 70), 24, 8, 5)
    plan = runner.plan_of(case, "NHWC")
    forward = runner.chosen_strategy(case, "NHWC", jnp.float32)
    assert forward == jaxconv.chosen_strategy(
        jax.ShapeDtypeStruct((1, 60, 70, 24), jnp.float32),
        jax.ShapeDtypeStruct((5, 5, 24, 8), jnp.float32),
        (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )  # fmt: skip
    assert forward != "fft" and _policy.differentiated_fft_pays(plan, jnp.float32)
    assert runner.chosen_strategy(case, "NHWC", jnp.float32, direction="fwd+bwd") == "fft"
    assert runner.chosen_strategy(case, "NHWC", jnp.float32, "rows", "fwd+bwd") == "rows"
    # where nothing swaps, the forward choice
    plain = suites._f("plain", 2, (16, 16), 16, 16, 3)
    both = [
        runner.chosen_strategy(plain, "NHWC", jnp.float32, direction=d) for d in runner.DIRECTIONS
    ]
    assert both[0] == both[1]


def test_the_backward_pass_of_a_fwd_bwd_program_waits_for_the_output():
    # As in a training step, where the cotangent comes from the layers after: the program
    # feeds the output into the cotangent (leaving its values alone), so XLA cannot run the
    # backward pass beside the forward one. A NaN in the input reaches the output, and from
    # there the input gradient, which the cotangent alone would leave finite.
    dn = ("NWC", "WIO", "NWC")

    def conv(x, w):
        return lax.conv_general_dilated(x, w, (1,), "SAME", dimension_numbers=dn)

    step = jax.jit(runner.program(conv, "fwd+bwd"))
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 16, 3), np.float32), rng.standard_normal((3, 3, 4), np.float32)
    ct = rng.standard_normal((2, 16, 4), np.float32)
    y, vjp = jax.vjp(conv, x, w)
    want = (y, *vjp(ct))
    for got, expected in zip(step(x, w, ct), want, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    x[1, 8, 0] = np.nan
    _, dx, _ = step(x, w, ct)
    alone = jax.vjp(conv, x, w)[1](ct)[0]  # the VJP of the cotangent alone: finite
    assert np.all(np.isfinite(np.asarray(alone)))
    assert np.isnan(np.asarray(dx)[1, 7:10]).any() and np.isfinite(np.asarray(dx)[0]).all()
