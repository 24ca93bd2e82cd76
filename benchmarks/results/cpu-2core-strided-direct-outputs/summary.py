"""From the jsonl files of ``sweep.py`` (every strategy forced on layers where ``auto`` ran
``direct``): ``im2col``'s and the fastest GEMM strategy's time over ``direct``'s by
products per output (taps times input features) and output features; from those of
``ab.py`` (``auto`` before and after): after over before, and both over lax.

    PYTHONPATH=../../../src python summary.py sweep-*.jsonl ab-*.jsonl
"""

import json
import sys

import numpy as np


def geomean(v):
    return float(np.exp(np.mean(np.log(v))))


rows = [json.loads(line) for f in sys.argv[1:] for line in open(f)]
sweep = [r for r in rows if "direct_ms" in r]
ab = [r for r in rows if "old_ms" in r]

if sweep:
    print(
        "rank | products >= | outputs >= | layers | im2col/direct | slower by > 10 % "
        "| best GEMM/direct"
    )
    for nd in (1, 2):
        for products in (32, 48, 64, 96):
            for outputs in (8, 16, 32):
                sel = [
                    r
                    for r in sweep
                    if r["nd"] == nd and r["k"] ** nd * r["C"] >= products and r["O"] >= outputs
                ]
                if not sel:
                    continue
                t = np.array([r["im2col_ms"] / r["direct_ms"] for r in sel])
                gemms = ("im2col", "rows", "banded", "col2im")
                best = [
                    min(r[f"{g}_ms"] for g in gemms if f"{g}_ms" in r) / r["direct_ms"] for r in sel
                ]
                print(
                    f"{nd} | {products} | {outputs} | {len(sel)} | {geomean(t):.3f} | "
                    f"{(t > 1.1).sum()} | {geomean(best):.3f}"
                )

if ab:
    print()
    for r in sorted(ab, key=lambda r: r["new_ms"] / r["old_ms"]):
        print(
            f"{r['new_ms'] / r['old_ms']:5.2f}  {r['nd']}-d k{r['k']} s{r['s']} {r['C']} -> "
            f"{r['O']} N{r['N']} {r['m']} {r['pad']} {r['old']} -> {r['new']}  lax "
            f"{r['old_ms'] / r['lax_ms']:.2f} -> {r['new_ms'] / r['lax_ms']:.2f}"
        )
    t = np.array([r["new_ms"] / r["old_ms"] for r in ab])
    print(f"\n{len(t)} layers: after/before {geomean(t):.3f}, slower by > 10 %: {(t > 1.1).sum()}")
    for key in ("old", "new"):
        print(f"{key}/lax: {geomean([r[f'{key}_ms'] / r['lax_ms'] for r in ab]):.3f}")
