"""Summary of benchmarks/ab_timed.py records (after: with stacks_taps; before: the code
before it): time after over before, by rank and layout, and the programs that lost most.

    python summarize.py heldout-random.jsonl
"""

import json
import math
import sys

rows = [json.loads(line) for f in sys.argv[1:] for line in open(f)]


def gm(v):
    return math.exp(sum(map(math.log, v)) / len(v)) if v else float("nan")


v = [r["after_over_before"] for r in rows]
print(
    f"{len(v)} programs: {gm(v):.3f}x the time (before {gm([r['before'] for r in rows]):.3f}x "
    f"lax, after {gm([r['after'] for r in rows]):.3f}x), worst {max(v):.2f}x, "
    f"{sum(x > 1.1 for x in v)} slower by more than 10 %, largest difference "
    f"{max(r['max_abs_diff'] for r in rows):.2g}"
)
for key in ("_1d_", "_2d_", "_3d_"):
    s = [r["after_over_before"] for r in rows if key in r["case"]]
    if s:
        print(f"{key.strip('_')}: {len(s)} programs, {gm(s):.3f}x, worst {max(s):.2f}x")
for layout in ("NHWC", "NCHW"):
    s = [r["after_over_before"] for r in rows if r["layout"] == layout]
    print(f"{layout}: {len(s)} programs, {gm(s):.3f}x")
for r in sorted(rows, key=lambda r: -r["after_over_before"])[:8]:
    b, a, ab = r["before"], r["after"], r["after_over_before"]
    print(r["suite"], r["case"], r["layout"], f"{b:.2f} -> {a:.2f} lax ({ab:.2f}x)")
