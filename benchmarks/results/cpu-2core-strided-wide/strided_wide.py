"""Strided dense layers of few input features and 25+ taps, drawn like a network's and in
no suite, on which ``auto`` ran ``im2col`` only by the 5-feature threshold of
``_policy.strided_patches_pay`` (``banded`` with 32): ``banded``, ``im2col`` and the other
GEMM strategies forced forward.

    python strided_wide.py SEED COUNT out.jsonl
"""

import math
import os
import sys

from jaxconv import _policy, _strategies

# The layers, plans and timing of the strided-few study beside this one.
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cpu-2core-strided-few")
)
from strided_few import draw, plan_of, time_forced  # noqa: E402

NAMES = ("banded", "im2col", "direct", "space_to_depth", "taps")


def choice(plan, **constants):
    """``auto``'s choice on ``plan`` with some of ``_policy``'s constants changed."""
    kept = {k: getattr(_policy, k) for k in constants}
    try:
        for k, v in constants.items():
            setattr(_policy, k, v)
        return _policy.choose(plan, "float32", decide_layout=True)
    finally:
        for k, v in kept.items():
            setattr(_policy, k, v)


def pick(lay):
    if math.prod(lay["K"]) < 25:
        return False
    plan = plan_of(lay)
    # auto as it was when this ran: 5 features up, 7x7 kernels too (no BAND_ROW_OUTPUTS)
    lay["auto"] = choice(plan, BAND_ROW_OUTPUTS=0)
    before = choice(plan, BAND_PATCHES_FEATURES=32)  # the threshold before
    return lay["auto"] == "im2col" and before == "banded"


if __name__ == "__main__":
    with open(sys.argv[3], "a") as out:
        for lay in draw(int(sys.argv[1]), int(sys.argv[2]), pick):
            plan = plan_of(lay)
            feasible = _strategies.feasible
            ns = [n for n in NAMES if feasible(n, _policy.in_layout(plan, n), "float32")]
            time_forced(lay, ns, out)
