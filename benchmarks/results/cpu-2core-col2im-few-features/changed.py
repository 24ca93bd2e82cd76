"""The programs whose strategy ``_policy.col2im_too_shallow`` changes, one per line as
``benchmarks/ab_timed.py --programs`` reads them (then the old and new strategy).

    python changed.py random 5001 5002 ...
"""

import sys
from unittest import mock

import numpy as np

from jaxconv import _policy
from jaxconv._bench import fit, suites


def main(suite_name: str, seeds: list[int]) -> None:
    lines = []
    for seed in seeds:
        for suite, case in suites.resolve(suite_name, seed):
            if case.groups != 1 or case.dtype is not None:
                continue
            for layout in case.layouts or ("NHWC", "NCHW"):
                plan = fit.plan_of(case, layout)  # a transposed case as its convolution
                new = _policy.choose(plan, np.float32, decide_layout=True)
                with mock.patch.object(_policy, "col2im_too_shallow", lambda p: False):
                    old = _policy.choose(plan, np.float32, decide_layout=True)
                if new == old:
                    continue
                base = case.name.removesuffix("_dx")
                if base == case.name:
                    lines += [f"{suite} {case.name} {layout} {d} {old}->{new}" for d in
                              ("fwd", "fwd+bwd")]  # fmt: skip
                else:
                    lines.append(f"{suite} {case.name} {layout} fwd {old}->{new}")
                    lines.append(f"{suite} {base} {layout} fwd+bwd (dx {old}->{new})")
    print("\n".join(dict.fromkeys(lines)))


if __name__ == "__main__":
    main(sys.argv[1], [int(a) for a in sys.argv[2:]])
