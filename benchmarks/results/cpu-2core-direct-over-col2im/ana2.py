"""direct against col2im, both forced, on forced.jsonl: geometric means per direction for
seeds 9001-9010 (where the limit was chosen) and 9011-9020, on plans of at least
`positions` input positions per image.   python ana2.py [positions]"""

import collections
import json
import math
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
least = int(sys.argv[1]) if len(sys.argv) > 1 else 256
rows = collections.defaultdict(dict)
with open(os.path.join(here, "forced.jsonl")) as f:
    for line in f:
        r = json.loads(line)
        k = (r["suite"], r["case"], r["direction"])
        rows[k][r["strategy"]] = r["jaxconv_ms"]
        rows[k]["lax"], rows[k]["rec"] = r["lax_ms"], r


def gmean(xs):
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")


for direction in ("fwd", "fwd+bwd"):
    for part, seeds in (("9001-9010", range(9001, 9011)), ("9011-9020", range(9011, 9021))):
        ratio, before, after = [], [], []
        for (suite, _, d), v in sorted(rows.items()):
            if d != direction or int(suite.split("@")[1]) not in seeds:
                continue
            if math.prod(v["rec"]["in_spatial"]) < least or "direct" not in v:
                continue
            ratio.append(v["direct"] / v["col2im"])
            before.append(v["col2im"] / v["lax"])
            after.append(v["direct"] / v["lax"])
        print(
            f"{direction:7s} seeds {part}: {len(ratio)} programs, direct/col2im "
            f"{gmean(ratio):.3f} ({sum(x > 1.05 for x in ratio)} slower), vs lax "
            f"{gmean(before):.3f} -> {gmean(after):.3f}"
        )
