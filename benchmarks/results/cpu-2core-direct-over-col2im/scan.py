"""The dense NCHW layers of at most 8 input and 8 output features, two or more taps, unit
strides and no input dilation in the three random suites, with ``auto``'s choice, one per
line (``scan1.txt``: seeds 9001-9020 before ``direct_over_col2im``, written by an earlier
form of this script that printed more columns).

    python scan.py 9001 9021
"""

import math
import sys

import numpy as np

from jaxconv import _policy
from jaxconv._bench import fit, suites


def main(first: int, stop: int) -> None:
    for suite_name in ("random", "random-small", "random-large"):
        for seed in range(first, stop):
            for suite, case in suites.resolve(suite_name, seed):
                if case.groups != 1 or case.dtype is not None or case.transposed:
                    continue
                if "NCHW" not in (case.layouts or ("NCHW",)):
                    continue
                p = fit.plan_of(case, "NCHW")
                few = p.in_features <= 8 and p.out_features <= 8 and p.taps >= 2
                if not few or max(p.strides) > 1 or max(p.lhs_dilation) > 1:
                    continue
                name = _policy.choose(p, np.float32, decide_layout=True)
                print(suite, case.name, "NCHW", name, "positions", math.prod(p.in_spatial))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
