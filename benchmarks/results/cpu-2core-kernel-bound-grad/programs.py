"""The float ``fwd+bwd`` programs of a suite whose kernel gradient ``_grad.kernel_bound_grad``
changes, one per line as ``benchmarks/ab_timed.py --programs`` reads them.

    python programs.py random 6001 6002 6003 6004
"""

import sys

import numpy as np

from jaxconv import _grad, _policy
from jaxconv._bench.fit import float_plans


def main(suite_name: str, seeds: list[int | None]) -> None:
    for suite, case, layout, plan in float_plans([suite_name], seeds):
        if case.groups != 1 or case.transposed:
            continue
        name = _policy.choose(plan, np.float32, decide_layout=True)
        if name == "fft" or any(d > 1 for d in plan.lhs_dilation):
            continue  # JAX's transpose of the forward strategy
        if _grad.kernel_bound_grad(plan) and not _grad.kernel_grad_by_output(plan):
            print(suite, case.name, layout, "fwd+bwd", name)


if __name__ == "__main__":
    main(sys.argv[1], [int(a) for a in sys.argv[2:]] or [None])
