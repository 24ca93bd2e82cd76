"""``fft`` on differentiated dense volumes (``_policy.FFT_DIFFERENTIATED_VOLUME``): ``auto``
before (volumes never ``fft`` differentiated) and after, forward and backward, with lax, in
the same interleaved rounds.

Draws dense 3-d layers of at most 8 output features (kernels 2-7, mostly 3 and 5, strides
1-2, 'SAME' or 'VALID', both layouts) and keeps those whose differentiated choice the
threshold changes. With ``sweep`` the threshold is lowered to 0.4 for the sweep it was
fitted on; without, it is the committed value. The timing loop is
``../cpu-2core-small-groups/ab.py``'s:

    PYTHONPATH=../../../src python ab.py SEED COUNT [sweep] > ab-SEED.jsonl
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
    return mock.patch.object(_policy, "FFT_DIFFERENTIATED_VOLUME", float("inf"))


def draw(rng):
    kernel = (int(rng.choice([2, 3, 3, 3, 4, 5, 5, 7])),) * 3
    gi = int(rng.choice([1, 3, 4, 8, 8, 12, 16, 16, 24, 32, 48]))
    go = int(rng.choice([1, 2, 4, 8, 8, 8]))
    s = int(rng.choice([1, 1, 1, 2]))
    n = int(rng.choice([1, 1, 2, 4]))
    size = tuple(int(rng.integers(8, 49)) for _ in range(3))
    return 3, kernel, gi, go, 1, s, 1, n, size


def choice(plan):
    name, in_layout = _policy.decide(plan, "auto", "float32")
    return _policy.differentiated_choice(in_layout, name, "float32")


def main(seed: int, count: int, sweep: bool) -> None:
    threshold = 0.4 if sweep else _policy.FFT_DIFFERENTIATED_VOLUME
    with mock.patch.object(_policy, "FFT_DIFFERENTIATED_VOLUME", threshold):
        small_groups.main(seed, count, True, draw, before, choice=choice)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3 and sys.argv[3] == "sweep")
