"""Where ``fft`` overtakes the direct strategies: long 1-D and 2-D kernels on this CPU.

Times, interleaved in one process, lax, the strategy ``auto``'s fitted rules pick (never
``fft``: the rules do not know it) and ``fft``, forward and forward+backward, and prints a
markdown table of medians as ratios to lax. ``python benchmarks/fft_crossover.py [--quick]``;
the table in docs/performance.md ("Long kernels") is its output on the project's 2-core CPU.
"""

from __future__ import annotations

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxconv import _policy
from jaxconv._bench import fit, runner, suites
from jaxconv._bench.suites import Case


def cases(quick: bool) -> list[Case]:
    k1 = (7, 15, 31, 63, 127, 255) if quick else (7, 15, 31, 63, 127, 255, 511, 1023)
    k2 = (7, 11, 15) if quick else (7, 11, 15, 21, 31)
    out = []
    for k in k1:
        out.append(Case(f"1d-dense-{k}", 4, (2048,), 16, 16, (k,), (1,), "SAME"))
        causal = (((k - 1, 0),),)[0]
        out.append(Case(f"1d-depthwise-{k}", 2, (4096,), 64, 64, (k,), (1,), causal, groups=64))
    for k in k2:
        out.append(Case(f"2d-dense-{k}", 2, (64, 64), 16, 16, (k, k), (1, 1), "SAME"))
        out.append(
            Case(f"2d-depthwise-{k}", 2, (64, 64), 32, 32, (k, k), (1, 1), "SAME", groups=32)
        )
    return out


def rules_choice(case: Case, dtype, layout: str = "NHWC") -> str:
    """The strategy ``auto``'s fitted rules (and hand rules) pick in ``layout``, ``fft``'s
    override off."""
    plan = fit.plan_of(case, layout)
    saved = getattr(_policy, "fft_pays", None)
    if saved is not None:
        _policy.fft_pays = lambda plan, dtype=None: False
    try:
        return _policy.choose(plan, dtype, decide_layout=True)
    finally:
        if saved is not None:
            _policy.fft_pays = saved


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--direction", default="fwd,fwd+bwd")
    ap.add_argument("--only", default="")
    ap.add_argument("--suite", default="", help="time this suite's cases where auto runs fft")
    args = ap.parse_args()
    dtype = jnp.float32
    print("| case | kernel | auto (rules) | direction | rules / lax | fft / lax | auto / lax |")
    print("| --- | ---: | --- | --- | ---: | ---: | ---: |")
    todo = cases(args.quick)
    if args.suite:
        todo = [
            c
            for c in suites.SUITES[args.suite]
            if runner.chosen_strategy(c, "NHWC", dtype) == "fft"
        ]
    for case in todo:
        if args.only and args.only not in case.name:
            continue
        name = rules_choice(case, dtype)
        auto_now = runner.chosen_strategy(case, "NHWC", dtype)
        for direction in args.direction.split(","):
            x, w, ct = runner.make_inputs(case, "NHWC", dtype)[:3]
            fns = [
                runner.lax_impl(case, "NHWC"),
                runner.jaxconv_impl(case, "NHWC", name),
                runner.jaxconv_impl(case, "NHWC", "fft"),
            ]
            progs = [jax.jit(runner.program(f, direction)) for f in fns]
            for p in progs:
                jax.block_until_ready(p(x, w, ct))
            times = runner.time_interleaved(progs, (x, w, ct), args.reps)
            med = [float(np.median(t)) for t in times]
            auto = med[2] if auto_now == "fft" else med[1]
            print(
                f"| {case.name} | {case.kernel[0]} | {name} | {direction} | "
                f"{med[1] / med[0]:.2f} | {med[2] / med[0]:.2f} | {auto / med[0]:.2f} |",
                flush=True,
            )
    print(f"\nauto: {_policy.rules_for()[1]}; jax {jax.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
