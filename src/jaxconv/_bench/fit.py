"""Fit ``auto``'s rules on a sweep, and report how they do on layers they were not fitted on.

The sweep is ``python -m jaxconv bench --suite random --strategy all --direction fwd``: for
every layer of the random suite (and the convolution of its input gradient), every strategy
that accepts it, timed in the same rounds as lax. Each layer becomes a sample: its plan's
features (:data:`jaxconv._rules.FEATURES`) and, for every strategy, its regret
``log(time / fastest time)``. A regression tree (scikit-learn's, on all strategies' regrets
at once; a strategy that did not run counts as 8 times the fastest for the split) is grown
on the training layers, its size picked by cross-validation over them (folds by layer),
and each node then keeps the mean regret of each strategy over the layers where it ran.

The held-out quarter of the random layers (:func:`jaxconv._bench.suites.held_out`) is never
seen by the fit; the report gives the rules' regret and their ratio to lax there.

scikit-learn is a development dependency: this module imports it only when fitting.
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from jaxconv import _policy, _rules, _strategies
from jaxconv._plan import general_plan

from . import runner, suites

MISSING_REGRET = math.log(8.0)


class Sample(NamedTuple):
    """One measured layer: its case, layout, features and per-strategy times."""

    case: suites.Case
    layout: str
    features: list[float]
    ms: dict[str, float]  # strategy -> median milliseconds
    lax_ms: float
    allowed: frozenset[str]  # strategies auto may pick for it (feasible in their layout)
    swept_auto: str  # what auto picked when the sweep ran

    @property
    def best_ms(self) -> float:
        return min(self.ms.values())

    def regret(self, name: str) -> float:
        return self.ms[name] / self.best_ms


def case_of(record: dict[str, Any]) -> suites.Case:
    """The :class:`~jaxconv._bench.suites.Case` a record was measured on."""
    pad = record["padding"]
    return suites.Case(
        record["case"], record["batch"], tuple(record["in_spatial"]), record["in_channels"],
        record["out_channels"], tuple(record["kernel"]), tuple(record["strides"]),
        pad if isinstance(pad, str) else tuple(tuple(p) for p in pad),
        tuple(record["dilation"]), record["groups"], record["transposed"],
        tuple(record["lhs_dilation"]),
    )  # fmt: skip


def plan_of(case: suites.Case, layout: str):
    """``case``'s plan in ``layout`` (the user's layout, before any strategy's)."""
    xs, ws = runner.shapes(case, layout)
    dn = runner.dimension_numbers(case, layout)
    return general_plan(xs, ws, case.strides, case.padding, case.input_dilation,
                        case.rhs_dilation, dn, case.groups, 1, "zeros")  # fmt: skip


def load(paths: Iterable[str]) -> list[Sample]:
    """The samples of one or more sweep ``results.json`` files (forward records only)."""
    by_key: dict[tuple, dict[str, Any]] = {}
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        for r in doc["records"]:
            if r["direction"] != "fwd" or r["num_devices"] != 1:
                continue
            key = (r["suite"], r["case"], r["layout"], r["dtype"], r["device_kind"])
            entry = by_key.setdefault(key, {"record": r, "ms": {}})
            entry["ms"][r["strategy"]] = r["jaxconv_ms"]
    samples = []
    for (_, _, layout, _, _), entry in by_key.items():
        case = case_of(entry["record"])
        plan = plan_of(case, layout)
        allowed = frozenset(
            s for s in _strategies.STRATEGIES if _strategies.feasible(s, _policy.in_layout(plan, s))
        )
        samples.append(Sample(case, layout, _rules.features(plan), entry["ms"],
                              entry["record"]["lax_ms"], allowed,
                              entry["record"]["auto_strategy"]))  # fmt: skip
    return samples


def _targets(samples: Sequence[Sample], names: Sequence[str]) -> np.ndarray:
    y = np.full((len(samples), len(names)), MISSING_REGRET)
    for i, s in enumerate(samples):
        for j, n in enumerate(names):
            if n in s.ms:
                y[i, j] = math.log(s.regret(n))
    return y


def _layer(sample: Sample) -> int:
    return int(sample.case.name[1:4])


def build(tree: Any, samples: Sequence[Sample], names: Sequence[str], measured_on: str,
          platform: str) -> _rules.Rules:  # fmt: skip
    """:class:`jaxconv._rules.Rules` from a fitted scikit-learn tree: its splits, and for
    every node the mean regret of each strategy over the samples that reached it and on
    which that strategy ran."""
    t = tree.tree_
    x = np.asarray([s.features for s in samples])
    paths = tree.decision_path(x).toarray().astype(bool)  # (samples, nodes)
    nodes = []
    for i in range(t.node_count):
        reached = [s for s, hit in zip(samples, paths[:, i], strict=True) if hit]
        mean = {}
        for n in names:
            regrets = [math.log(s.regret(n)) for s in reached if n in s.ms]
            if regrets:
                mean[n] = round(float(np.mean(regrets)), 4)
        leaf = t.children_left[i] == -1
        nodes.append({
            "feature": None if leaf else int(t.feature[i]),
            "threshold": None if leaf else round(float(t.threshold[i]), 4),
            "left": None if leaf else int(t.children_left[i]),
            "right": None if leaf else int(t.children_right[i]),
            "n": len(reached), "mean": mean,
        })  # fmt: skip
    return _rules.Rules(platform, measured_on, tuple(_rules.FEATURES), tuple(names), tuple(nodes))


def fit_tree(samples: Sequence[Sample], names: Sequence[str], leaves: int, min_leaf: int):
    from sklearn.tree import DecisionTreeRegressor

    tree = DecisionTreeRegressor(max_leaf_nodes=leaves, min_samples_leaf=min_leaf, random_state=0)
    tree.fit(np.asarray([s.features for s in samples]), _targets(samples, names))
    return tree


def regrets(rules: _rules.Rules, samples: Sequence[Sample]) -> list[float]:
    """The regret (time of the rules' choice / fastest time) on each sample."""
    out = []
    for s in samples:
        name = rules.choose(s.features, lambda n, s=s: n in s.allowed and n in s.ms)
        out.append(s.regret(name) if name else float("inf"))
    return out


def geomean(values: Iterable[float]) -> float:
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def cross_validate(
    samples: Sequence[Sample], names: Sequence[str], grid: Iterable[tuple[int, int]], folds: int
) -> dict[tuple[int, int], float]:
    """Geometric-mean regret on held-back folds (by layer) for each (leaves, min_leaf)."""
    scores = {}
    for leaves, min_leaf in grid:
        got = []
        for k in range(folds):
            train = [s for s in samples if _layer(s) % folds != k]
            test = [s for s in samples if _layer(s) % folds == k]
            rules = build(fit_tree(train, names, leaves, min_leaf), train, names, "", "")
            got += regrets(rules, test)
        scores[leaves, min_leaf] = geomean(got)
    return scores


class Report(NamedTuple):
    rules: _rules.Rules
    text: str


def _summary(label: str, samples: Sequence[Sample], choice_regret: Sequence[float]) -> list[str]:
    ratios = [s.best_ms * r / s.lax_ms for s, r in zip(samples, choice_regret, strict=True)]
    lines = [f"| {label} | {len(samples)} | {geomean(choice_regret):.3f} | "
             f"{np.percentile(choice_regret, 90):.3f} | {max(choice_regret):.2f} | "
             f"{geomean(ratios):.3f} | {max(ratios):.2f} |"]  # fmt: skip
    return lines


def fit(
    paths: Sequence[str],
    platform: str,
    grid: Iterable[tuple[int, int]] = tuple(
        (leaves, m) for leaves in (8, 12, 16, 24, 32, 48) for m in (3, 5, 8)
    ),
    folds: int = 5,
) -> Report:
    """Fit rules on the training layers of the sweeps at ``paths``; the rules and a
    markdown report (cross-validation, then held-out and training regret and ratios)."""
    samples = load(paths)
    train = [s for s in samples if not suites.held_out(s.case)]
    held = [s for s in samples if suites.held_out(s.case)]
    names = [n for n in _strategies.STRATEGIES if any(n in s.ms for s in samples)]
    scores = cross_validate(train, names, grid, folds)
    leaves, min_leaf = min(scores, key=scores.get)
    with open(paths[0]) as f:
        doc = json.load(f)
    r0 = doc["records"][0]
    peak = max((p["gflops"] for p in doc.get("peaks", [])), default=float("nan"))
    measured_on = (f"{r0['device_kind']} ({r0['platform']}), matmul peak {peak:.0f} GFLOP/s, "
                   f"jax {r0['jax_version']}, {datetime.date.today().isoformat()}, "
                   f"{len(train)} training layers")  # fmt: skip
    rules = build(fit_tree(train, names, leaves, min_leaf), train, names, measured_on, platform)
    lines = [
        f"# auto's rules for {platform}", "", f"Measured on {measured_on}.", "",
        f"{len(samples)} layers ({len(train)} training, {len(held)} held out); strategies "
        f"{', '.join(names)}.", "",
        f"## Cross-validation (training layers, {folds} folds by layer)", "",
        "| leaves | min per leaf | geomean regret |", "| ---: | ---: | ---: |",
    ]  # fmt: skip
    lines += [f"| {lv} | {m} | {v:.3f} |" for (lv, m), v in sorted(scores.items())]
    lines += ["", f"Chosen: {leaves} leaves, at least {min_leaf} layers each.", "",
              "## Regret and ratio to lax", "",
              "regret = time of the chosen strategy / time of the fastest; ratio = time of the "
              "chosen strategy / lax's time (forward, medians of interleaved rounds).", "",
              "| layers | count | geomean regret | p90 regret | worst regret | geomean ratio | "
              "worst ratio |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for label, group in (("held out", held), ("training", train)):
        lines += _summary(f"{label}, fitted rules", group, regrets(rules, group))
        ok = [s for s in group if s.swept_auto in s.ms]
        lines += _summary(f"{label}, auto when swept", ok, [s.regret(s.swept_auto) for s in ok])
        best = [1.0] * len(group)
        lines += _summary(f"{label}, fastest strategy", group, best)
    for kind in ("dense", "dilated", "grouped", "depthwise", "transposed"):
        group = [s for s in held if s.case.kind == kind]
        if group:
            lines += _summary(f"held out, {kind}", group, regrets(rules, group))
    lines += ["", "## The rules", "", "```", rules.text(), "```", ""]
    return Report(rules, "\n".join(lines))
