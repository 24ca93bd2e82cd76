"""Forward+backward time of ``auto`` on the depthwise layers (one filter per channel, two
taps or more) of fresh random-suite draws, the code before and after the kernel gradient
reduced the unsplit tap and cotangent, compiled side by side and timed in the same rounds
(``benchmarks/ab_timed.py``'s ``timed_pair``). One JSON line per program: ms before and
after, XLA temp bytes, and whether the compiled programs differ.

    git worktree add --detach /tmp/old <before>
    python heldout.py /tmp/old/src OUT.jsonl SEED_FROM SEED_TO
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from ab_timed import old_package, timed_line  # noqa: E402

from jaxconv._bench import suites  # noqa: E402


def main():
    old = old_package(sys.argv[1])
    with open(sys.argv[2], "a") as out:
        for seed in range(int(sys.argv[3]), int(sys.argv[4])):
            for suite in ("random", "random-small"):
                for case in suites.random_suite(suite, seed):
                    one_filter = case.groups == case.in_channels == case.out_channels > 1
                    if not one_filter or case.dtype is not None or np.prod(case.kernel) < 2:
                        continue
                    for layout in case.layouts or ("NHWC", "NCHW"):
                        timed_line(out, old, case, layout, "fwd+bwd", suite=f"{suite}@{seed}",
                                   rank=case.rank, taps=int(np.prod(case.kernel)))  # fmt: skip


if __name__ == "__main__":
    main()
