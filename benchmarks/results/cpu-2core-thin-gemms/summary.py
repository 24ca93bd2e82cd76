"""Time of ``auto`` after over before by GEMM rows (batch times output positions) and by
how many times the kernel outweighs the patches (output features over GEMM rows), from the
jsonl files of ``ab.py``:

    PYTHONPATH=../../../src python summary.py ab-*.jsonl
"""

import json
import math
import sys

import numpy as np


def out_size(n, k, s, pad):
    return -(-n // s) if pad == "SAME" else (n - k) // s + 1


rows = [json.loads(line) for f in sys.argv[1:] for line in open(f)]
for r in rows:
    lax = r.get("lax_ms", float("nan"))  # not timed differentiated
    r["lax_before"], r["lax_after"] = r["old_ms"] / lax, r["new_ms"] / lax
    r["rows"] = r["N"] * math.prod(out_size(m, r["k"], r["s"], r["pad"]) for m in r["m"])
    r["t"] = r["new_ms"] / r["old_ms"]
rows.sort(key=lambda r: r["rows"])
for r in rows:
    print(
        f"rows {r['rows']:4d} O/rows {r['O'] / r['rows']:6.1f} {r['t']:5.2f}  {r['nd']}-d "
        f"k{r['k']} s{r['s']} {r['C']} -> {r['O']} N{r['N']} {r['m']} "
        f"{'cf' if r['channels_first'] else 'cl'} {r['pad']} {r['old']} -> {r['new']}  "
        f"lax {r['lax_before']:.2f} -> {r['lax_after']:.2f}"
    )


def line(label, sel):
    t = np.array([r["t"] for r in sel])
    if len(t):
        print(f"{label} | {len(t)} | {np.exp(np.log(t).mean()):.3f} | {(t > 1.1).sum()}")


print("\nGEMM rows | layers | after/before geomean | slower by > 10 %")
line("all", rows)
for lo, hi in ((1, 16), (17, 32), (33, 64), (65, 128), (129, 256), (257, 1024)):
    line(f"{lo}-{hi}", [r for r in rows if lo <= r["rows"] <= hi])
print("\nO/rows | layers | after/before geomean | slower by > 10 %")
for lo, hi in ((3, 6), (6, 12), (12, 48), (48, 1e9)):
    line(f"{lo}-{hi}", [r for r in rows if lo <= r["O"] / r["rows"] < hi])

for key in ("lax_before", "lax_after"):
    print(f"{key}: geomean {np.exp(np.mean([np.log(r[key]) for r in rows])):.3f}")
