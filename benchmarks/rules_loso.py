"""Leave one sweep out: how rules fitted on some sweeps choose on a sweep they never saw.

A held-out quarter of a sweep shares that sweep's run (its machine state, its hour) with the
training layers; a sweep of another draw of layers (``bench --suite random --seed N``), run
at another time, is the harder test. For each sweep given, rules are fitted on the
training layers of all the others (``python -m jaxconv rules --fit``) and scored on every
layer of it, next to the rules that ship with jaxconv (or those of ``--against``, e.g. the
rules a refit would replace, from ``git show HEAD:src/jaxconv/rules/cpu.json``):

    python benchmarks/rules_loso.py SWEEP.json SWEEP.json [SWEEP.json ...] > loso.md

Scores are offline, from each sweep's own timings: the regret (time of the rules' choice /
the fastest strategy's time, both timed in the same rounds) and the choice's ratio to lax.
Layers where ``auto`` would run ``fft`` instead (its override after the rules, which the
sweeps do not time) are left out and counted. Needs scikit-learn.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import numpy as np

from jaxconv import _policy, _rules, _strategies
from jaxconv._bench import fit


def score(rules: _rules.Rules, samples: Sequence[fit.Sample]) -> tuple[list[float], list, int]:
    """Per sample the rules' regret and (kind, ratio to lax); and how many ``fft`` takes."""
    regret, kinds, fft = [], [], 0
    for s in samples:
        name = fit.choice(rules, s)
        plan = fit.plan_of(s.case, s.layout)
        if _strategies.feasible("fft", _policy.in_layout(plan, "fft")) and _policy.fft_pays(
            plan, name
        ):
            fft += 1
            continue
        regret.append(s.regret(name))
        kinds.append((s.case.kind, s.ms[name] / s.lax_ms))
    return regret, kinds, fft


def row(label: str, samples: Sequence[fit.Sample], rules: _rules.Rules) -> str:
    regret, kinds, fft = score(rules, samples)
    dense = [r for r, (k, _) in zip(regret, kinds, strict=True) if k == "dense"]
    ratio = [q for k, q in kinds if k == "dense"]
    return (
        f"| {label} | {len(regret)} | {fft} | {fit.geomean(regret):.3f} | "
        f"{np.percentile(regret, 90):.3f} | {max(regret):.2f} | {fit.geomean(dense):.3f} | "
        f"{np.percentile(dense, 90):.3f} | {fit.geomean(ratio):.3f} | {max(ratio):.2f} |"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweeps", nargs="+", help="sweep results.json files (at least two)")
    parser.add_argument("--platform", default="cpu")
    parser.add_argument("--against", metavar="RULES_JSON", help="rules to compare with "
                        "(default: those jaxconv ships for --platform)")  # fmt: skip
    args = parser.parse_args(argv)
    if len(args.sweeps) < 2:
        parser.error("give at least two sweeps")
    if args.against:
        with open(args.against) as f:
            shipped = _rules.from_json(json.load(f))
    else:
        shipped = _rules.measured(args.platform)
    print("| rules | scored on | layers | by fft | geomean regret | p90 regret | worst regret "
          "| dense regret | dense p90 | dense / lax | worst dense / lax |")  # fmt: skip
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for i, test in enumerate(args.sweeps):
        samples = fit.load([test])
        others = [p for j, p in enumerate(args.sweeps) if j != i]
        fitted = fit.fit(others, args.platform).rules
        print(row(f"{'--against' if args.against else 'shipped'} | {test}", samples, shipped))
        print(row(f"fitted on the others | {test}", samples, fitted))


if __name__ == "__main__":
    main()
