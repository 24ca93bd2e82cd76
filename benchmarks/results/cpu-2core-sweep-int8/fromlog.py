"""Rebuild the sweep's results.json from its log (see README.md).

Run from the repository's root: ``PYTHONPATH=src python <this file> log.txt results.json``.
"""

import collections
import json
import re
import sys

import jax
import numpy as np

from jaxconv._bench import runner, suites

LINE = re.compile(r"^\[\d+/\d+\] random/(\S+) (NHWC|NCHW) fwd: ratio ([0-9.]+) \((\w+)\)$")
RESOLVED = 0.10  # the log's two decimals resolve ratios from here to 5 %


def main(log: str, out: str) -> None:
    cases = {c.name: c for c in suites.RANDOM_WITH_GRADIENTS}
    ratios = collections.defaultdict(dict)
    with open(log) as f:
        for line in f:
            m = LINE.match(line.strip())
            if m:
                ratios[m[1], m[2]][m[4]] = float(m[3])
    records = []
    for (name, layout), times in ratios.items():
        case = cases[name]._replace(dtype="int8")
        if set(times) != set(runner.strategies_for(case, layout)) or min(times.values()) < RESOLVED:
            continue  # cut short, or not resolved
        auto = runner.chosen_strategy(case, layout, np.int8)
        for strategy, ratio in times.items():
            records.append({
                **runner.case_fields(case, layout), "suite": "random", "layout": layout,
                "dtype": "int8", "direction": "fwd", "num_devices": 1, "strategy": strategy,
                "jaxconv_ms": ratio, "lax_ms": 1.0, "ratio": ratio, "auto_strategy": auto,
                "device_kind": "cpu", "platform": "cpu", "jax_version": jax.__version__,
            })  # fmt: skip
    peaks = [{"device": "cpu:0", "device_kind": "cpu", "dtype": "int8", "gflops": 262.8}]
    with open(out, "w") as f:
        json.dump({"records": records, "peaks": peaks, "note": "rebuilt from log.txt"}, f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
