"""The programs whose strategy ``_policy.col2im_too_shallow`` changes, one per line as
``benchmarks/ab_timed.py --programs`` reads them (then the old and new strategy).

    python changed.py random 5001 5002 ...
"""

import sys
from unittest import mock

import numpy as np

from jaxconv import _policy
from jaxconv._bench import fit


def main(suite_name: str, seeds: list[int]) -> None:
    lines = []
    for suite, case, layout, plan in fit.float_plans([suite_name], seeds):
        if case.groups != 1:
            continue
        new = _policy.choose(plan, np.float32, decide_layout=True)
        with mock.patch.object(_policy, "col2im_too_shallow", lambda p: False):
            old = _policy.choose(plan, np.float32, decide_layout=True)
        if new == old:
            continue
        base = case.name.removesuffix("_dx")
        if base == case.name:
            lines += [f"{suite} {case.name} {layout} {d} {old}->{new}" for d in ("fwd", "fwd+bwd")]
        else:
            lines.append(f"{suite} {case.name} {layout} fwd {old}->{new}")
            lines.append(f"{suite} {base} {layout} fwd+bwd (dx {old}->{new})")
    print("\n".join(dict.fromkeys(lines)))


if __name__ == "__main__":
    main(sys.argv[1], [int(a) for a in sys.argv[2:]])
