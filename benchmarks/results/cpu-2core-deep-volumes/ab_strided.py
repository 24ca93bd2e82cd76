"""Held out: ``auto`` before and after ``_policy._deep_channels_last_volume`` took strided
layers too (it held at unit strides only before), forward or forward and backward
(``grad``), in the same interleaved rounds (no lax). Draws channels-last 3-d depthwise
layers of 5x5x5 and 7x7x7 kernels at strides 2-3 (4-128 features). The timing loop is
``../cpu-2core-small-groups/ab.py``'s:

    PYTHONPATH=../../../src python ab_strided.py SEED COUNT [grad] > ab-strided-SEED.jsonl
"""

import sys
from unittest import mock

import ab

from jaxconv import _policy

_rule = _policy._deep_channels_last_volume


def before():
    def unit_strides_only(plan):
        return _rule(plan) and all(s == 1 for s in plan.strides)

    return mock.patch.object(_policy, "_deep_channels_last_volume", unit_strides_only)


def draw(rng):
    k = int(rng.choice([5, 5, 7]))
    s = int(rng.choice([2, 2, 3]))
    c = int(rng.choice([4, 8, 12, 16, 24, 32, 48, 64, 96, 128]))
    n = int(rng.choice([1, 2, 4, 8]))
    size = tuple(int(rng.integers(14, 56)) for _ in range(3))
    return 3, (k,) * 3, 1, 1, c, s, 1, n, size


def main(seed: int, count: int, grad: bool) -> None:
    ab.small_groups.main(seed, count, grad, draw, before, lax=False, differentiated=False,
                         first=lambda rng: False, limit=(12e6, 3e6))  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3 and sys.argv[3] == "grad")
