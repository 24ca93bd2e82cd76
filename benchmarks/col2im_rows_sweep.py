"""Where ``col2im`` should stack the last dim's taps first, measured on random layers.

``col2im`` computes every tap's products in one GEMM, ``K·O`` columns per input position,
and sums shifted slices of them; stacking the last spatial dim's ``kw`` taps beside the
features first (``jaxconv._strategies.stacks_rows``) makes the GEMM ``kw`` times deeper and
``kw`` times narrower. This sweep draws layers like real networks' (``--suite random`` from
each seed given, the layers and their input gradients, in the layouts the suite gives
them), keeps the channels-last plans of two or more spatial dims that ``col2im`` accepts,
and times each forward in the same rounds: lax, ``auto``'s choice as the tree had it before
stacking (``stacks_rows`` off), ``col2im`` without and with stacking. One JSON line per
convolution.

    python benchmarks/col2im_rows_sweep.py --seeds 401,402 --out sweep.jsonl
    python benchmarks/col2im_rows_sweep.py --fit sweep.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxconv import _strategies
from jaxconv._bench import fit, runner, suites
from jaxconv._bench.fit import geomean


@contextlib.contextmanager
def stacking(on: bool):
    """``col2im`` with (``on``) or without stacking, while programs are traced."""
    saved = _strategies.stacks_rows
    if not on:
        _strategies.stacks_rows = lambda plan: False
    else:
        _strategies.stacks_rows = lambda plan: _eligible(plan)
    try:
        yield
    finally:
        _strategies.stacks_rows = saved


def _eligible(plan) -> bool:
    kw = plan.kernel[-1] if plan.kernel else 1
    return (
        not plan.channels_first
        and plan.num_spatial > 1
        and kw > 1
        and all(d == 1 for d in plan.lhs_dilation)
    )


def traffic(plan) -> float:
    """Elements per position with stacking over those without: ``(kw·C + K/kw·O) / (K·O)``."""
    return _strategies.stacked_row_elements(plan) / (plan.taps * plan.out_features)


def candidates(seed: int):
    for case in suites.random_suite("random", seed):
        for layout in case.layouts or ("NHWC",):
            plan = fit.plan_of(case, layout)._replace(channels_first=False)
            if _eligible(plan) and _strategies.feasible("col2im", plan, jnp.float32):
                yield case, layout, plan


def traced(fn, on: bool, x, w):
    """``fn`` compiled for ``x, w`` with stacking ``on``."""
    with stacking(on):
        return jax.jit(fn).lower(x, w).compile()


def sweep(args) -> None:
    dtype = jnp.float32
    start = time.monotonic()
    with open(args.out, "a") as out:
        for seed in map(int, args.seeds.split(",")):
            for case, layout, plan in candidates(seed):
                if time.monotonic() - start > args.budget:
                    print("budget spent", file=sys.stderr)
                    return
                with stacking(False):
                    choice = runner.chosen_strategy(case, layout, dtype)
                x, w = (jnp.asarray(a) for a in runner.make_inputs(case, layout, dtype)[:2])
                progs = [
                    jax.jit(runner.lax_impl(case, layout)).lower(x, w).compile(),
                    traced(runner.jaxconv_impl(case, layout), False, x, w),
                    traced(runner.jaxconv_impl(case, layout, "col2im"), False, x, w),
                    traced(runner.jaxconv_impl(case, layout, "col2im"), True, x, w),
                ]
                for p in progs:
                    jax.block_until_ready(p(x, w))
                times = runner.time_interleaved(progs, (x, w), args.reps)
                lax_ms, auto_ms, plain_ms, rows_ms = (1e3 * float(np.median(t)) for t in times)
                row = dict(seed=seed, case=case.name, layout=layout, auto=choice,
                           c=plan.in_features, o=plan.out_features, kernel=plan.kernel,
                           traffic=traffic(plan), lax_ms=lax_ms, auto_ms=auto_ms,
                           plain_ms=plain_ms, rows_ms=rows_ms)  # fmt: skip
                out.write(json.dumps(row) + "\n")
                out.flush()
                print(f"{seed} {case.name} {layout} auto {choice} {auto_ms / lax_ms:.2f} "
                      f"col2im {plain_ms / lax_ms:.2f} stacked {rows_ms / lax_ms:.2f} "
                      f"traffic {row['traffic']:.2f}", flush=True)  # fmt: skip


def fit_rule(args) -> None:
    """Fit ``stack where traffic < t and C <= c`` on the layers outside the held-out
    quarter (``suites.held_out``) and report it on that quarter."""
    rows = [json.loads(line) for path in args.fit.split(",") for line in open(path)]
    held = [r for r in rows if int(r["case"][1:4]) % 4 == 3]  # as suites.held_out
    train = [r for r in rows if r not in held]

    def regret(part, t, c):
        pick = [r["rows_ms"] if r["traffic"] < t and r["c"] <= c else r["plain_ms"] for r in part]
        return np.array(pick) / np.array([min(r["rows_ms"], r["plain_ms"]) for r in part])

    grid = [(t, c) for t in np.linspace(0.2, 1.5, 27) for c in (16, 32, 64, 128, 256, 512, 4096)]
    scores = [geomean(regret(train, t, c)) for t, c in grid]
    best = grid[int(np.argmin(scores))]
    print(f"{len(train)} training, {len(held)} held-out convolutions (every fourth layer)\n")
    print("| rule | train regret (geomean, p90) | held-out regret (geomean, p90) |")
    print("| --- | ---: | ---: |")
    for label, (t, c) in (("never", (0, 0)), ("traffic < 1", (1.0, 1 << 30)),
                          (f"fitted: traffic < {best[0]:.2f}, C <= {best[1]}", best)):  # fmt: skip
        a, b = regret(train, t, c), regret(held, t, c)
        print(f"| {label} | {geomean(a):.3f}, {np.percentile(a, 90):.3f} | {geomean(b):.3f}, "
              f"{np.percentile(b, 90):.3f} |")  # fmt: skip
    t, c = best
    for name, part in (("training", train), ("held-out", held)):
        stacked = [r for r in part if r["traffic"] < t and r["c"] <= c and r["auto"] == "col2im"]
        if stacked:
            print(f"\n{name}: {len(stacked)} convolutions that auto ran as col2im now stack: "
                  f"time / before {geomean([r['rows_ms'] / r['auto_ms'] for r in stacked]):.3f}, "
                  f"/ lax {geomean([r['rows_ms'] / r['lax_ms'] for r in stacked]):.3f} (before "
                  f"{geomean([r['auto_ms'] / r['lax_ms'] for r in stacked]):.3f})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="401,402")
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--budget", type=float, default=1800, help="seconds")
    ap.add_argument("--out", default="col2im_rows_sweep.jsonl")
    ap.add_argument("--fit", default="", help="fit on these JSONL files instead of timing")
    args = ap.parse_args()
    if args.fit:
        fit_rule(args)
    else:
        sweep(args)


if __name__ == "__main__":
    main()
