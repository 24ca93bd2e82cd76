"""Held out: ``auto`` forward and backward before and after keeping ``taps`` where
``_policy.depthwise_taps_pay`` put it in place of the tree's ``depthwise`` forward (before,
the differentiated layer ran the fused loop), in the same interleaved rounds (no lax: its
3-d depthwise convolutions take seconds).

Draws depthwise layers of the three kinds the rule covers: 3-d kernels of 5x5x5 or 7x7x7
on 4-256 features, 2-d kernels of 9x9-13x13 on 64-512 features, and 5x5, 7x7 or 3x3x3
kernels on 1024-2048 features; strides 1-2, 'SAME' or 'VALID', and keeps those whose
differentiated choice the change makes ``taps``. "Before" is ``auto`` with
``_policy.differentiated_choice`` as it was: the rules' choice where the layer ran ``taps``
by ``depthwise_taps_pay``. The timing loop is ``../cpu-2core-small-groups/ab.py``'s:

    PYTHONPATH=../../../src python ab.py SEED COUNT [first] > ab-SEED-grad.jsonl

(``first``: channels-first layers only.)
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

_differentiated_choice = _policy.differentiated_choice


def _as_before(plan, name, dtype):
    if name == "taps" and _policy.depthwise_taps_pay(plan):
        user = plan._replace(channels_first=False)
        return _policy.choose(user, dtype, decide_layout=True, differentiated=True)
    return _differentiated_choice(plan, name, dtype)


def before():
    return mock.patch.object(_policy, "differentiated_choice", _as_before)


def choice(plan):
    name, in_layout = _policy.decide(plan, "auto", "float32")
    return _policy.differentiated_choice(in_layout, name, "float32")


def draw(rng):
    kind = int(rng.integers(3))
    s = int(rng.choice([1, 1, 2]))
    n = int(rng.choice([1, 2, 4, 8]))
    if kind == 0:
        kernel = [(5, 5, 5), (5, 5, 5), (7, 7, 7)][int(rng.integers(3))]
        c = int(rng.choice([4, 8, 16, 24, 32, 48, 64, 96, 128, 256]))
        size = tuple(int(rng.integers(10, 40)) for _ in range(3))
    elif kind == 1:
        nd = int(rng.choice([1, 2]))
        if nd == 1:
            kernel = (int(rng.choice([63, 127, 255])),)
        else:
            kernel = (int(rng.choice([9, 11, 13])),) * 2
        c = int(rng.choice([64, 96, 128, 256, 512]))
        if nd == 1:
            size = (int(rng.integers(256, 8192)),)
        else:
            size = tuple(int(rng.integers(16, 96)) for _ in range(2))
    else:
        kernel = [(5, 5), (7, 7), (3, 3, 3)][int(rng.integers(3))]
        c = int(rng.choice([1024, 1536, 2048]))
        size = tuple(int(rng.integers(7, 40 if len(kernel) == 2 else 14)) for _ in kernel)
    return len(kernel), kernel, 1, 1, c, s, 1, n, size


def main(seed: int, count: int, first: bool) -> None:
    options = {"first": lambda rng: True} if first else {}
    small_groups.main(seed, count, True, draw, before, lax=False, limit=(12e6, 3e6),
                      choice=choice, **options)  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), "first" in sys.argv[3:])
