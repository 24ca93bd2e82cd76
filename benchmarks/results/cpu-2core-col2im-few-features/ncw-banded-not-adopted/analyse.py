"""``banded`` against ``col2im`` on the 1-d layers of the ``n*/results.json`` sweeps where
the rules pick ``col2im`` (forward, both forced in the same rounds), by layout and number
of input features."""

import collections
import json
import os

import numpy as np

from jaxconv._bench import suites
from jaxconv._bench.fit import plan_of
from jaxconv._policy import choose, runs_channels_first

HERE = os.path.dirname(os.path.abspath(__file__))
SWEEPS = {"n1d5001-ncw": 5001, "n1d5001": 5001, "n1d5002": 5002, "n1d5003": 5003,
          "n1d5004": 5004, "n1d5005": 5005, "n1d5006": 5006}  # fmt: skip


def main() -> None:
    seen, rows = set(), []
    for folder, seed in SWEEPS.items():
        with open(os.path.join(HERE, folder, "results.json")) as f:
            data = json.load(f)
        times = collections.defaultdict(dict)
        for r in data["records"] if isinstance(data, dict) else data:
            if r["direction"] == "fwd":
                times[r["case"], r["layout"]][r["strategy"]] = r["jaxconv_ms"]
        cases = {c.name: c for c in suites.random_suite("random", seed)}
        for (name, layout), t in times.items():
            if (seed, name, layout) in seen or not {"col2im", "banded"} <= t.keys():
                continue
            seen.add((seed, name, layout))
            plan = plan_of(cases[name], layout)
            if plan.num_spatial != 1 or choose(plan, np.float32, decide_layout=True) != "col2im":
                continue
            cf = runs_channels_first(plan, "col2im")
            rows.append((layout, plan.in_features, plan.out_features, plan.taps, cf,
                         t["banded"] / t["col2im"], seed, name))  # fmt: skip
    for r in sorted(rows):
        print(*r)
    for layout in ("NCHW", "NHWC"):
        for lo, hi in ((1, 16), (17, 4096)):
            sel = [r[5] for r in rows if r[0] == layout and lo <= r[1] <= hi]
            if sel:
                geo = np.exp(np.mean(np.log(sel)))
                print(f"{layout} {lo}-{hi} features: {len(sel)} programs, banded/col2im "
                      f"{geo:.3f}, {sum(x < 1 for x in sel)} faster")  # fmt: skip


if __name__ == "__main__":
    main()
