"""Held out: ``auto`` before and after ``taps`` on channels-last 3-d depthwise layers of
125+ taps (``_policy._deep_channels_last_volume``), forward or forward and backward
(``grad``), in the same interleaved rounds (no lax: its 3-d depthwise convolutions take
seconds).

Draws channels-last 3-d depthwise layers (kernels 5x5x3 to 7x7x7, unit strides, 4-256
features, 'SAME' or 'VALID') and keeps those where the rule changes ``auto``'s forward
choice (differentiated, the input gradient follows it). "Before" is ``auto`` compiled with
``_policy._deep_channels_last_volume`` returning False. The timing loop is
``../cpu-2core-small-groups/ab.py``'s:

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
    return mock.patch.object(_policy, "_deep_channels_last_volume", lambda plan: False)


def draw(rng):
    kernels = [[5, 5, 5], [5, 5, 5], [7, 7, 7], [5, 5, 3], [3, 5, 5], [7, 7, 3]]
    kernel = tuple(int(k) for k in rng.choice(kernels))
    c = int(rng.choice([4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256]))
    n = int(rng.choice([1, 2, 4, 8]))
    size = tuple(int(rng.integers(10, 40)) for _ in range(3))
    return 3, kernel, 1, 1, c, 1, 1, n, size


def main(seed: int, count: int, grad: bool) -> None:
    small_groups.main(seed, count, grad, draw, before, lax=False, differentiated=False,
                      first=lambda rng: False, limit=(12e6, 3e6))  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3 and sys.argv[3] == "grad")
