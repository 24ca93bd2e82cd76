"""Compiled temp of every strategy forward, bfloat16 over float32, on five layers (1-d and
2-d, dense, grouped and depthwise, both layouts): how wide each strategy's buffers are held.

    PYTHONPATH=../../../src python temp_ratio.py
"""

import jax.numpy as jnp
import numpy as np

from jaxconv._bench import runner, suites

CASES = [
    suites.Case("d3", 4, (40, 40), 32, 32, (3, 3), (1, 1), "SAME"),
    suites.Case("d5s2", 4, (48, 48), 24, 48, (5, 5), (2, 2), "SAME"),
    suites.Case("g", 2, (40, 40), 64, 64, (3, 3), (1, 1), "SAME", groups=4),
    suites.Case("l", 4, (900,), 16, 16, (15,), (1,), "SAME"),
    suites.Case("dw", 4, (40, 40), 32, 32, (3, 3), (1, 1), "SAME", groups=32),
]

for case in CASES:
    for layout in ("NHWC", "NCHW"):
        row = {}
        for name in runner.strategies_for(case, layout):
            temps = []
            for dtype in (np.float32, jnp.bfloat16):
                args = runner.make_inputs(case, layout, dtype)
                f = runner.program(runner.jaxconv_impl(case, layout, name), "fwd")
                temps.append(runner._compile(f, *args)[2])
            row[name] = f"{temps[1] / max(temps[0], 1):.2f} ({temps[0] / 2**20:.1f} MiB)"
        print(case.name, layout, row, flush=True)
