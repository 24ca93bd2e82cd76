"""Forward and forward+backward time of ``auto`` on the dense layers of fresh
``random-heldout`` draws whose forward choice ``_policy._gemm_over_direct`` changes (the
rules pick ``direct``, a GEMM runs instead), the code before and after, compiled side by
side and timed in the same rounds (``benchmarks/ab_timed.py``'s ``timed_pair``). One JSON
line per program: the choices, ms before and after, XLA temp bytes.

    git worktree add --detach /tmp/old <before>
    python heldout.py /tmp/old/src OUT.jsonl SEED_FROM SEED_TO
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from ab_timed import forward_choice, old_package, timed_line  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv._bench import suites  # noqa: E402


def main():
    old = old_package(sys.argv[1])
    with open(sys.argv[2], "a") as out:
        for seed in range(int(sys.argv[3]), int(sys.argv[4])):
            for case in suites.random_suite("random-heldout", seed):
                if case.groups != 1 or case.transposed or case.dtype is not None:
                    continue
                for layout in case.layouts or ("NHWC", "NCHW"):
                    before = forward_choice(old, case, layout)
                    after = forward_choice(jaxconv, case, layout)
                    if before == after:
                        continue
                    for direction in ("fwd", "fwd+bwd"):
                        timed_line(out, old, case, layout, direction,
                                   suite=f"random-heldout@{seed}", before=before, after=after,
                                   features=case.in_channels, outputs=case.out_channels,
                                   taps=int(np.prod(case.kernel)))  # fmt: skip


if __name__ == "__main__":
    main()
