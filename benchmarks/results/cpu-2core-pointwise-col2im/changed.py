"""NCHW programs whose forward choice pointwise_col2im_pays changes (both directions listed)."""

import sys
from unittest import mock

import numpy as np

from jaxconv import _policy
from jaxconv._bench import runner, suites

out = open(sys.argv[1], "w")
for seed in range(int(sys.argv[2]), int(sys.argv[3])):
    for suite in ("random", "random-small"):
        for c in suites.random_suite(suite, seed):
            if c.dtype is not None or "NCHW" not in (c.layouts or ("NCHW",)):
                continue
            new = runner.chosen_strategy(c, "NCHW", np.float32)
            with mock.patch.object(_policy, "pointwise_col2im_pays", lambda plan: False):
                old = runner.chosen_strategy(c, "NCHW", np.float32)
            if new != old:
                for d in ("fwd", "fwd+bwd"):
                    out.write(f"{suite}@{seed} {c.name} NCHW {d}\n")
