"""Two forward sweeps of 2026-12-07 whose leads were not adopted (see the README):

PYTHONPATH=../../../src python leads.py banded 9854 40 sw1d-9854.jsonl
PYTHONPATH=../../../src python leads.py strided 9855 40 swst-9855.jsonl
"""

import json
import math
import sys

import numpy as np

sys.path.insert(
    0,
    __import__("os").path.join(
        __import__("os").path.dirname(__file__), "..", "cpu-2core-winograd-tiles"
    ),
)  # noqa: E501
from sweep import time_case  # noqa: E402

from jaxconv._bench import runner, suites  # noqa: E402


def banded_case(rng, seed, i):
    """1-d channels-last, 1-4 input features, 9-63 taps."""
    c, o = int(rng.integers(1, 5)), round(2 ** rng.uniform(3, 7))
    k = round(2 ** rng.uniform(math.log2(9), 6)) | 1
    n, length = int(2 ** rng.integers(0, 5)), round(2 ** rng.uniform(9, 14))
    if n * length > 70000:
        return None, None, None
    name = f"d{seed}_{i:03d}_{c}-{o}_k{k}_n{n}_L{length}"
    case = suites.Case(name, n, (length,), c, o, (k,), (1,), "SAME")
    return case, "NHWC", ["banded", "im2col", "direct"]


def strided_case(rng, seed, i):
    """Stride-2 1-d and 2-d layers of 12-64 input features that widen up to 4x."""
    rank = int(rng.integers(1, 3))
    c = round(2 ** rng.uniform(math.log2(12), 6))
    o = round(c * 2 ** rng.uniform(0.1, 2))
    k, n = int(rng.integers(2, 8)), int(2 ** rng.integers(0, 5))
    side = round(2 ** rng.uniform(5, 11)) if rank == 1 else round(2 ** rng.uniform(4, 7.5))
    size = n * side**rank
    if size * max(c, o) > 8e6 or size * c < 2e4:
        return None, None, None
    layout = str(rng.choice(["NHWC", "NCHW"]))
    name = f"s{seed}_{i:03d}_{rank}d_{c}-{o}_k{k}s2_n{n}_{side}"
    case = suites.Case(name, n, (side,) * rank, c, o, (k,) * rank, (2,) * rank, "SAME")
    if runner.chosen_strategy(case, layout, np.float32) == "col2im":
        return None, None, None
    return case, layout, ["col2im"]


def main(kind, seed, count, out):
    rng = np.random.default_rng(seed)
    draw = banded_case if kind == "banded" else strided_case
    with open(out, "a") as fh:
        i = 0
        while i < count:
            case, layout, strategies = draw(rng, seed, i)
            if case is None:
                continue
            auto = runner.chosen_strategy(case, layout, np.float32)
            rec = time_case(case, layout, "fwd", sorted({auto, *strategies}), 9)
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            i += 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
