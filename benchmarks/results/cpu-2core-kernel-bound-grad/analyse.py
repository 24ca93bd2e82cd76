"""After/before of the ``ab/*.jsonl`` records (``benchmarks/ab_timed.py``) by the ratio of
output positions in the batch to output features. Run from this folder."""

import glob
import json
import math

import numpy as np

from jaxconv._bench import suites
from jaxconv._bench.fit import plan_of


def main() -> None:
    cases, rows = {}, []
    for path in sorted(glob.glob("ab/*.jsonl")):
        with open(path) as f:
            records = [json.loads(line) for line in f]
        for r in records:
            name, _, seed = r["suite"].partition("@")
            if r["suite"] not in cases:
                found = suites.resolve(name, int(seed) if seed else None)
                cases[r["suite"]] = {c.name: c for _, c in found}
            plan = plan_of(cases[r["suite"]][r["case"]], r["layout"])
            share = plan.batch * math.prod(plan.out_spatial) / plan.out_features
            rows.append((share, r["after_over_before"], r["before"], r["after"], r["suite"],
                         r["case"], r["layout"]))  # fmt: skip
    for row in sorted(rows):
        print(
            "positions/O {:.3f}  after/before {:.2f}  ({:.2f} -> {:.2f} lax)  {} {} {}".format(*row)
        )
    ratios = np.array([r[1] for r in rows])
    print(f"{len(rows)} programs: after/before geometric mean {np.exp(np.log(ratios).mean()):.3f}, "
          f"{(ratios < 0.95).sum()} under 0.95, {(ratios > 1.05).sum()} over 1.05")  # fmt: skip


if __name__ == "__main__":
    main()
