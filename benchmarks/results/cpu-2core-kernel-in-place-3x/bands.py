"""after/before of ``ab_timed.py`` records (``fit/ab.jsonl`` or ``heldout/ab.jsonl``) by the
kernel's size over the patches' (the in-place threshold), per direction.

    python bands.py heldout/ab.jsonl
"""

import json
import math
import sys

from jaxconv._bench import fit, suites

cases = {}


def plan_of(suite, name, layout):
    if suite not in cases:
        base, seed = suite.split("@")
        cases[suite] = {c.name: c for _, c in suites.resolve(base, int(seed))}
    return fit.plan_of(cases[suite][name], layout)


def gmean(xs):
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")


rows = []
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)
        p = plan_of(r["suite"], r["case"], r["layout"])
        patches = p.batch * math.prod(p.out_spatial) * p.taps * p.in_features
        ratio = p.taps * p.in_features * p.out_features / patches
        rows.append((ratio, r["direction"], r["after_over_before"], r["before"], r["after"]))
for lo, hi in ((2, 3), (3, 4), (4, math.inf)):
    for d in ("fwd", "fwd+bwd"):
        xs = [x for x in rows if lo <= x[0] < hi and x[1] == d]
        ab = [x[2] for x in xs]
        print(
            f"kernel/patches {lo}-{hi} {d}: {len(xs)} programs, after/before {gmean(ab):.3f} "
            f"({sum(a < 0.95 for a in ab)} faster, {sum(a > 1.05 for a in ab)} slower), "
            f"vs lax {gmean([x[3] for x in xs]):.3f} -> {gmean([x[4] for x in xs]):.3f}"
        )
