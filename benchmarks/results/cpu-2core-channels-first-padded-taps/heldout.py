"""Forward and forward+backward time of ``auto`` on the channels-first layers of one input
feature per group with more than 9 taps and unit strides (those whose fused loop now reads
slices of the input padded once) in fresh random-suite draws, the code before and after,
compiled side by side and timed in the same rounds (``benchmarks/ab_timed.py``'s
``timed_pair``). One JSON line per program: ms before and after, XLA temp bytes, and
whether the compiled programs differ.

    git worktree add --detach /tmp/old <before>
    python heldout.py /tmp/old/src OUT.jsonl SEED_FROM SEED_TO
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from ab_timed import old_package, timed_line  # noqa: E402

from jaxconv._bench import suites  # noqa: E402


def wanted(case):
    """One input feature per group, more than 9 taps, unit strides, NCHW timed."""
    return (
        case.groups == case.in_channels
        and all(s == 1 for s in case.strides)
        and not case.transposed
        and np.prod(case.kernel) > 9
        and case.dtype is None
        and "NCHW" in (case.layouts or ("NHWC", "NCHW"))
    )


def main():
    old = old_package(sys.argv[1])
    with open(sys.argv[2], "a") as out:
        for seed in range(int(sys.argv[3]), int(sys.argv[4])):
            for suite in ("random", "random-small"):
                for case in filter(wanted, suites.random_suite(suite, seed)):
                    for direction in ("fwd", "fwd+bwd"):
                        timed_line(out, old, case, "NCHW", direction, suite=f"{suite}@{seed}",
                                   rank=case.rank, taps=int(np.prod(case.kernel)),
                                   batch=case.batch, features=case.in_channels)  # fmt: skip


if __name__ == "__main__":
    main()
