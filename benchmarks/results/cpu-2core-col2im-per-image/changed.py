"""Programs (suite case layout direction) whose trace runs col2im one GEMM per image."""

import sys
from unittest import mock

import jax
import numpy as np

from jaxconv import _strategies
from jaxconv._bench import runner, suites

real = _strategies.col2im_per_image
hits = []


def spy(plan):
    r = real(plan)
    hits.append(r and sys._getframe(1).f_code.co_name == "col2im")
    return r


out = open(sys.argv[1], "w")
for seed in range(int(sys.argv[2]), int(sys.argv[3])):
    for suite in sys.argv[4].split(","):
        for c in suites.random_suite(suite, seed):
            if c.dtype is not None and np.dtype(c.dtype).kind != "f":
                continue
            if "NCHW" not in (c.layouts or ("NCHW",)):
                continue
            for d in ("fwd", "fwd+bwd"):
                hits.clear()
                args = [
                    jax.ShapeDtypeStruct(a.shape, a.dtype)
                    for a in runner.make_inputs(c, "NCHW", np.float32)
                ]
                with mock.patch.object(_strategies, "col2im_per_image", spy):
                    jax.jit(runner.program(runner.jaxconv_impl(c, "NCHW"), d)).trace(*args)
                if any(hits):
                    out.write(f"{suite}@{seed} {c.name} NCHW {d}\n")
                    out.flush()
