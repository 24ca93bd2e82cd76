"""Scores candidate forms of `_policy.differentiated_fft_pays` on fit.jsonl: for each limit on
rank, output features and fft cost ratio, the forward+backward time of the programs it
changes (whole `fft`, or only the kernel gradient by fft) over auto's before it.

    python fit_rule.py fit.jsonl
"""

import json
import math
import sys

import numpy as np

rows = [json.loads(line) for path in sys.argv[1:] for line in open(path)]


def geomean(v):
    return math.exp(np.mean(np.log(v)))


for key in ("fft_r", "kgfft_r"):
    for rank in (2, 3):
        for outputs in (8, 16, 32):
            for ratio in (0.8, 1.0, 1.2, 1.5):
                sel = [
                    x for x in rows
                    if x["cout"] <= outputs and x["ratio"] >= ratio and len(x["kernel"]) <= rank
                    and math.prod(x["spatial"]) >= math.prod(x["kernel"])
                ]  # fmt: skip
                v = np.array([x[key] / x["auto_r"] for x in sel])
                if len(v):
                    print(f"{key:8s} rank<={rank} O<={outputs:2d} ratio>={ratio}: {len(v):3d} "
                          f"programs, {geomean(v):.3f}x the time, {(v > 1.1).sum()} slower "
                          f"by >10%, worst {v.max():.2f}")  # fmt: skip
