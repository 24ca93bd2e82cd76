"""Fit ``auto``'s rules on a sweep, and report how they do on layers they were not fitted on.

The sweep is ``python -m jaxconv bench --suite random --strategy all --direction fwd``: for
every layer of the random suite (and the convolution of its input gradient), every strategy
that accepts it, timed in the same rounds as lax. Each layer becomes a sample: its plan's
features (:data:`jaxconv._rules.FEATURES`) and, for every strategy, its regret
``log(time / fastest time)``.

Timings on a shared CPU are noisy and the samples few, so the rules are fitted in two steps:

1. A teacher: an ensemble of randomised regression trees (scikit-learn's
   ``ExtraTreesRegressor``) predicting every strategy's regret from the features (a
   strategy that could not run counts as 8 times the fastest), on the training layers.
   Averaging hundreds of trees smooths the noise of single measurements.
2. The rules: one classification tree, readable, fitted to the teacher's choice (its least
   predicted regret among the strategies that accept the plan) on many more layers drawn
   from the same distribution (another seed of the random suite), which need no timing,
   each weighted by what a wrong choice would cost there. Its size is picked by
   cross-validation over the training layers (folds by layer, teacher and tree refitted per
   fold).

The held-out quarter of the random layers (:func:`jaxconv._bench.suites.held_out`) is never
seen by either step; the report gives the rules' regret and their ratio to lax there.

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

from . import runner, suites

MISSING_REGRET = math.log(8.0)
SYNTHETIC_SEED = 7
SYNTHETIC_LAYERS = 6000
SYNTHETIC_SMALL_LAYERS = 2000


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


plan_of = runner.plan_of


def float_plans(names: Sequence[str], seeds: Iterable[int | None]):
    """``(suite, case, layout, plan)`` for every floating-point case of each suite in
    ``names`` drawn from each of ``seeds`` (:func:`suites.resolve`), in each layout it runs
    in, with its plan there (:func:`plan_of`): the programs a results script scans for the
    choices a change makes."""
    seeds = list(seeds)
    for name in names:
        for seed in seeds:
            for suite, case in suites.resolve(name, seed):
                if case.dtype is None:
                    for layout in case.layouts or ("NHWC", "NCHW"):
                        yield suite, case, layout, plan_of(case, layout)


def _entries(path: str) -> dict[tuple, dict[str, Any]]:
    """A sweep file's forward, single-device records by layer: its first record and the
    time of every strategy timed on it."""
    with open(path) as f:
        doc = json.load(f)
    entries: dict[tuple, dict[str, Any]] = {}
    for r in doc["records"]:
        if r["direction"] != "fwd" or r["num_devices"] != 1:
            continue
        key = (r["suite"], r["case"], r["layout"], r["dtype"], r["device_kind"])
        entry = entries.setdefault(key, {"record": r, "ms": {}})
        entry["ms"][r["strategy"]] = r["jaxconv_ms"]
    return entries


def load(paths: Iterable[str], updates: Iterable[str] = ()) -> list[Sample]:
    """The samples of one or more sweep ``results.json`` files (forward records only).

    A layer measured in several of ``paths`` keeps the last file's records only: its
    strategies and lax were timed in the same rounds there (a re-sweep of some layers, after
    a strategy changed, replaces their old times). Each file of ``updates`` re-timed some
    strategies only (``bench --strategy NAME``): their times replace those strategies' on the
    layers it covers, as ratios to the lax timed in the same rounds, times the layer's lax
    time in ``paths`` (lax is the yardstick between the two runs).
    """
    by_key: dict[tuple, dict[str, Any]] = {}
    for path in paths:
        by_key.update(_entries(path))
    for path in updates:
        for key, entry in _entries(path).items():
            if key in by_key:
                base = by_key[key]
                scale = base["record"]["lax_ms"] / entry["record"]["lax_ms"]
                base["ms"].update({s: ms * scale for s, ms in entry["ms"].items()})
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


LEAVES_TOLERANCE = 0.01
"""How much worse than the best cross-validated regret a larger tree may score and still be
chosen (see :func:`pick_leaves`)."""


def pick_leaves(scores: dict[int, float]) -> int:
    """The most leaves whose cross-validated geomean regret is within
    :data:`LEAVES_TOLERANCE` of the best. The tree copies the teacher's choices on many
    unlabelled plans, not the noisy times themselves, so more leaves follow the teacher more
    closely; the folds' differences below about 1 % are their noise (measured: 1.103-1.117
    over 64-256 leaves on the committed sweep), where a smaller tree would only merge more
    of the teacher's regions."""
    best = min(scores.values())
    return max(k for k, v in scores.items() if v <= best * (1 + LEAVES_TOLERANCE))


def swept(samples: Sequence[Sample]) -> list[str]:
    """The strategies to fit: those timed on at least half of the layers they can run. One
    registered after the sweep, timed only where some layers were swept again, is left
    out: a few layers cannot teach the tree where it pays, and elsewhere it would look
    unmeasured, not slow."""
    return [
        n
        for n in _strategies.STRATEGIES
        if 2 * sum(n in s.ms for s in samples) >= max(1, sum(n in s.allowed for s in samples))
    ]


def _targets(samples: Sequence[Sample], names: Sequence[str]) -> np.ndarray:
    y = np.full((len(samples), len(names)), MISSING_REGRET)
    for i, s in enumerate(samples):
        for j, n in enumerate(names):
            if n in s.ms:
                y[i, j] = math.log(s.regret(n))
    return y


def _layer(sample: Sample) -> int:
    return int(sample.case.name[1:4])


def _x(samples: Sequence[Sample]) -> np.ndarray:
    return np.asarray([s.features for s in samples])


def teacher(samples: Sequence[Sample], names: Sequence[str]) -> Any:
    """The ensemble that predicts every strategy's regret (see the module docstring)."""
    from sklearn.ensemble import ExtraTreesRegressor

    model = ExtraTreesRegressor(n_estimators=300, min_samples_leaf=2, random_state=0)
    return model.fit(_x(samples), _targets(samples, names))


def synthetic(names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Features and allowed-strategy masks of :data:`SYNTHETIC_LAYERS` random layers and
    :data:`SYNTHETIC_SMALL_LAYERS` small-map ones (another seed), each with its input
    gradient's convolution, in both layouts: the plans the rules are fitted on, labelled by
    the teacher."""
    xs, allowed = [], []
    layers = [
        *suites.random_layers(SYNTHETIC_LAYERS, SYNTHETIC_SEED),
        *suites.random_layers(SYNTHETIC_SMALL_LAYERS, SYNTHETIC_SEED, small=True),
    ]
    for layer in layers:
        for case in (layer, suites.input_grad_case(layer)):
            for layout in runner.LAYOUTS:
                plan = plan_of(case, layout)
                xs.append(_rules.features(plan))
                allowed.append([_strategies.feasible(n, _policy.in_layout(plan, n)) for n in names])
    return np.asarray(xs), np.asarray(allowed)


def pupil(model: Any, xs: np.ndarray, allowed: np.ndarray, names: Sequence[str], leaves: int):
    """A classification tree of ``leaves`` leaves fitted to ``model``'s choices on ``xs``.

    Each plan weighs what a wrong choice would cost there: the teacher's predicted regret of
    the second-best strategy over the best (in log units, capped at ``log(e^2)``), so that
    the tree's leaves go where choosing matters rather than where strategies tie."""
    from sklearn.tree import DecisionTreeClassifier

    predicted = np.where(allowed, model.predict(xs), np.inf)
    choice = predicted.argmin(axis=1)
    ranked = np.sort(predicted, axis=1)
    gap = np.where(np.isfinite(ranked[:, 1]), ranked[:, 1] - ranked[:, 0], 2.0)
    tree = DecisionTreeClassifier(max_leaf_nodes=leaves, min_samples_leaf=10, random_state=0)
    return tree.fit(xs, choice, sample_weight=np.minimum(gap, 2.0) + 0.02)


def build(tree: Any, names: Sequence[str], measured_on: str, platform: str) -> _rules.Rules:
    """:class:`jaxconv._rules.Rules` from a fitted classification tree: its splits, and for
    every node ``-log`` of the fraction of its plans that chose each strategy."""
    t = tree.tree_
    nodes = []
    for i in range(t.node_count):
        counts = t.value[i][0] * t.weighted_n_node_samples[i]
        total = counts.sum()
        score = {names[int(c)]: round(-math.log(v / total), 4)
                 for c, v in zip(tree.classes_, counts, strict=True) if v > 0}  # fmt: skip
        leaf = t.children_left[i] == -1
        nodes.append({
            "feature": None if leaf else int(t.feature[i]),
            "threshold": None if leaf else round(float(t.threshold[i]), 4),
            "left": None if leaf else int(t.children_left[i]),
            "right": None if leaf else int(t.children_right[i]),
            "n": int(t.n_node_samples[i]), "score": score,
        })  # fmt: skip
    return _rules.Rules(platform, measured_on, tuple(_rules.FEATURES), tuple(names), tuple(nodes))


def choice(rules: _rules.Rules, sample: Sample) -> str:
    """The rules' choice for ``sample`` among the strategies auto may pick that were timed on
    it (the fastest of them where the rules name none)."""
    name = rules.choose(sample.features, lambda n: n in sample.allowed and n in sample.ms)
    return name or min(sample.ms, key=sample.ms.get)


def regrets(rules: _rules.Rules, samples: Sequence[Sample]) -> list[float]:
    """The regret (time of the rules' choice / fastest time) on each sample."""
    return [s.regret(choice(rules, s)) for s in samples]


def teacher_regrets(model: Any, samples: Sequence[Sample], names: Sequence[str]) -> list[float]:
    out = []
    for s, pred in zip(samples, model.predict(_x(samples)), strict=True):
        order = [names[j] for j in np.argsort(pred)]
        out.append(s.regret(next(n for n in order if n in s.ms and n in s.allowed)))
    return out


def geomean(values: Iterable[float]) -> float:
    values = list(values)
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def cross_validate(
    samples: Sequence[Sample], names: Sequence[str], grid: Iterable[int], folds: int,
    xs: np.ndarray, allowed: np.ndarray,
) -> dict[int, float]:  # fmt: skip
    """Geometric-mean regret on held-back folds (by layer) for each number of leaves."""
    got: dict[int, list[float]] = {leaves: [] for leaves in grid}
    for k in range(folds):
        train = [s for s in samples if _layer(s) % folds != k]
        test = [s for s in samples if _layer(s) % folds == k]
        model = teacher(train, names)
        for leaves in got:
            rules = build(pupil(model, xs, allowed, names, leaves), names, "", "")
            got[leaves] += regrets(rules, test)
    return {leaves: geomean(v) for leaves, v in got.items()}


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
    grid: Iterable[int] = (24, 32, 48, 64, 96, 128, 192, 256),
    folds: int = 5,
    updates: Sequence[str] = (),
) -> Report:
    """Fit rules on the training layers of the sweeps at ``paths`` (with the re-timed
    strategies of ``updates``, see :func:`load`); the rules and a markdown report
    (cross-validation, then held-out and training regret and ratios)."""
    samples = load(paths, updates)
    train = [s for s in samples if not suites.held_out(s.case)]
    held = [s for s in samples if suites.held_out(s.case)]
    names = swept(samples)
    xs, allowed = synthetic(names)
    scores = cross_validate(train, names, grid, folds, xs, allowed)
    leaves = pick_leaves(scores)
    with open(paths[0]) as f:
        doc = json.load(f)
    r0 = doc["records"][0]
    peak = max((p["gflops"] for p in doc.get("peaks", [])), default=float("nan"))
    measured_on = (f"{r0['device_kind']} ({r0['platform']}), matmul peak {peak:.0f} GFLOP/s, "
                   f"jax {r0['jax_version']}, {datetime.date.today().isoformat()}, "
                   f"{len(train)} training layers")  # fmt: skip
    model = teacher(train, names)
    rules = build(pupil(model, xs, allowed, names, leaves), names, measured_on, platform)
    lines = [
        f"# auto's rules for {platform}", "", f"Measured on {measured_on}.", "",
        f"{len(samples)} layers ({len(train)} training, {len(held)} held out); strategies "
        f"{', '.join(names)}; {len(xs)} unlabelled plans for the tree.", "",
        *([f"Strategies re-timed on some layers (scaled by lax's time): {', '.join(updates)}.",
           ""] if updates else []),
        f"## Cross-validation (training layers, {folds} folds by layer)", "",
        "| leaves | geomean regret |", "| ---: | ---: |",
    ]  # fmt: skip
    lines += [f"| {lv} | {v:.3f} |" for lv, v in sorted(scores.items())]
    chosen = f"Chosen: {leaves} leaves (the most within {LEAVES_TOLERANCE:.0%} of the best)."
    lines += ["", chosen, "",
              "## Regret and ratio to lax", "",
              "regret = time of the chosen strategy / time of the fastest; ratio = time of the "
              "chosen strategy / lax's time (forward, medians of interleaved rounds).", "",
              "| layers | count | geomean regret | p90 regret | worst regret | geomean ratio | "
              "worst ratio |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for label, group in (("held out", held), ("training", train)):
        lines += _summary(f"{label}, the rules", group, regrets(rules, group))
        lines += _summary(f"{label}, the teacher", group, teacher_regrets(model, group, names))
        ok = [s for s in group if s.swept_auto in s.ms]
        lines += _summary(f"{label}, auto when swept", ok, [s.regret(s.swept_auto) for s in ok])
        lines += _summary(f"{label}, fastest strategy", group, [1.0] * len(group))
    for kind in ("dense", "dilated", "grouped", "depthwise", "transposed"):
        group = [s for s in held if s.case.kind == kind]
        if group:
            lines += _summary(f"held out, {kind}", group, regrets(rules, group))
    lines += ["", "## The rules", "", "```", rules.text(), "```", ""]
    return Report(rules, "\n".join(lines))


def evaluate(paths: Sequence[str]) -> str:
    """Markdown: ``auto`` on a run of ``bench --strategy all`` (forward and forward+backward,
    e.g. on ``--suite random-heldout``): per direction, its regret (its time over the fastest
    strategy's; with ``fwd+bwd`` a strategy is forced on the forward convolution and the
    gradients run auto's choice, and auto's own is the one it runs differentiated, as the
    records name it since 2026-12-05) and its ratio to lax, per kind of layer."""
    runs: dict[tuple, dict[str, Any]] = {}
    for path in paths:
        with open(path) as f:
            for r in json.load(f)["records"]:
                key = (r["case"], r["layout"], r["dtype"], r["direction"])
                runs.setdefault(key, {})[r["strategy"]] = r
    lines = [
        "| direction | layers | count | geomean regret | p90 regret | worst regret | "
        "geomean auto/lax | worst auto/lax |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for direction in ("fwd", "fwd+bwd"):
        rows = []
        for (_, _, _, d), by in runs.items():
            auto = next(iter(by.values()))["auto_strategy"]
            if d == direction and auto in by:
                best = min(r["jaxconv_ms"] for r in by.values())
                rows.append((by[auto]["kind"], by[auto]["jaxconv_ms"] / best, by[auto]["ratio"],
                             by[auto]["case"]))  # fmt: skip
        groups = {"all": rows}
        for kind in ("dense", "dilated", "grouped", "depthwise", "transposed"):
            groups[kind] = [r for r in rows if r[0] == kind]
        groups["dense and dilated"] = groups["dense"] + groups["dilated"]
        for label, group in groups.items():
            if not group:
                continue
            reg = [r[1] for r in group]
            ratio = [r[2] for r in group]
            worst = max(group, key=lambda r: r[2])
            lines.append(
                f"| {direction} | {label} | {len(group)} | {geomean(reg):.3f} | "
                f"{np.percentile(reg, 90):.3f} | {max(reg):.2f} | {geomean(ratio):.3f} | "
                f"{worst[2]:.2f} ({worst[3]}) |"
            )
    return "\n".join(lines) + "\n"
