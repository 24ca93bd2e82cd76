"""Summaries of this folder's files: ``python summarize.py``."""

import json

import numpy as np


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def geomean(values):
    return float(np.exp(np.mean(np.log(values))))


def variants():
    rows = load("variants.jsonl")
    print("variants.jsonl: kernel gradient alone, ratio to the split reduction (base)")
    for scanned in (True, False):
        # base scans its taps where forcing them unrolled holds more temp (MiB)
        sel = [r for r in rows if (r["temp"]["wide_unrolled"] > r["temp"]["base"] + 4) == scanned]
        for layout in ("NHWC", "NCHW"):
            part = [r for r in sel if r["layout"] == layout]
            if part:
                q = [r["ms"]["nosplit"] / r["ms"]["base"] for r in part]
                print(f"  scanned: {scanned!s:5} {layout}: {len(part)} layers, "
                      f"unsplit {geomean(q):.3f}x ({min(q):.2f}-{max(q):.2f})")  # fmt: skip


def heldout():
    rows = load("heldout.jsonl")
    print(f"heldout.jsonl: {len(rows)} forward+backward programs, seeds "
          f"{sorted({r['suite'].split('@')[1] for r in rows})}")  # fmt: skip
    for name, sel in (("changed", [r for r in rows if r["changed"]]),
                      ("unchanged", [r for r in rows if not r["changed"]])):  # fmt: skip
        q = np.array([r["after_over_before"] for r in sel])
        print(f"  {name}: {len(sel)}, after/before geomean {geomean(q):.3f}, median "
              f"{np.median(q):.3f}, p10-p90 {np.percentile(q, 10):.2f}-{np.percentile(q, 90):.2f}, "
              f"max {q.max():.2f}, > 1.1: {int((q > 1.1).sum())}")  # fmt: skip
        for layout in ("NHWC", "NCHW"):
            part = np.array([r["after_over_before"] for r in sel if r["layout"] == layout])
            print(f"    {layout}: {len(part)}, geomean {geomean(part):.3f}")
        before = sum(r["before_ms"] for r in sel)
        after = sum(r["after_ms"] for r in sel)
        print(f"    total {before:.0f} ms -> {after:.0f} ms")
        temp = [r["temp_after"] / r["temp_before"] for r in sel if r["temp_before"]]
        print(f"    temp after/before geomean {geomean(temp):.3f}, max {max(temp):.2f}")
    print(f"  outputs: largest difference relative to the largest value "
          f"{max(r['rel_diff'] for r in rows):.1e}")  # fmt: skip


def fft_kernel_grad():
    rows = [r for r in load("fit-7501.jsonl") if r["O"] == r["C"]]
    print("fit-7501.jsonl: one filter per channel, fft kernel gradient / per tap")
    for lo, hi in ((0, 0.2), (0.2, 10)):
        for rank in (1, 2, 3):
            q = [r["ms"]["fft_kgrad"] / r["ms"]["per_tap"] for r in rows
                 if lo <= r["ratio"] < hi and len(r["S"]) == rank]  # fmt: skip
            if q:
                print(f"  cost ratio {lo}-{hi}, {rank}-d: {len(q)} layers, geomean "
                      f"{geomean(q):.2f} ({min(q):.2f}-{max(q):.2f})")  # fmt: skip


if __name__ == "__main__":
    variants()
    heldout()
    fft_kernel_grad()
