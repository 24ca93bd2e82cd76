"""Ratios new / old (and to lax) of the A/B records here:

python summary.py ab-*.jsonl
"""

import json
import sys

import numpy as np

for path in sys.argv[1:]:
    with open(path) as f:
        records = [json.loads(row) for row in f]
    timed = all("lax_ms" in r for r in records)
    for r in records:
        lax = ""
        if timed:
            lax = f", lax {r['old_ms'] / r['lax_ms']:.2f} -> {r['new_ms'] / r['lax_ms']:.2f}"
        print(f"  {r['nd']}-d {r['k']} {r['C']}->{r['O']} g{r['G']} d{r['d']} {r['m']} N={r['N']}: "
              f"{r['old']} -> {r['new']} {r['new_ms'] / r['old_ms']:.2f}x{lax}")  # fmt: skip
    ratios = np.array([r["new_ms"] / r["old_ms"] for r in records])
    line = (f"{path}: {len(ratios)} layers, {np.exp(np.log(ratios).mean()):.3f}x "
            f"({ratios.min():.2f}-{ratios.max():.2f}, {(ratios > 1).sum()} slower)")  # fmt: skip
    if timed:
        old, new = (np.exp(np.mean(np.log([r[k] / r["lax_ms"] for r in records])))
                    for k in ("old_ms", "new_ms"))  # fmt: skip
        line += f"; lax {old:.3f} -> {new:.3f}"
    print(line)
