"""Held out: ``auto`` before and after both ``depthwise_loop_pays`` and
``FFT_PAYS_DEPTHWISE_TAPS``, with lax, forward or forward and backward (``grad``), in the
same interleaved rounds: ``ab.py``'s draws and timing, with "before" ``auto`` compiled with
``_policy.depthwise_loop_pays`` returning False and ``FFT_PAYS_DEPTHWISE_TAPS`` at
``FFT_PAYS_FUSED``:

    PYTHONPATH=../../../src python ab_both.py SEED COUNT [grad] > ab-both-SEED.jsonl
"""

import contextlib
import sys
from unittest import mock

import ab

from jaxconv import _policy


def before():
    stack = contextlib.ExitStack()
    stack.enter_context(ab.before())
    fused = _policy.FFT_PAYS_FUSED
    stack.enter_context(mock.patch.object(_policy, "FFT_PAYS_DEPTHWISE_TAPS", fused))
    return stack


if __name__ == "__main__":
    grad = len(sys.argv) > 3 and sys.argv[3] == "grad"
    ab.main(int(sys.argv[1]), int(sys.argv[2]), grad, before=before)
