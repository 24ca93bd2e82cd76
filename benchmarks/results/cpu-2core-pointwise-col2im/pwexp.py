"""NCHW dense pointwise programs where auto does not run col2im: auto's choice vs col2im
forced, with lax, same rounds, forward and forward+backward."""

import json
import math
import sys

import jax
import numpy as np

from jaxconv import _policy, _strategies
from jaxconv._bench import runner, suites

out = open(sys.argv[1], "a")
for seed in range(int(sys.argv[2]), int(sys.argv[3])):
    for suite in ("random", "random-small"):
        for c in suites.random_suite(suite, seed):
            if c.dtype is not None or c.transposed or c.groups != 1:
                continue
            if "NCHW" not in (c.layouts or ("NCHW",)) or math.prod(c.kernel) != 1:
                continue
            auto = runner.chosen_strategy(c, "NCHW", np.float32)
            if auto == "col2im":
                continue
            plan = runner.plan_of(c, "NCHW")
            cp = _policy.in_layout(plan, "col2im")
            info = dict(
                cf=cp.channels_first,
                per_image=_strategies.col2im_per_image(cp),
                P=math.prod(plan.in_spatial),
                strided=max(c.strides) > 1,
            )
            args = tuple(jax.device_put(a) for a in runner.make_inputs(c, "NCHW", np.float32))
            res = {}
            for d in ("fwd", "fwd+bwd"):
                fns = [runner.lax_impl(c, "NCHW")] + [
                    runner.jaxconv_impl(c, "NCHW", s) for s in (auto, "col2im")
                ]
                comp = [jax.jit(runner.program(f, d)).lower(*args).compile() for f in fns]
                t = runner.time_interleaved(comp, args, 11)
                m = [float(np.median(x)) for x in t]
                res[d] = dict(auto=m[1] / m[0], col2im=m[2] / m[0])
            line = dict(seed=seed, suite=suite, case=c.name, auto=auto, batch=c.batch,
                        spatial=c.in_spatial, cin=c.in_channels, cout=c.out_channels,
                        **info, **res)  # fmt: skip
            print(json.dumps(line), flush=True)
            out.write(json.dumps(line) + "\n")
            out.flush()
