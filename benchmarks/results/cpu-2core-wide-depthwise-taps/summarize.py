"""The figures of this folder's README from its JSON lines.

python benchmarks/results/cpu-2core-wide-depthwise-taps/summarize.py
"""

import json
import math
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def lines(name):
    with open(os.path.join(HERE, name)) as f:
        return [json.loads(line) for line in f]


def geomean(values):
    return math.exp(sum(map(math.log, values)) / len(values)) if values else float("nan")


def fit():
    """``taps`` over ``depthwise``, both forced, by layout, features and taps."""
    rows = lines("fit.jsonl")
    bands = {
        "1024+ features, 10-49 taps": lambda r: r["features"] >= 1024 and 10 <= r["taps"] <= 49,
        "512-1023 features, 10-49 taps": lambda r: r["features"] < 1024 and 10 <= r["taps"] <= 49,
        "512+ features, 3x3 or fewer taps": lambda r: r["taps"] <= 9,
    }
    for layout in ("NHWC", "NCHW"):
        for label, keep in bands.items():
            kept = [r for r in rows if r["layout"] == layout and keep(r)]
            q = [r["taps_ms"] / r["depthwise_ms"] for r in kept]
            if q:
                print(f"fit {layout} {label:34} {len(q):3} programs taps/depthwise "
                      f"{geomean(q):.3f} ({min(q):.2f}-{max(q):.2f})")  # fmt: skip


def heldout():
    """After over before, per direction: all, and by kernel size."""
    records = lines("heldout-7701-7740.jsonl")
    for direction in ("fwd", "fwd+bwd"):
        v = [r for r in records if r["direction"] == direction]
        q = [r["after_over_before"] for r in v]
        before, after = sum(r["before_ms"] for r in v), sum(r["after_ms"] for r in v)
        print(f"held out {direction:7} {len(q)} programs {geomean(q):.3f}x (max {max(q):.2f}, "
              f"{sum(x > 1.1 for x in q)} over 1.1x); total {before:.0f} -> {after:.0f} ms; "
              f"temp at most {max(r['temp_after'] for r in v) / 2**20:.1f} MiB "
              f"(before {max(r['temp_before'] for r in v) / 2**20:.1f})")  # fmt: skip


if __name__ == "__main__":
    fit()
    heldout()
