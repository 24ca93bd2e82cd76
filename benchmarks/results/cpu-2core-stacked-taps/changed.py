"""The forward+backward programs of the random suites whose compiled HLO stacks_taps changes
(STACKED_TAPS_BYTES back at TILE_SLACK_BYTES is the code before), one per line as
benchmarks/ab_timed.py --programs reads them.   python changed.py OUT.txt SEED_FROM SEED_TO"""

import sys

import jax
import numpy as np

from jaxconv import _grad
from jaxconv._bench import runner, suites


def compiled(c, layout, args):
    return (
        jax.jit(runner.program(runner.jaxconv_impl(c, layout, "auto"), "fwd+bwd"))
        .lower(*args)
        .compile()
    )


n = 0
with open(sys.argv[1], "w") as out:
    for seed in range(int(sys.argv[2]), int(sys.argv[3])):
        for suite in ("random", "random-small"):
            for c in suites.random_suite(suite, seed):
                if (
                    c.dtype is not None
                    or c.groups != 1
                    or c.in_channels // 1 >= 16
                    or c.in_channels < 3
                ):
                    continue
                for layout in c.layouts or ("NHWC", "NCHW"):
                    plan = runner.plan_of(c, layout)
                    if plan.taps < 2 or any(d > 1 for d in plan.lhs_dilation):
                        continue
                    nbytes = (
                        plan.taps
                        * plan.batch
                        * int(np.prod(plan.out_spatial))
                        * plan.in_features
                        * 4
                    )
                    if not (_grad.STACKED_TAPS_BYTES < nbytes <= _grad.TILE_SLACK_BYTES):
                        continue
                    args = tuple(
                        jax.device_put(a) for a in runner.make_inputs(c, layout, np.float32)
                    )
                    try:
                        new = runner.program_text(compiled(c, layout, args))
                        _grad.STACKED_TAPS_BYTES = _grad.TILE_SLACK_BYTES
                        old = runner.program_text(compiled(c, layout, args))
                    finally:
                        _grad.STACKED_TAPS_BYTES = 16 * 2**20
                    if new != old:
                        out.write(f"{suite}@{seed} {c.name} {layout} fwd+bwd\n")
                        out.flush()
                        n += 1
                        print(seed, c.name, layout, flush=True)
print(n)
