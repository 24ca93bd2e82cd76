"""Held out: ``auto`` forward and backward before and after
``_policy.differentiated_grouped_fft_pays`` (and lax, with ``lax``), in the same
interleaved rounds.

Draws grouped layers of 5-12 input features per group into half, as many or twice as many
(1-2 spatial dims, kernels of 3-63 taps, unit strides, some dilated, 'SAME' or 'VALID') and
keeps those whose differentiated choice the rule changes. "Before" is ``auto`` with the
predicate returning False. The timing loop is ``../cpu-2core-small-groups/ab.py``'s:

    PYTHONPATH=../../../src python ab.py SEED COUNT [lax] > ab-SEED-grad.jsonl
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
    return mock.patch.object(_policy, "differentiated_grouped_fft_pays", lambda plan, dtype: False)


def choice(plan):
    name, in_layout = _policy.decide(plan, "auto", "float32")
    return _policy.differentiated_choice(in_layout, name, "float32")


def draw(rng):
    nd = int(rng.choice([1, 2, 2]))
    kernel = (int(rng.choice([7, 9, 15, 31, 63] if nd == 1 else [3, 5, 5, 7, 9, 11, 13])),) * nd
    gi = int(rng.integers(5, 13))
    go = int(rng.choice([max(1, gi // 2), gi, 2 * gi]))
    g = int(rng.choice([2, 4, 8, 16, 32, 64]))
    d = int(rng.choice([1, 1, 1, 2]))
    n = int(rng.choice([1, 2, 4, 8, 16]))
    m = (64, 4096) if nd == 1 else (12, 160)
    size = tuple(int(rng.integers(*m)) for _ in range(nd))
    return nd, kernel, gi, go, g, 1, d, n, size


def main(seed: int, count: int, lax: bool) -> None:
    small_groups.main(seed, count, True, draw, before, choice=choice, lax=lax)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), "lax" in sys.argv[3:])
