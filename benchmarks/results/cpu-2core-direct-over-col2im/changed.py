"""The programs whose strategy ``_policy.direct_over_col2im`` changes, one per line as
``benchmarks/ab_timed.py --programs`` reads them (then the old and new strategy).

    python changed.py 9021 9041
"""

import math
import sys
from unittest import mock

import numpy as np

from jaxconv import _policy
from jaxconv._bench import fit, suites


def main(first: int, stop: int) -> None:
    for suite_name in ("random", "random-small", "random-large"):
        for seed in range(first, stop):
            for suite, case in suites.resolve(suite_name, seed):
                if case.dtype is not None:
                    continue
                for layout in case.layouts or ("NHWC", "NCHW"):
                    p = fit.plan_of(case, layout)  # a transposed case as its convolution
                    new = _policy.choose(p, np.float32, decide_layout=True)
                    with mock.patch.object(_policy, "direct_over_col2im", lambda *a: False):
                        old = _policy.choose(p, np.float32, decide_layout=True)
                    if new != old:
                        for d in ("fwd", "fwd+bwd"):
                            pos = math.prod(p.in_spatial)
                            print(suite, case.name, layout, d, f"{old}->{new}", "pos", pos)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
