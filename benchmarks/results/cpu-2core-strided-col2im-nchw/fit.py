"""The fit's figures: every strategy forced on the strided dense layers of at most 32 (``str``)
and 33-64 (``str64``, NCHW) input features of seeds 9001-9004; per channels-first program
where :func:`jaxconv._policy.strided_col2im_pays` now holds and the rules picked another
strategy, ``col2im``'s time over the rules' choice. ``python fit.py [LO]`` (fewest input
features, default 12)."""

import collections
import glob
import json
import math
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
lo = int(sys.argv[1]) if len(sys.argv) > 1 else 12
programs = collections.defaultdict(dict)
for path in sorted(glob.glob(os.path.join(here, "fit", "*", "*", "results.json"))):
    for r in json.load(open(path))["records"]:
        programs[(r["suite"], r["case"], r["layout"])][r["strategy"]] = r


def geomean(values):
    return math.exp(sum(map(math.log, values)) / len(values))


rows = []
for (_, case, layout), timed in sorted(programs.items()):
    r = next(iter(timed.values()))
    pays = (
        layout == "NCHW"
        and max(r["strides"]) > 1
        and max(r["lhs_dilation"]) == 1
        and r["groups"] == 1
        and math.prod(r["kernel"]) >= 2
        and lo <= r["in_channels"] <= 64
        and r["out_channels"] <= r["in_channels"]
    )
    auto = r["auto_strategy"]
    if not pays or auto == "col2im" or auto not in timed or "col2im" not in timed:
        continue
    best = min(t["jaxconv_ms"] for t in timed.values())
    col2im, before = timed["col2im"], timed[auto]
    rows.append((col2im["jaxconv_ms"] / before["jaxconv_ms"], before, col2im, best, case, auto))
ratios = [x[0] for x in rows]
print(f"{len(rows)} programs: col2im / the rules' choice {geomean(ratios):.3f}", end=", ")
print(f"{sum(x > 1 for x in ratios)} slower, worst {max(ratios):.2f}")
print(
    f"regret {geomean([x[1]['jaxconv_ms'] / x[3] for x in rows]):.3f}"
    f" -> {geomean([x[2]['jaxconv_ms'] / x[3] for x in rows]):.3f};"
    f" against lax {geomean([x[1]['ratio'] for x in rows]):.3f}"
    f" -> {geomean([x[2]['ratio'] for x in rows]):.3f}"
)
for ratio, _, _, _, case, auto in sorted(rows):
    print(f"  {ratio:.2f} {case} ({auto})")
