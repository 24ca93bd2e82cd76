"""``im2col`` over ``rows`` and ``taps`` on kernel-dominated dense layers of few GEMM rows
(``_policy._im2col_over_thin_gemms``): ``auto`` before (the rule off) and after, with lax,
forward or forward and backward (``grad``), in the same interleaved rounds.

Draws dense layers of 64-1024 features on small maps (1-3 spatial dims, kernels 2-13,
strides 1-2, batch 1-4, both layouts, 'SAME' or 'VALID') and keeps those whose choice the
rule changes. With ``sweep`` its bound on the GEMM rows is raised to 1024; without, it is
the committed value. The timing loop is ``../cpu-2core-small-groups/ab.py``'s:

    PYTHONPATH=../../../src python ab.py SEED COUNT [grad] [sweep] [last] > ab-SEED.jsonl

``last`` draws channels-last layers only. With ``grad`` lax is not timed: a first run spent
5 minutes on its first layer.
"""

import importlib.util
import pathlib
import sys
from unittest import mock

from jaxconv import _policy

_here = pathlib.Path(__file__).parent
_spec = importlib.util.spec_from_file_location(
    "small_groups_ab", _here.parent / "cpu-2core-small-groups" / "ab.py"
)
small_groups = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(small_groups)


def before():
    return mock.patch.object(_policy, "FEW_ROWS_KERNEL_GEMMS", 0)


def draw(rng):
    nd = int(rng.choice([1, 2, 2, 2, 3]))
    k = int(
        rng.choice({1: [3, 5, 7, 9, 15, 31], 2: [2, 3, 3, 5, 7, 9, 11, 13], 3: [2, 3, 3, 5]}[nd])
    )
    c = int(rng.choice([64, 96, 128, 192, 256, 384, 512, 768, 1024]))
    o = int(rng.choice([64, 96, 128, 192, 256, 384, 512, 768, 1024]))
    s = int(rng.choice([1, 1, 2]))
    n = int(rng.choice([1, 1, 2, 4]))
    m = {1: (4, 96), 2: (3, 24), 3: (3, 9)}[nd]
    size = tuple(int(rng.integers(*m)) for _ in range(nd))
    return nd, (k,) * nd, c, o, 1, s, 1, n, size


def main(seed: int, count: int, grad: bool, sweep: bool, last: bool) -> None:
    bound = 1024 if sweep else _policy.FEW_ROWS_KERNEL_GEMMS
    # no lax differentiated: its gradients of these large strided kernels took minutes
    options = dict(limit=(16e6, 16e6), lax=not grad)
    if last:
        options["first"] = lambda rng: False
    with mock.patch.object(_policy, "FEW_ROWS_KERNEL_GEMMS", bound):
        small_groups.main(seed, count, grad, draw, before, **options)


if __name__ == "__main__":
    args = sys.argv[3:]
    main(int(sys.argv[1]), int(sys.argv[2]), "grad" in args, "sweep" in args, "last" in args)
