"""The programs whose strategy ``_policy.direct_over_col2im`` changes, one per line as
``benchmarks/ab_timed.py --programs`` reads them (then the old and new strategy).

    python changed.py 9021 9041
"""

import math
import sys
from unittest import mock

import numpy as np

from jaxconv import _policy
from jaxconv._bench import fit


def main(first: int, stop: int) -> None:
    suites = ("random", "random-small", "random-large")
    for suite, case, layout, p in fit.float_plans(suites, range(first, stop)):
        new = _policy.choose(p, np.float32, decide_layout=True)
        with mock.patch.object(_policy, "direct_over_col2im", lambda *a: False):
            old = _policy.choose(p, np.float32, decide_layout=True)
        if new != old:
            for d in ("fwd", "fwd+bwd"):
                pos = math.prod(p.in_spatial)
                print(suite, case.name, layout, d, f"{old}->{new}", "pos", pos)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
