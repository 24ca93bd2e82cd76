"""The held-out A/B (``ab-7877.jsonl`` to ``ab-7885.jsonl``, the changed forward programs of
nine fresh draws of ``random-transposed``): time after over before, ``auto``/lax before and
after, and the compiled temp bytes of both trees (``OLD/src``):

    PYTHONPATH=../../../src python summary.py OLD/src
"""

import json
import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import ab_timed  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv._bench import runner, suites  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = range(7877, 7886)


def geomean(v) -> float:
    return float(np.exp(np.mean(np.log(v))))


def main(old_src: str) -> None:
    old = ab_timed.old_package(old_src)
    rows = []
    for seed in SEEDS:
        layers = {c.name: c for c in suites.random_transposed_layers(seed=seed)}
        with open(os.path.join(HERE, f"ab-{seed}.jsonl")) as f:
            for r in map(json.loads, f):
                case = layers[r["case"]]
                inputs = runner.make_inputs(case, r["layout"], np.float32)
                args = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in inputs]
                temp = [
                    jax.jit(runner.program(ab_timed.impl(m, case, r["layout"]), "fwd"))
                    .lower(*args)
                    .compile()
                    .memory_analysis()
                    .temp_size_in_bytes
                    for m in (jaxconv, old)
                ]
                rows.append((r["after_over_before"], r["before"], r["after"], *temp))
    a = np.array(rows)
    print(f"{len(a)} programs: after/before {geomean(a[:, 0]):.3f} (median "
          f"{np.median(a[:, 0]):.3f}), {int((a[:, 0] > 1.1).sum())} slower by 10 % "
          f"(most {a[:, 0].max():.2f})")  # fmt: skip
    print(f"auto/lax {geomean(a[:, 1]):.3f} -> {geomean(a[:, 2]):.3f}; over 1.3x "
          f"{int((a[:, 1] > 1.3).sum())} -> {int((a[:, 2] > 1.3).sum())}; worst "
          f"{a[:, 1].max():.2f} -> {a[:, 2].max():.2f}")  # fmt: skip
    print(
        f"temp: {int((a[:, 3] <= a[:, 4]).sum())} of {len(a)} no larger; "
        f"{a[:, 4].sum() / 2**20:.1f} -> {a[:, 3].sum() / 2**20:.1f} MiB in all"
    )


if __name__ == "__main__":
    main(sys.argv[1])
