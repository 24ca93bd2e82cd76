"""The programs whose strategy or kernel order changes when ``KERNEL_IN_PLACE`` goes from 4
to ``new``, one per line as ``benchmarks/ab_timed.py --programs`` reads them.

    python changed.py 9011 9031 3
"""

import sys
from unittest import mock

import numpy as np

from jaxconv import _policy, _strategies
from jaxconv._bench import fit


def choice(plan, times):
    with mock.patch.object(_strategies, "KERNEL_IN_PLACE", times):
        order = _strategies.reads_kernel_in_place(plan._replace(channels_first=False))
        return _policy.choose(plan, np.float32, decide_layout=True), order


def main(first: int, stop: int, new: float) -> None:
    suites = ("random", "random-small", "random-large")
    for suite, case, layout, p in fit.float_plans(suites, range(first, stop)):
        old, now = choice(p, 4), choice(p, new)
        if old != now:
            for d in ("fwd", "fwd+bwd"):
                print(suite, case.name, layout, d, f"{old[0]}->{now[0]}")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
