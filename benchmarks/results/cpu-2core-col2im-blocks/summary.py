"""Time after over before, and both over lax, from the jsonl files of ``ab.py``:

PYTHONPATH=../../../src python summary.py ab-*.jsonl
"""

import json
import sys

import numpy as np

rows = [json.loads(line) for f in sys.argv[1:] for line in open(f)]
for r in sorted(rows, key=lambda r: r["new_ms"] / r["old_ms"]):
    kind = "transposed" if r["transposed"] else "strided"
    print(
        f"{r['new_ms'] / r['old_ms']:5.2f}  {kind} {r['nd']}-d k{r['k']} s{r['s']} {r['C']} -> "
        f"{r['O']} N{r['N']} {r['m']} {r['pad']}  lax {r['old_ms'] / r['lax_ms']:.2f} -> "
        f"{r['new_ms'] / r['lax_ms']:.2f}"
    )


def geomean(v):
    return float(np.exp(np.mean(np.log(v))))


for kind in (True, False):
    sel = [r for r in rows if r["transposed"] == kind]
    if not sel:
        continue
    t = np.array([r["new_ms"] / r["old_ms"] for r in sel])
    print(
        f"\n{'transposed' if kind else 'strided'}: {len(t)} layers, after/before "
        f"{geomean(t):.3f}, slower by > 10 %: {(t > 1.1).sum()}; lax: "
        f"{geomean([r['old_ms'] / r['lax_ms'] for r in sel]):.3f} -> "
        f"{geomean([r['new_ms'] / r['lax_ms'] for r in sel]):.3f}"
    )
