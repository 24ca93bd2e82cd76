"""Held out: ``auto`` before and after ``_policy.FFT_PAYS_CHANNELS_FIRST_DIRECT``, forward
or forward and backward (``grad``), in the same interleaved rounds (forward with lax).

Draws channels-first grouped layers of 2-4 input features per group (``sweep.py``'s
``draw``: 1-3 spatial dims, unit strides, some dilated, 'SAME' or 'VALID') and keeps those
whose choice the threshold changes (forward; differentiated with ``grad``). "Before" is
``auto`` with the threshold at ``FFT_PAYS_FUSED``, as it was. The timing loop is
``../cpu-2core-small-groups/ab.py``'s:

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
_spec = importlib.util.spec_from_file_location("sweep", _here / "sweep.py")
sweep = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sweep)


def before():
    return mock.patch.object(_policy, "FFT_PAYS_CHANNELS_FIRST_DIRECT", _policy.FFT_PAYS_FUSED)


def choice(plan, differentiated):
    name, in_layout = _policy.decide(plan, "auto", "float32")
    if differentiated:
        return _policy.differentiated_choice(in_layout, name, "float32")
    return name


def draw(rng):
    nd, kernel, gi, go, g, d, n, size = sweep.draw(rng)
    return nd, kernel, gi, go, g, 1, d, n, size


def main(seed: int, count: int, grad: bool) -> None:
    # no lax differentiated: its grouped gradients took 25-50x ours
    # (../cpu-2core-fft-differentiated-grouped/README.md)
    small_groups.main(seed, count, grad, draw, before, first=lambda rng: True, lax=not grad,
                      choice=lambda plan: choice(plan, grad))  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3 and sys.argv[3] == "grad")
