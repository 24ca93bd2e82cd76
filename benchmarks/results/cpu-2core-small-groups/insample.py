"""In-sample table of ``_policy.direct_over_grouped``: on the stored all-strategy draws and
sweeps under ``benchmarks/results/cpu-2core*``, float32 grouped layers of 5-8 input features
per group (no wider out, at most 72 products per output, no input dilation), ``direct``'s
time over ``grouped``'s, all and where ``auto`` then ran ``grouped``:

    python insample.py
"""

import glob
import json

import numpy as np


def main() -> None:
    recs = {}
    for f in glob.glob("../cpu-2core*/**/results.json", recursive=True):
        for x in json.load(open(f))["records"]:
            if x.get("dtype") != "float32" or x.get("sharded") or x["kind"] != "grouped":
                continue
            key = (f, x["suite"], x["case"], x["layout"], x["direction"])
            recs.setdefault(key, {})[x["strategy"]] = x
    for direction in ("fwd", "fwd+bwd"):
        every, tree = [], []
        for key, s in recs.items():
            if key[4] != direction or "grouped" not in s or "direct" not in s:
                continue
            c = s["grouped"]
            gi, go = c["in_channels"] // c["groups"], c["out_channels"] // c["groups"]
            taps = int(np.prod(c["kernel"]))
            if not (5 <= gi <= 8 and go <= gi and taps * gi <= 72) or c["transposed"]:
                continue
            if any(d != 1 for d in c["lhs_dilation"]):
                continue
            r = s["direct"]["jaxconv_ms"] / s["grouped"]["jaxconv_ms"]
            every.append(r)
            if c.get("auto_strategy") == "grouped":
                tree.append(r)
        g = lambda v: float(np.exp(np.mean(np.log(v))))  # noqa: E731
        print(
            f"{direction}: all {len(every)} {g(every):.3f}; where auto ran grouped "
            f"{len(tree)} {g(tree):.3f} ({sum(r > 1.1 for r in tree)} slower by 10 %+)"
        )


if __name__ == "__main__":
    main()
