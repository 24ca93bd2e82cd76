"""Compile and run times of ``col2im`` against the number of its GEMMs (input phases).

Forces ``col2im``, ``im2col`` and ``space_to_depth`` on strided 'VALID' layers of 4-512
phases (patch embeddings and wider kernels at stride 4) and prints one JSON line each:

    PYTHONPATH=src python benchmarks/results/cpu-2core-col2im-phases/phases.py > phases.jsonl
"""

import functools
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv import _plan, _strategies

LAYOUTS = {1: ("NWC", "WIO", "NWC"), 2: ("NHWC", "HWIO", "NHWC"), 3: ("NDHWC", "DHWIO", "NDHWC")}
CASES = [  # (input spatial, C, O, kernel, stride, batch)
    ((64, 64), 32, 64, 2, 2, 4),
    ((64, 64), 32, 64, 4, 4, 4),
    ((64, 64), 32, 64, 8, 8, 4),
    ((128, 128), 32, 64, 16, 16, 2),
    ((64, 64), 32, 64, 3, 4, 4),
    ((64, 64), 32, 64, 7, 4, 4),
    ((127, 127), 32, 64, 11, 4, 2),
    ((32, 32, 32), 16, 32, 2, 2, 2),
    ((32, 32, 32), 16, 32, 4, 4, 2),
    ((32, 32, 32), 16, 32, 8, 8, 1),
    ((4096,), 32, 64, 16, 16, 4),
    ((4096,), 32, 64, 64, 64, 4),
]

for spatial, c, o, k, s, n in CASES:
    nd = len(spatial)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(n, *spatial, c)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(*(k,) * nd, c, o)), jnp.float32)
    dn = LAYOUTS[nd]
    plan = _plan.make_plan(x.shape, w.shape, (s,) * nd, "VALID", dimension_numbers=dn)
    row = {"in": spatial, "C": c, "O": o, "kernel": k, "stride": s, "batch": n}
    row["col2im_gemms"] = _strategies.col2im_gemms(plan)
    conv = functools.partial(
        jaxconv.conv_general_dilated, window_strides=(s,) * nd, padding="VALID",
        dimension_numbers=dn,
    )  # fmt: skip
    for name in ("col2im", "im2col", "space_to_depth"):
        f = functools.partial(conv, strategy=name)
        t0 = time.perf_counter()
        compiled = jax.jit(f).lower(x, w).compile()
        row[f"{name}_compile_s"] = time.perf_counter() - t0
        jax.block_until_ready(compiled(x, w))
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(x, w))
            times.append(time.perf_counter() - t0)
        row[f"{name}_ms"] = 1e3 * float(np.median(times))
    print(json.dumps(row), flush=True)
