"""Ratios new / old of the records here, per kind of layer:

python summary.py ab-*.jsonl
"""

import json
import sys

import numpy as np


def line(records):
    ratios = np.array([r["new_ms"] / r["old_ms"] for r in records])
    if not len(ratios):
        return "-"
    return (f"{len(ratios)} layers, {np.exp(np.log(ratios).mean()):.3f}x "
            f"({ratios.min():.2f}-{ratios.max():.2f}, {(ratios > 1).sum()} slower)")  # fmt: skip


for path in sys.argv[1:]:
    with open(path) as f:
        records = [json.loads(row) for row in f]
    print(path, "all:", line(records))
    print("  3-d, 5x5x5 or more:", line([r for r in records if r["nd"] == 3 and r["k"] >= 5]))
    print("  1-2-d, 64-512 features:", line([r for r in records if r["C"] < 1024 and r["nd"] < 3]))
    print("  1024+ features:", line([r for r in records if r["C"] >= 1024]))
