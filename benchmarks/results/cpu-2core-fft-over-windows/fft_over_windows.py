"""``fft`` against ``im2col`` on windows, where ``auto`` would pick between them: the 1-d
programs of ``--suite random`` from the seeds given on which ``auto`` ran ``fft`` (before
``jaxconv._policy._windows_over_fft``) and would otherwise run ``im2col`` with its patches as
windows. Each is timed forward, lax, ``im2col`` and ``fft`` in the same rounds (medians); one
JSON line per program. ``--fit`` scores ``fft`` only below a number of input-output feature
pairs per group, on training and held-out seeds.

    python benchmarks/results/cpu-2core-fft-over-windows/fft_over_windows.py \\
        --seeds 9100:9160 --out times.jsonl
    python benchmarks/results/cpu-2core-fft-over-windows/fft_over_windows.py \\
        --fit times.jsonl --train 9100:9130

Run with the code before the rule (it finds programs where ``auto`` runs ``fft``).
"""

import argparse
import json
import math
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxconv import _policy, _taps
from jaxconv._bench import fit, runner, suites


def seeds(text):
    lo, hi = map(int, text.split(":"))
    return range(lo, hi)


def programs(seed):
    """``(case, layout, plan)`` where auto runs fft and else im2col on windows."""
    real = _policy.fft_pays
    for case in suites.random_suite("random", seed):
        for layout in case.layouts or ("NHWC",):
            if len(case.kernel) != 1 or runner.chosen_strategy(case, layout, "float32") != "fft":
                continue
            _policy.fft_pays = lambda *a: False
            try:
                other = runner.chosen_strategy(case, layout, "float32")
            finally:
                _policy.fft_pays = real
            plan = fit.plan_of(case, layout)
            if other == "im2col" and _taps.builds_windows(plan._replace(channels_first=False)):
                yield case, layout, plan


def sweep(args):
    with open(args.out, "a") as out:
        for seed in seeds(args.seeds):
            for case, layout, plan in programs(seed):
                x, w, ct = runner.make_inputs(case, layout, jnp.float32)[:3]
                fns = [runner.lax_impl(case, layout), runner.jaxconv_impl(case, layout, "im2col"),
                       runner.jaxconv_impl(case, layout, "fft")]  # fmt: skip
                progs = [jax.jit(runner.program(f, "fwd")) for f in fns]
                for p in progs:
                    jax.block_until_ready(p(x, w, ct))
                lax_ms, im2col_ms, fft_ms = (
                    1e3 * float(np.median(t)) for t in runner.time_interleaved(progs, (x, w, ct), 7)
                )
                row = dict(seed=seed, case=case.name, layout=layout, taps=plan.taps,
                           io=plan.group_in * plan.out_features // plan.feature_groups,
                           lax_ms=lax_ms, rules_ms=im2col_ms, fft_ms=fft_ms)  # fmt: skip
                out.write(json.dumps(row) + "\n")
                out.flush()
                print(f"{seed} {case.name} {layout} io {row['io']}: fft/im2col "
                      f"{fft_ms / im2col_ms:.2f}", flush=True)  # fmt: skip


def score(args):
    rows = [json.loads(line) for line in open(args.fit)]
    train = set(seeds(args.train))

    def geomean_regret(part, limit):
        best = [min(r["fft_ms"], r["rules_ms"]) for r in part]
        chosen = [r["fft_ms"] if r["io"] < limit else r["rules_ms"] for r in part]
        return math.exp(np.mean(np.log(np.array(chosen) / best)))

    print("| fft below (feature pairs) | training regret | held-out regret |")
    print("| ---: | ---: | ---: |")
    for limit in (math.inf, 256, 512, 1024, 2048, 4096, 8192):
        tr = [r for r in rows if r["seed"] in train]
        te = [r for r in rows if r["seed"] not in train]
        print(f"| {limit} | {geomean_regret(tr, limit):.3f} ({len(tr)}) | "
              f"{geomean_regret(te, limit):.3f} ({len(te)}) |")  # fmt: skip


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="9100:9160")
    ap.add_argument("--out", default="times.jsonl")
    ap.add_argument("--fit", default="")
    ap.add_argument("--train", default="9100:9130")
    args = ap.parse_args()
    score(args) if args.fit else sweep(args)


if __name__ == "__main__":
    sys.exit(main())
