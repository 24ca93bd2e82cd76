"""The figures of this folder's README from its JSON lines (run from the repository root with
jaxconv importable; the fit's choices are recomputed with the code at hand).

    python benchmarks/results/cpu-2core-gemm-over-direct/summarize.py
"""

import json
import math
import os

import numpy as np

from jaxconv._bench import runner, suites

HERE = os.path.dirname(os.path.abspath(__file__))


def lines(name):
    with open(os.path.join(HERE, name)) as f:
        return [json.loads(line) for line in f]


def geomean(values):
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def fit():
    """Regret against the fastest strategy of the sweep's recorded choice and of today's."""
    cases = {}
    before, after, changed = [], [], []
    for r in lines("fit.jsonl"):
        seed = int(r["suite"].split("@")[1])
        if seed not in cases:
            cases[seed] = {c.name: c for c in suites.random_suite("random-heldout", seed)}
        now = runner.chosen_strategy(cases[seed][r["case"]], r["layout"], np.float32)
        ms, best = r["ms"], min(r["ms"].values())
        before.append(ms[r["auto"]] / best)
        after.append(ms[now] / best)
        if now != r["auto"]:
            changed.append(ms[now] / ms[r["auto"]])
    print(f"fit: {len(before)} layers, regret {geomean(before):.3f} -> {geomean(after):.3f}; "
          f"{len(changed)} change, {geomean(changed):.3f}x their time")  # fmt: skip


def heldout(name):
    """After over before per direction, for the adopted rule's layers and the others."""
    subsets = {
        "im2col, 32+ outputs (adopted)": lambda r: r["after"] == "im2col" and r["outputs"] >= 32,
        "im2col, 16 outputs": lambda r: r["after"] == "im2col" and r["outputs"] < 32,
        "col2im, 8 outputs": lambda r: r["after"] == "col2im",
    }
    records = lines(name)
    for direction in ("fwd", "fwd+bwd"):
        for label, keep in subsets.items():
            q = [r["after_over_before"] for r in records if r["direction"] == direction and keep(r)]
            if q:
                print(f"{name} {direction:7} {label:30} {len(q):3} layers {geomean(q):.3f}x "
                      f"(max {max(q):.2f})")  # fmt: skip


if __name__ == "__main__":
    fit()
    for name in ("heldout-7321-7360-both.jsonl", "heldout-7321-7420.jsonl",
                 "heldout-7421-7520.jsonl"):  # fmt: skip
        heldout(name)
