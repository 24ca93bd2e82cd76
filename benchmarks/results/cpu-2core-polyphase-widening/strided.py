"""Strided layers that narrow, whose input gradient (input dilation, into 4-16x as many
features) the rule may move to ``polyphase``: ``auto`` forward and backward, this tree
against ``OLD/src`` in the same 15 rounds:

    PYTHONPATH=../../../src python strided.py OLD/src
"""

import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import ab_timed  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv._bench import runner, suites  # noqa: E402

CASES = [
    (suites.Case("s3_256-64", 8, (28, 28), 256, 64, (3, 3), (2, 2), "SAME"), "NHWC"),
    (suites.Case("s3_128-16", 4, (56, 56), 128, 16, (3, 3), (2, 2), "SAME"), "NHWC"),
    (suites.Case("s5_64-8", 2, (64, 64), 64, 8, (5, 5), (2, 2), "SAME"), "NHWC"),
    (suites.Case("s3_512-128", 8, (14, 14), 512, 128, (3, 3), (2, 2), "SAME"), "NCHW"),
    (suites.Case("s1d7_256-32", 8, (400,), 256, 32, (7,), (2,), "SAME"), "NHWC"),
    (suites.Case("s3_64-16", 16, (32, 32), 64, 16, (3, 3), (2, 2), ((1, 1), (1, 1))), "NHWC"),
]


def main(old_src):
    old = ab_timed.old_package(old_src)
    for case, layout in CASES:
        args = [jax.device_put(a) for a in runner.make_inputs(case, layout, np.float32)]
        fns = [runner._compile(runner.program(ab_timed.impl(m, case, layout), "fwd+bwd"),
                               *args)[0] for m in (jaxconv, old)]  # fmt: skip
        new, before = (float(np.median(t)) for t in runner.time_interleaved(fns, args, 15))
        print(case.name, layout, f"after/before {new / before:.3f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
