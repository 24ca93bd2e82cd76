"""``python -m jaxconv bench``: verify jaxconv against lax and time both, on every device.

This module imports neither jax nor rich at the top, so ``--help`` is instant; the work
happens in :mod:`.runner` and :mod:`.report`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from typing import Any

from . import suites as _suites

EPILOG = """\
Each case is first verified (jaxconv's output, and for fwd+bwd both gradients, against
lax.conv_general_dilated or lax.conv_transpose; max abs and relative error) and the run
stops with exit code 1 at the first disagreement. Both are then jitted, warmed up and timed
interleaved in this process; medians with min and max. Writes DIR/results.json (schema in
jaxconv._bench.report.SCHEMA), DIR/results.png (ratio per case) and DIR/summary.md.
Ctrl-C or SIGTERM (e.g. from `timeout`) stops the run and still writes the records
measured so far, with exit code 130.

Suites: {suites}; 'full' is {full}. Frontier cases of an integer dtype run
forward only, in that dtype, whatever --dtype says; an integer --dtype (int8) runs every
other case so too, with int32 sums (preferred_element_type), checked bit-exact.

Model suites: {models}.
They time one training step (forward, backward, SGD update) of each network, built with
flax.nnx.Conv/ConvTranspose and again with jaxconv.nnx's from the same parameters, NHWC
(--layout, --direction and --budget do not apply; --reps rounds are run, up to three times
as many where the times spread over 30 %): the losses must agree, and the parameters after
jaxconv's step those after a float64 step (both on the network's smooth twin: softplus for
ReLU, mean for max pooling), then both steps are timed interleaved. Needs Flax (pip install
'jaxconv[flax]'). Records go to the "models" list of results.json. The layer suite
models-layers holds those networks' distinct convolutions, each named
<network>_<layer>_x<count> (count: the times one forward pass runs it), timed against lax
like any layer; summary.md adds them up per network.

examples:
  python -m jaxconv bench                                   # the quick suite, every device
  python -m jaxconv bench --suite full --layout NHWC --out bench-out/full
  python -m jaxconv bench --suite grouped --strategy taps --direction fwd
  python -m jaxconv bench --suite smoke --cpu-devices 2  # + data-parallel on 2 CPU devices
  python -m jaxconv bench --suite smoke --processes 2    # data-parallel over 2 processes
  python -m jaxconv bench --suite smoke --cpu-devices 8 --spatial-shard  # image rows split
  python -m jaxconv bench --suite models --reps 20       # ResNet-20, MobileNetV2, U-Net steps
  python -m jaxconv bench --suite models-layers          # their convolutions one by one
  python -m jaxconv bench --suite random --seed 7 --slice 0:40  # fresh layers, auto vs lax
"""


def _csv(choices: tuple[str, ...] | None = None):
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError("expected a comma-separated list")
        if choices is not None:
            bad = [t for t in items if t not in choices]
            if bad:
                raise argparse.ArgumentTypeError(
                    f"invalid choice {', '.join(bad)} (choose from {', '.join(choices)})"
                )
        return items

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bench`` options (see ``python -m jaxconv bench --help``)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    suites_text = ", ".join(f"{k} ({len(v)} cases)" for k, v in _suites.SUITES.items())
    models_text = ", ".join(f"{k} ({len(v)} models)" for k, v in _suites.MODEL_SUITES.items())
    parser.epilog = EPILOG.format(
        suites=suites_text, models=models_text, full=", ".join(_suites.FULL)
    )
    a = parser.add_argument
    a(
        "--suite",
        default="quick",
        metavar="NAME[,NAME]",
        help="suites to run, comma-separated, or 'full' (default: quick)",
    )
    a(
        "--dtype",
        type=_csv(),
        default=["float32"],
        metavar="DTYPE[,DTYPE]",
        help="input dtypes, e.g. float32,bfloat16 (default: float32)",
    )
    a(
        "--direction",
        type=_csv(("fwd", "fwd+bwd")),
        default=["fwd", "fwd+bwd"],
        metavar="fwd,fwd+bwd",
        help="fwd: the convolution; fwd+bwd: it and the gradients w.r.t. input and kernel "
        "(default: both)",
    )
    a(
        "--layout",
        type=_csv(("NHWC", "NCHW")),
        default=["NHWC", "NCHW"],
        metavar="NHWC,NCHW",
        help="NHWC: NHWC/HWIO/NHWC; NCHW: NCHW/OIHW/NCHW (default: both)",
    )
    a(
        "--devices",
        default="all",
        metavar="all|cpu|gpu|tpu",
        help="platforms to run on, comma-separated, or 'all' visible ones (default). Per-device "
        "cases run on the first device of each platform; platforms with several devices "
        "also get a data-parallel case over all of them",
    )
    a("--out", default="bench-out", metavar="DIR", help="output folder (default: bench-out)")
    a(
        "--reps",
        type=int,
        default=10,
        metavar="N",
        help="timed rounds per case, at most (default: 10; at least 3 when slow, see --budget)",
    )
    a(
        "--budget",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="timing budget per case and direction: rounds are cut (to no fewer than 3) when "
        "--reps rounds would take longer (default: 1.0)",
    )
    a(
        "--strategy",
        default="auto",
        metavar="NAME",
        help="auto (default), tune (time every strategy on the device, keep the fastest), "
        "a jaxconv strategy to force (see jaxconv.STRATEGIES), or all: one record per "
        "strategy that accepts the case, all timed in the same rounds (fitting data); "
        "NAME,NAME,...: as all, for the strategies listed",
    )
    a(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="start N local CPU processes under jax.distributed (gloo collectives, loopback) and "
        "run the data-parallel case across them (default: 1, no processes started)",
    )
    a(
        "--cpu-devices",
        type=int,
        default=0,
        metavar="N",
        help="split the host CPU into N jax devices (jax_num_cpu_devices), e.g. to exercise the "
        "data-parallel case on one machine (default: leave jax's setting)",
    )
    a(
        "--timeout",
        type=float,
        default=900.0,
        metavar="SECONDS",
        help="with --processes: kill the processes after this long (default: 900)",
    )
    a(
        "--distributed",
        action="store_true",
        help="call jax.distributed.initialize() (auto-detected on TPU pods, SLURM, Open MPI) and "
        "run the data-parallel case over every process's devices: start the same command on "
        "every host of a GPU or TPU cluster",
    )
    a(
        "--slice",
        default=None,
        metavar="START:STOP",
        help="run only cases START to STOP-1 of the suites' case list (to split a long run, "
        "such as --suite random, into parts)",
    )
    a(
        "--match",
        default=None,
        metavar="REGEX",
        help="run only the cases whose name matches REGEX (re.search), e.g. 'tconv|_dx$'; "
        "applied after --slice",
    )
    a(
        "--spatial-shard",
        action="store_true",
        help="also run a spatially sharded case on every platform with several devices (or "
        "across --processes): a 1x2048x2048x16 image, 3x3 16->16 (1x256x256x16 with the smoke "
        "and quick suites), its rows split over all devices, timed against one device and "
        "against lax sharded the same way, with the collectives XLA compiled",
    )
    a(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="draw the random, random-heldout, random-small, random-large and "
        "random-transposed suites from seed "
        "N: layers like theirs that no rule of auto was fitted on (default: "
        f"{_suites.RANDOM_SEED}, the sweeps')",
    )
    a("--list", action="store_true", help="list the suites and their cases, then exit")
    # Internal: set by the --processes launcher for each child process.
    a("--process-id", type=int, default=None, help=argparse.SUPPRESS)
    a("--coordinator", default=None, help=argparse.SUPPRESS)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(args: argparse.Namespace, argv: list[str]) -> int:
    """Start ``args.processes`` copies of this command as jax.distributed processes on the
    loopback interface; process 0 prints and writes, the others' output is shown only if
    they fail. Returns the worst exit code."""
    coordinator = f"127.0.0.1:{_free_port()}"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    procs = []
    for i in range(args.processes):
        cmd = [sys.executable, "-m", "jaxconv", "bench", *argv,
               "--process-id", str(i), "--coordinator", coordinator]  # fmt: skip
        quiet = {} if i == 0 else {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT}
        procs.append(subprocess.Popen(cmd, env=env, text=True, **quiet))
    deadline = time.monotonic() + args.timeout
    codes = []
    for i, p in enumerate(procs):
        try:
            out, _ = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            print(f"bench: process {i} timed out after {args.timeout:.0f} s", file=sys.stderr)
            return 124
        codes.append(p.returncode)
        if p.returncode and out:
            print(f"--- process {i} (exit {p.returncode}) ---\n{out}", file=sys.stderr)
    return max(codes)


def _select_devices(spec: str) -> dict[str, list[Any]]:
    import jax

    names = ("cpu", "gpu", "tpu") if spec == "all" else [s.strip() for s in spec.split(",")]
    out = {}
    for name in names:
        try:
            devices = jax.devices(name)
        except RuntimeError as e:
            if spec != "all":
                raise SystemExit(f"bench: --devices {spec}: no {name} device is visible.") from e
            continue
        out[devices[0].platform] = devices
    if not out:
        raise SystemExit(f"bench: --devices {spec}: no device found.")
    return out


def _list_suites() -> int:
    for name, cases in _suites.SUITES.items():
        print(f"{name} ({len(cases)} cases)")
        for c in cases:
            pad = c.padding if isinstance(c.padding, str) else list(c.padding)
            size = "x".join(map(str, c.in_spatial))
            only = f" {'/'.join(c.layouts)} only" if c.layouts else ""
            only += f" {c.dtype} fwd only" if c.dtype else ""
            print(f"  {c.name:28s} {c.kind:10s} N={c.batch} in={size} "
                  f"C={c.in_channels} O={c.out_channels} k={c.kernel} s={c.strides} "
                  f"pad={pad} d={c.rhs_dilation} g={c.groups}{only}")  # fmt: skip
    for name, models in _suites.MODEL_SUITES.items():
        print(f"{name} ({len(models)} models, one training step each)")
        for m in models:
            print(f"  {m.name:28s} {m.arch:11s} N={m.batch} in={m.in_hw[0]}x{m.in_hw[1]} "
                  f"C={m.in_channels} widths={list(m.widths)} depth={m.depth} "
                  f"classes={m.classes}")  # fmt: skip
    return 0


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM raises KeyboardInterrupt inside (as SIGINT does), in the main thread only.
    A background job started by a shell ignores SIGINT, so TERM is how it is stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _several(strategy: str) -> bool:
    """Whether ``--strategy`` asks for a record per strategy (``all``, or a list)."""
    return strategy == "all" or "," in strategy


def _run_job(what, suite, case, devices, dtype, layout, direction, *, strategy, reps,
             budget_s, impl, peak_gflops, layers) -> list[dict[str, Any]]:  # fmt: skip
    """The records of one job of :func:`run`: a model's training step, a compile-only
    memory case, a sharded case or a layer under one or more strategies."""
    from . import runner

    if what == "model":
        # --strategy all forces each strategy on single layers; a whole network runs
        # auto's choice there.
        from . import models

        strategy = "auto" if _several(strategy) else strategy
        return [models.run_model(suite, case, devices[0], dtype, reps=reps, strategy=strategy,
                                 layers=layers)]  # fmt: skip
    if suite in _suites.COMPILE_ONLY:
        return [runner.memory_case(suite, case, devices[0], dtype, layout, direction)]
    kw = dict(reps=reps, impl=impl, peak_gflops=peak_gflops)
    if what in ("dp", "ss"):
        return [runner.run_data_parallel(
            suite, case, devices, dtype, layout, direction,
            strategy="auto" if _several(strategy) else strategy,
            sharded="batch" if what == "dp" else "spatial", **kw)]  # fmt: skip
    names = [strategy]
    if _several(strategy):
        listed = strategy.split(",")
        names = [n for n in runner.strategies_for(case, layout) if strategy == "all" or n in listed]
    return runner.run_case_strategies(suite, case, devices[0], dtype, layout, direction, names,
                                      budget_s=budget_s, **kw)  # fmt: skip


def run(
    args: argparse.Namespace,
    *,
    impl: Any = None,
    argv: list[str] | None = None,
    layers: Any = None,
) -> int:
    """Run the benchmark described by ``args``; the process exit code.

    0: every case verified; 1: a case disagreed with lax (partial results are written);
    2: bad arguments. ``impl`` replaces jaxconv's convolution (see ``runner.run_case``),
    ``layers`` jaxconv's Flax layers in the model suites (see ``models.run_model``), for
    tests.
    """
    if args.list:
        return _list_suites()
    try:
        work = _suites.resolve(args.suite, args.seed)
        model_work = _suites.resolve_models(args.suite)
    except ValueError as e:
        print(f"bench: --suite: {e}", file=sys.stderr)
        return 2
    if args.slice:
        try:
            start, stop = (int(v) if v else None for v in args.slice.split(":"))
        except ValueError:
            print(f"bench: --slice must be START:STOP, got {args.slice!r}.", file=sys.stderr)
            return 2
        work = work[start:stop]
    if args.match:
        try:
            pattern = re.compile(args.match)
        except re.error as e:
            print(f"bench: --match must be a regular expression, got {args.match!r}: {e}.",
                  file=sys.stderr)  # fmt: skip
            return 2
        work = [(suite, case) for suite, case in work if pattern.search(case.name)]
        model_work = [(suite, m) for suite, m in model_work if pattern.search(m.name)]
        if not work and not model_work:
            print(
                f"bench: --match {args.match!r} matches no case of {args.suite}.", file=sys.stderr
            )
            return 2
    if args.reps < 1 or args.processes < 1:
        print("bench: --reps and --processes must be positive.", file=sys.stderr)
        return 2
    if args.processes > 1 and args.process_id is None:
        argv = sys.argv[sys.argv.index("bench") + 1 :] if argv is None else argv
        return _launch(args, argv)

    import jax

    if args.process_id is not None:
        jax.config.update("jax_platforms", "cpu")
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            args.coordinator, args.processes, args.process_id, initialization_timeout=120
        )
    elif args.distributed:
        jax.distributed.initialize()
    elif args.cpu_devices:
        jax.config.update("jax_num_cpu_devices", args.cpu_devices)

    import jax.numpy as jnp
    from rich.console import Console

    import jaxconv

    from . import report, runner

    impl = impl or runner.jaxconv_impl
    if model_work:
        try:
            from . import models
        except ImportError as e:
            print(f"bench: the model suites need Flax ({e}); install it with: "
                  "pip install 'jaxconv[flax]'", file=sys.stderr)  # fmt: skip
            return 2
        layers = layers or models.jaxconv_layers
    named = set(args.strategy.split(","))  # one strategy, or a list of them
    if args.strategy not in ("auto", "tune", "all") and not named <= set(jaxconv.STRATEGIES):
        print(f"bench: --strategy must be auto, tune, all, one of {jaxconv.STRATEGIES} or a "
              f"comma-separated list of them, got {args.strategy!r}.", file=sys.stderr)  # fmt: skip
        return 2
    try:
        dtypes = [jnp.dtype(d) for d in args.dtype]
    except TypeError as e:
        print(f"bench: --dtype: {e}", file=sys.stderr)
        return 2
    main = jax.process_index() == 0
    console = Console(quiet=not main)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(quiet=not main, width=160)  # a log: wide, unless COLUMNS says
    distributed = jax.process_count() > 1
    if distributed:
        by_platform = {jax.devices()[0].platform: jax.devices()}
    else:
        by_platform = _select_devices(args.devices)
    suite_names = list(dict.fromkeys(s for s, _ in work))

    # The work list: per-device records (skipped under --processes, where the processes share
    # this machine's cores), then the data-parallel case on every multi-device platform.
    combos = [(d, lay, dr) for d in dtypes for lay in args.layout for dr in args.direction]
    jobs: list[tuple] = []
    if not distributed:
        for devices in by_platform.values():
            for suite, case in work:
                runs = _suites.combos(case, combos)
                jobs += [("one", suite, c[0], [devices[0]], *c[1:]) for c in runs]
            for suite, model in model_work:
                jobs += [("model", suite, model, [devices[0]], d, "NHWC", "step") for d in dtypes]
    for devices in by_platform.values():
        if len(devices) > 1 and work:
            case = _suites.data_parallel_case(suite_names, len(devices))
            jobs += [("dp", "data-parallel", case, devices, *c) for c in combos]
        if len(devices) > 1 and args.spatial_shard:
            case = _suites.spatial_shard_case(suite_names)
            jobs += [("ss", "spatial-shard", case, devices, *c) for c in combos]
    if args.spatial_shard and not any(len(d) > 1 for d in by_platform.values()):
        console.print("--spatial-shard: one device only, nothing to split; give several "
                      "(--cpu-devices N, --processes N)")  # fmt: skip

    peaks, peak_of = [], {}
    layer_jobs = any(what != "model" for what, *_ in jobs)  # model records have no peak
    for devices in by_platform.values() if layer_jobs else ():
        dev = jax.local_devices()[0] if distributed else devices[0]
        for dtype in dtypes:
            gflops = runner.measure_peak(dev, dtype)
            peak_of[dev.platform, dtype] = gflops
            peaks.append({"device": f"{dev.platform}:{dev.id}", "device_kind": dev.device_kind,
                          "dtype": dtype.name, "gflops": gflops})  # fmt: skip
    from jaxconv import _policy

    rules_note = "; ".join(_policy.rules_for(p)[1] for p in by_platform)
    console.print(rules_note)
    if peaks:
        console.print("matmul peak: " + ", ".join(
            f"{p['device']} {p['dtype']} {p['gflops']:.1f} GFLOP/s" for p in peaks))  # fmt: skip

    records: list[dict[str, Any]] = []
    model_records: list[dict[str, Any]] = []
    failure = None
    command = "python -m jaxconv bench " + shlex.join(argv if argv is not None else sys.argv[2:])
    interrupted = False
    with report.progress(console) as bar, _terminate_as_interrupt():
        task = bar.add_task("", total=len(jobs))
        # Ctrl-C or SIGTERM (`timeout`, `kill`) ends the run early but still writes the
        # records measured so far: a long sweep cut short is not lost.
        try:
            for j, (what, suite, case, devices, dtype, layout, direction) in enumerate(jobs, 1):
                bar.update(task, description=f"{suite}/{case.name} {layout} {direction}")
                kw = dict(reps=args.reps, strategy=args.strategy, impl=impl, budget_s=args.budget,
                          peak_gflops=peak_of.get((devices[0].platform, dtype)))  # fmt: skip
                try:
                    with warnings.catch_warnings(record=True) as notes:
                        warnings.simplefilter("always", runner.LaxDisagreement)
                        recs = _run_job(what, suite, case, devices, dtype, layout, direction,
                                        layers=layers, **kw)  # fmt: skip
                except runner.VerificationError as e:
                    failure = str(e)
                    break
                (model_records if what == "model" else records).extend(recs)
                bar.advance(task)
                # One line per record in every mode (above the bar in a terminal), short enough
                # for 80 columns, so the numbers show while the run goes on.
                for r in recs:
                    shown = (
                        f"ratio {r['ratio']:.2f} ({r['strategy']})" if r["ratio"] is not None else
                        f"temp {r['jaxconv_temp_bytes'] / 2**20:.0f} MiB (bound "
                        f"{r['temp_bound_bytes'] / 2**20:.0f}, {r['strategy']})"
                    )  # fmt: skip
                    console.print(f"[{j}/{len(jobs)}] {suite}/{case.name} {layout} {direction}: "
                                  f"{shown}", markup=False, highlight=False)  # fmt: skip
                for note in notes:
                    if issubclass(note.category, runner.LaxDisagreement):
                        console.print(f"  note: {note.message}", markup=False, highlight=False)
        except KeyboardInterrupt:
            interrupted = True

    # The peak again, after the cases: on a shared machine one measurement can be taken in a
    # busy moment, and a peak is the best the device showed in this run.
    for p in peaks:
        dev = next(d for d in jax.local_devices() if f"{d.platform}:{d.id}" == p["device"])
        best = max(p["gflops"], runner.measure_peak(dev, jnp.dtype(p["dtype"])))
        p["gflops"] = best
        for r in records:
            if r["platform"] == dev.platform and r["dtype"] == p["dtype"] and r["gflops"]:
                r["peak_gflops"] = best
                r["peak_fraction"] = r["gflops"] / (best * r["num_devices"])
                r["lax_peak_fraction"] = r["lax_gflops"] / (best * r["num_devices"])

    if interrupted:
        console.print(f"interrupted: {len(records) + len(model_records)} records of "
                      f"{len(jobs)} jobs measured, written below")  # fmt: skip
    if not main:
        return 1 if failure or interrupted else 0
    timed = [r for r in records if r["ratio"] is not None]
    if timed:
        t = report.table(timed, width=console.width)
        console.print(t)
        console.print(report.legend(report.shown_columns(t)))
    if model_records:
        console.print(report.model_table(model_records))
    if len(timed) < len(records):
        from rich.markdown import Markdown

        console.print(Markdown("\n".join(report.memory_table(
            [r for r in records if r["ratio"] is None]))))  # fmt: skip
    paths = report.write(args.out, records, peaks, command, rules_note, models=model_records)
    console.print(f"wrote {paths['json']}, {paths['png']}, {paths['md']}")
    if failure:
        console.print(f"[bold red]VERIFICATION FAILED[/] {failure}", markup=True)
        print(f"bench: verification failed: {failure}", file=sys.stderr)
        return 1
    return 130 if interrupted else 0
