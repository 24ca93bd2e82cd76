"""Held out: ``auto`` before and after ``col2im`` over ``banded`` on channels-first volumes
(``_policy.volume_col2im_over_band``), with lax, forward or forward and backward
(``grad``), in the same interleaved rounds.

Draws 3-d dense NCDHW layers (kernels 2x2x2-3x3x3 and some 5x5x5, unit strides, 5-16 input
and 1-16 output features, 'SAME' or 'VALID') and keeps those where the rule changes
``auto``'s choice. "Before" is ``auto`` compiled with the rule returning False. The timing
loop is ``../cpu-2core-small-groups/ab.py``'s:

    PYTHONPATH=../../../src python ab.py SEED COUNT [grad] > ab-SEED.jsonl
"""

import importlib.util
import pathlib
import sys
from unittest import mock

from jaxconv import _policy

_spec = importlib.util.spec_from_file_location(
    "small_groups_ab", pathlib.Path(__file__).parent.parent / "cpu-2core-small-groups" / "ab.py"
)
small_groups = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(small_groups)


def before():
    return mock.patch.object(_policy, "volume_col2im_over_band", lambda plan: False)


def draw(rng):
    k = int(rng.choice([2, 3, 3, 3, 5]))
    c = int(rng.choice([5, 6, 8, 8, 12, 16]))
    o = int(rng.choice([1, 4, 6, 8, 8, 16]))
    n = int(rng.choice([1, 1, 2, 4]))
    size = tuple(int(rng.integers(8, 48)) for _ in range(3))
    return 3, (k,) * 3, c, o, 1, 1, 1, n, size


def main(seed: int, count: int, grad: bool) -> None:
    small_groups.main(seed, count, grad, draw, before, first=lambda rng: True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3 and sys.argv[3] == "grad")
