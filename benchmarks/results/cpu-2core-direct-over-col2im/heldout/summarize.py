"""after/before and both against lax, per direction, over ``ab.jsonl`` (ab_timed.py's
records), with the six programs that lost most."""

import json
import math
import os

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "ab.jsonl")) as f:
    records = [json.loads(line) for line in f]


def gmean(xs):
    return math.exp(sum(map(math.log, xs)) / len(xs))


for direction in ("fwd", "fwd+bwd"):
    rs = [r for r in records if r["direction"] == direction]
    ab = [r["after_over_before"] for r in rs]
    before, after = [r["before"] for r in rs], [r["after"] for r in rs]
    print(
        f"{direction}: {len(rs)} programs, after/before {gmean(ab):.3f} "
        f"({sum(x < 0.95 for x in ab)} faster, {sum(x > 1.05 for x in ab)} slower), vs lax "
        f"{gmean(before):.3f} -> {gmean(after):.3f}, worst {max(before):.2f} -> {max(after):.2f}"
    )
    for r in sorted(rs, key=lambda r: -r["after_over_before"])[:6]:
        print(f"  {r['suite']} {r['case']} {r['before']:.2f} -> {r['after']:.2f} lax")
