"""Held out: ``auto`` before (``_policy.strided_gemm_pays`` off) and after, with lax,
forward or forward and backward (``grad``), in the same interleaved rounds.

Draws strided dense channels-last layers wider than ``sweep.py``'s (1-d and 2-d, kernels
2-15, strides 2-3, 1-64 input and 8-128 output features, batch 1-32, 'SAME' or 'VALID')
and keeps those whose choice the rule changes (forward, or differentiated with ``grad``).
The timing loop is ``../cpu-2core-small-groups/ab.py``'s:

    PYTHONPATH=../../../src python ab.py SEED COUNT [grad] > ab-SEED.jsonl
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
    return mock.patch.object(_policy, "strided_gemm_pays", lambda plan: False)


def draw(rng):
    nd = int(rng.choice([1, 2, 2, 2]))
    k = int(rng.choice({1: [3, 5, 7, 9, 11, 15], 2: [2, 3, 3, 3, 4, 5, 7]}[nd]))
    c = int(rng.choice([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]))
    o = int(rng.choice([8, 16, 24, 32, 48, 64, 96, 128]))
    s = int(rng.choice([2, 2, 3]))
    n = int(rng.choice([1, 2, 4, 8, 16, 32]))
    m = {1: (256, 16384), 2: (16, 225)}[nd]
    size = tuple(int(rng.integers(*m)) for _ in range(nd))
    return nd, (k,) * nd, c, o, 1, s, 1, n, size


def main(seed: int, count: int, grad: bool) -> None:
    small_groups.main(seed, count, grad, draw, before, first=lambda rng: False)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), "grad" in sys.argv[3:])
