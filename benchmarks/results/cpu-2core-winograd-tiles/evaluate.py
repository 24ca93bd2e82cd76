"""Figures of the README from the records here: ``python evaluate.py``."""

import glob
import json
import math
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def gmean(xs):
    return float(np.exp(np.mean(np.log(xs)))) if xs else float("nan")


def read(pattern):
    return [
        json.loads(line) for f in sorted(glob.glob(os.path.join(HERE, pattern))) for line in open(f)
    ]


def selected(r):
    """``_policy.winograd_over_col2im`` on a sweep record."""
    c, o = r["c"], r["o"]
    tiles = r["n"] * math.ceil(r["h"] / 2) * math.ceil(r["w"] / 2)
    enough = o >= 2 * c if r["layout"] == "NCHW" else 4 * o >= c
    return c > 16 and o >= 16 and tiles >= 512 and enough


def line(label, ratios):
    if not ratios:
        return f"{label}: none"
    slower = sum(x > 1.1 for x in ratios)
    return (
        f"{label}: {len(ratios)} layers, winograd/col2im {gmean(ratios):.3f} "
        f"(median {np.median(ratios):.3f}, {min(ratios):.2f}-{max(ratios):.2f}), "
        f"{slower} slower by over 10 %"
    )


def main():
    for name in ("sw-9850-fwd.jsonl", "sw-9851-grad.jsonl"):
        rs = read(name)
        for layout in ("NHWC", "NCHW"):
            base = [r for r in rs if r["layout"] == layout and r["auto"] == "col2im"]
            for label, keep in (("selected", True), ("left", False)):
                sel = [r["winograd"] / r["col2im"] for r in base if selected(r) == keep]
                print(line(f"{name} {layout}, auto ran col2im, {label}", sel))
    for name in ("ho-9852-fwd.jsonl", "ho-9853-fwd.jsonl"):
        rs = read(name)
        for layout in ("NHWC", "NCHW", None):
            sel = [r for r in rs if layout in (None, r["layout"])]
            print(
                line(
                    f"{name} {layout or 'all'}, changed (any output)",
                    [r["winograd"] / r["col2im"] for r in sel],
                )
            )
            sel = [r for r in sel if selected(r)]
            print(
                line(
                    f"{name} {layout or 'all'}, changed by the rule",
                    [r["winograd"] / r["col2im"] for r in sel],
                )
            )
            before, after = gmean([r["col2im"] for r in sel]), gmean([r["winograd"] for r in sel])
            print(f"    auto/lax {before:.3f} -> {after:.3f}")
    rs = read("ab-*-7895.jsonl")
    for direction in ("fwd", "fwd+bwd"):
        sel = [r for r in rs if r["direction"] == direction]
        ratios = [r["after_over_before"] for r in sel]
        print(
            f"seed 7895 {direction}: {len(sel)} programs, after/before {gmean(ratios):.3f} "
            f"(median {np.median(ratios):.3f}, {min(ratios):.2f}-{max(ratios):.2f}), "
            f"{sum(x > 1.1 for x in ratios)} slower by over 10 %; auto/lax "
            f"{gmean([r['before'] for r in sel]):.2f} -> {gmean([r['after'] for r in sel]):.2f}"
        )


if __name__ == "__main__":
    main()
