"""Where ``auto`` should run ``fft``, measured on random layers rather than on a grid.

``auto`` runs ``fft`` where the direct algorithm's multiply-adds are at least a threshold
times ``fft``'s modelled cost (``jaxconv._policy.fft_pays``: ``FFT_PAYS_GEMM`` against a
GEMM strategy, ``FFT_PAYS_FUSED`` against a fused loop); the thresholds came from
``fft_crossover.py``'s grid of 16-feature layers. This sweep draws layers like real networks'
(``--suite random`` from each seed given, the layers and their input gradients, in the
layouts the suite gives them), keeps those whose cost ratio lies in a band around the
thresholds, and times each forward, lax, the strategy the fitted rules pick (``fft``'s
override off) and ``fft`` in the same rounds. One JSON line per convolution.

    python benchmarks/fft_sweep.py --seeds 301,302 --out sweep.jsonl     # time
    python benchmarks/fft_sweep.py --fit sweep.jsonl --train 301,302      # fit and check

``--fit`` picks each threshold minimising the geometric mean of time(choice) / time(best of
the two) over the training seeds' convolutions and reports it, and the present
thresholds', on every other seed in the files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from fft_crossover import rules_choice  # this folder is first on sys.path when run as a script

from jaxconv import _policy, _strategies
from jaxconv._bench import fit, runner, suites


def fused(plan, name: str) -> bool:
    """Whether ``_policy.fft_pays`` compares ``fft`` with a fused loop for ``name``."""
    return name in ("depthwise", "direct") or (plan.feature_groups > 1 and plan.group_in <= 4)


def cost_ratio(plan) -> float:
    """The direct algorithm's multiply-adds over ``fft``'s modelled cost (``fft_pays``)."""
    plan = plan._replace(channels_first=False)
    direct = plan.flops / 2 / int(np.prod(plan.lhs_dilation))
    return direct / _strategies.fft_cost(plan, _strategies.fft_blocks(plan))


def candidates(seed: int, band: float, dense: bool = False):
    """``(case, layout, plan)`` of seed ``seed``'s random convolutions that ``fft`` accepts
    and whose cost ratio lies within a factor ``band`` of the threshold that applies (with
    ``dense``, only ungrouped layers that ``auto`` runs as GEMMs)."""
    for case in suites.random_suite("random", seed):
        for layout in case.layouts or ("NHWC",):
            plan = fit.plan_of(case, layout)
            if not _strategies.feasible("fft", plan, jnp.float32):
                continue
            is_fused = fused(plan, rules_choice(case, jnp.float32, layout))
            if dense and (is_fused or plan.feature_groups > 1):
                continue
            threshold = _policy.FFT_PAYS_FUSED if is_fused else _policy.FFT_PAYS_GEMM
            if 1 / band <= cost_ratio(plan) / threshold <= band:
                yield case, layout, plan


def sweep(args) -> None:
    dtype = jnp.float32
    start = time.monotonic()
    with open(args.out, "a") as out:
        for seed in map(int, args.seeds.split(",")):
            for case, layout, plan in candidates(seed, args.band, args.dense):
                if time.monotonic() - start > args.budget:
                    print("budget spent", file=sys.stderr)
                    return
                name = rules_choice(case, dtype, layout)
                x, w, ct = runner.make_inputs(case, layout, dtype)[:3]
                fns = [runner.lax_impl(case, layout), runner.jaxconv_impl(case, layout, name),
                       runner.jaxconv_impl(case, layout, "fft")]  # fmt: skip
                progs = [jax.jit(runner.program(f, "fwd")) for f in fns]
                for p in progs:
                    jax.block_until_ready(p(x, w, ct))
                times = runner.time_interleaved(progs, (x, w, ct), args.reps)
                lax_ms, rules_ms, fft_ms = (1e3 * float(np.median(t)) for t in times)
                row = dict(seed=seed, case=case.name, layout=layout, rules=name,
                           fused=fused(plan, name), groups=plan.feature_groups,
                           ratio=cost_ratio(plan), lax_ms=lax_ms, rules_ms=rules_ms,
                           fft_ms=fft_ms)  # fmt: skip
                out.write(json.dumps(row) + "\n")
                out.flush()
                print(f"{seed} {case.name} {layout} {name} ratio {row['ratio']:.2f}: "
                      f"rules/lax {rules_ms / lax_ms:.2f} fft/lax {fft_ms / lax_ms:.2f}",
                      flush=True)  # fmt: skip


def regret(rows, threshold: float) -> np.ndarray:
    """time(choice) / time(faster of the two) per row with ``threshold``."""
    choice = np.array([r["fft_ms"] if r["ratio"] >= threshold else r["rules_ms"] for r in rows])
    best = np.array([min(r["fft_ms"], r["rules_ms"]) for r in rows])
    return choice / best


def kind(row) -> str:
    """Which threshold a row's decision uses: ``'fused'`` (``FFT_PAYS_FUSED``), else
    ``'grouped'`` or ``'dense'`` (both ``FFT_PAYS_GEMM`` today)."""
    if row["fused"]:
        return "fused"
    return "grouped" if row.get("groups", 1) > 1 or "_grouped_" in row["case"] else "dense"


def fit_thresholds(args) -> None:
    rows = [json.loads(line) for path in args.fit.split(",") for line in open(path)]
    train = set(map(int, args.train.split(",")))
    grid = np.exp(np.linspace(np.log(0.1), np.log(20), 200))
    present = {"dense": _policy.FFT_PAYS_GEMM, "grouped": _policy.FFT_PAYS_GEMM,
               "fused": _policy.FFT_PAYS_FUSED}  # fmt: skip
    for k, now in present.items():
        part = [r for r in rows if kind(r) == k]
        tr = [r for r in part if r["seed"] in train]
        te = [r for r in part if r["seed"] not in train]
        if not tr:
            continue
        scores = [fit.geomean(regret(tr, t)) for t in grid]
        best = float(grid[int(np.argmin(scores))])
        flat = [t for t, v in zip(grid, scores, strict=True) if v <= min(scores) * 1.005]
        print(f"## {k}: {len(tr)} training, {len(te)} held-out convolutions; training regret "
              f"within 0.5 % of its least from {min(flat):.2f} to {max(flat):.2f}\n")  # fmt: skip
        print("| threshold | train regret (geomean, p90) | held-out regret (geomean, p90) "
              "| held-out fft runs |")  # fmt: skip
        print("| ---: | ---: | ---: | ---: |")
        for label, t in (("present", now), ("fitted", best)):
            rt, re = regret(tr, t), regret(te, t)
            p90 = float(np.percentile(re, 90)) if len(re) else float("nan")
            runs = sum(r["ratio"] >= t for r in te)
            print(f"| {label} {t:.2f} | {fit.geomean(rt):.3f}, {np.percentile(rt, 90):.3f} "
                  f"| {fit.geomean(re):.3f}, {p90:.3f} | {runs} |")  # fmt: skip
        print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="301,302")
    ap.add_argument("--band", type=float, default=4.0,
                    help="keep convolutions within this factor of the threshold")  # fmt: skip
    ap.add_argument("--dense", action="store_true", help="ungrouped GEMM layers only")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--budget", type=float, default=1800, help="seconds")
    ap.add_argument("--out", default="fft_sweep.jsonl")
    ap.add_argument("--fit", default="", help="fit on these JSONL files instead of timing")
    ap.add_argument("--train", default="301,302", help="the seeds --fit trains on")
    args = ap.parse_args()
    if args.fit:
        fit_thresholds(args)
    else:
        sweep(args)


if __name__ == "__main__":
    main()
