"""Ratios new / old (and to lax where timed) of the records here:

python summary.py ab-*.jsonl
"""

import json
import sys

import numpy as np


def geomean(values):
    return float(np.exp(np.mean(np.log(values))))


for path in sys.argv[1:]:
    with open(path) as f:
        records = [json.loads(row) for row in f]
    for r in records:
        lax = ""
        if "lax_ms" in r:
            lax = f", lax {r['old_ms'] / r['lax_ms']:.2f} -> {r['new_ms'] / r['lax_ms']:.2f}"
        print(f"  {r['nd']}-d {r['k']} {r['C']}->{r['O']} g{r['G']} d{r['d']} {r['m']} N={r['N']} "
              f"{'NC' if r['channels_first'] else 'C-last'}: {r['old']} -> {r['new']} "
              f"{r['new_ms'] / r['old_ms']:.2f}x{lax}")  # fmt: skip
    ratios = np.array([r["new_ms"] / r["old_ms"] for r in records])
    print(f"{path}: {len(ratios)} layers, {geomean(ratios):.3f}x "
          f"({ratios.min():.2f}-{ratios.max():.2f}, {(ratios > 1).sum()} slower)")  # fmt: skip
