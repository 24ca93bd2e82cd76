"""``_policy._polyphase_over_widening_col2im`` evaluated on sweep records (``sweep.py``):
for thresholds of output over input features, the layers whose kernel overlaps where
``auto`` ran ``col2im`` and the rule would run ``polyphase``, and ``polyphase``'s time over
``auto``'s on them (geometric mean, worst, slower by over 10 %); then ``col2im``'s time
over ``polyphase``'s by band of output over input features:

    python evaluate.py sw-9846-fwd.jsonl
"""

import json
import sys

import numpy as np


def geomean(v):
    return float(np.exp(np.mean(np.log(v)))) if len(v) else float("nan")


def main(paths):
    records = [json.loads(line) for p in paths for line in open(p)]
    overlap = [r for r in records if r["k"] > r["s"]]
    for t in (1.5, 2, 3, 4, 6, 8, 16):
        flips = [r for r in overlap if r["auto"] == "col2im" and r["o"] >= t * r["c"]]
        ratio = [r["ms"]["polyphase"] / r["ms"]["auto"] for r in flips]
        slower = sum(x > 1.1 for x in ratio)
        print(f"threshold {t}: {len(flips)} layers, polyphase/auto {geomean(ratio):.3f}, "
              f"worst {max(ratio, default=0):.2f}, slower by > 10 %: {slower}")  # fmt: skip
    for lo, hi in [(0, 0.25), (0.25, 1), (1, 2), (2, 4), (4, 8), (8, np.inf)]:
        band = [r for r in overlap if lo <= r["o"] / r["c"] < hi]
        cp = [r["ms"]["col2im"] / r["ms"]["polyphase"] for r in band]
        print(f"O/C in [{lo}, {hi}): {len(band)} layers, col2im/polyphase {geomean(cp):.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
