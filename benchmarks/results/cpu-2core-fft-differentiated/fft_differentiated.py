"""Dense layers, forward and backward: auto, auto with its kernel gradient by fft, and fft
forced, with lax, in the same rounds (11); one JSON line per program with the fft cost ratio
and the shape (``lax_ms`` is lax's median in seconds; the others are ratios to it).

    python fft_differentiated.py OUT.jsonl SEED_FROM SEED_TO [LOWEST_RATIO]

(seed 9400 ran from a ratio of 0.3 with no limit on the outputs; 9401-9405 from 0.6 with
at most 64 outputs, as below.)
"""

import json
import sys
from unittest import mock

import jax
import numpy as np

from jaxconv import _policy, _strategies
from jaxconv._bench import runner, suites


def compiled(c, layout, strategy, args):
    return (
        jax.jit(runner.program(runner.jaxconv_impl(c, layout, strategy), "fwd+bwd"))
        .lower(*args)
        .compile()
    )


out = open(sys.argv[1], "a")
lo = float(sys.argv[4]) if len(sys.argv) > 4 else 0.3
for seed in range(int(sys.argv[2]), int(sys.argv[3])):
    for suite in ("random", "random-small"):
        for c in suites.random_suite(suite, seed):
            if c.dtype is not None or c.transposed or c.groups != 1:
                continue
            for layout in c.layouts or ("NHWC", "NCHW"):
                plan = runner.plan_of(c, layout)
                q = plan._replace(channels_first=False)
                if not _strategies.accepts("fft", q, np.float32):
                    continue
                if any(d > 1 for d in q.lhs_dilation):
                    continue
                ratio = q.flops / 2 / _strategies.fft_cost(q, _strategies.fft_blocks(q))
                if ratio < lo or q.taps < 2 or q.out_features > 64:
                    continue
                try:
                    auto = runner.chosen_strategy(c, layout, np.float32)
                except Exception:
                    continue
                if auto == "fft":
                    continue
                args = tuple(jax.device_put(a) for a in runner.make_inputs(c, layout, np.float32))
                lax_prog = jax.jit(runner.program(runner.lax_impl(c, layout), "fwd+bwd"))
                comp = [lax_prog.lower(*args).compile(), compiled(c, layout, "auto", args)]
                with mock.patch.object(_policy, "fft_kernel_grad_pays", lambda p, dtype=None: True):
                    comp.append(compiled(c, layout, "auto", args))
                comp.append(compiled(c, layout, "fft", args))
                t = runner.time_interleaved(comp, args, 11)
                m = [float(np.median(x)) for x in t]
                line = dict(seed=seed, suite=suite, case=c.name, layout=layout, batch=c.batch,
                            spatial=c.in_spatial, cin=c.in_channels, cout=c.out_channels,
                            kernel=c.kernel, strides=c.strides, ratio=ratio, auto=auto,
                            lax_ms=m[0], auto_r=m[1] / m[0], kgfft_r=m[2] / m[0],
                            fft_r=m[3] / m[0])  # fmt: skip
                print(json.dumps(line), flush=True)
                out.write(json.dumps(line) + "\n")
                out.flush()
