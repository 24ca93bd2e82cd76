"""col2im channels-first: (C, N*S) flat GEMM vs per-image batched GEMM, forced col2im, both vs lax
in the same rounds. Layers: NCHW programs of random draws where auto runs col2im channels-first,
plus pointwise ones."""

import json
import sys
from unittest import mock

import jax
import numpy as np

from jaxconv import _policy, _strategies
from jaxconv._bench import runner, suites


def col2im_fn(case, per_image):
    base = runner.jaxconv_impl(case, "NCHW", "col2im")

    def f(*a):  # traced once, at lower(): the patch picks the form
        with mock.patch.object(_strategies, "COL2IM_PER_IMAGE", 0 if per_image else 10**9):
            return base(*a)

    return f


def layers(seeds, suite):
    for seed in seeds:
        for c in suites.random_suite(suite, seed):
            if c.transposed or c.groups != 1:
                continue
            plan = runner.plan_of(c, "NCHW")
            if not _policy.runs_channels_first(plan, "col2im"):
                continue
            if (
                _strategies.stacks_rows(plan)
                or any(s > 1 for s in plan.strides)
                or _strategies.col2im_by_input(plan)
            ):
                continue
            try:
                auto = runner.chosen_strategy(c, "NCHW", np.float32)
            except Exception:
                continue
            yield seed, c, auto


out = open(sys.argv[1], "a")
seeds = range(int(sys.argv[2]), int(sys.argv[3]))
limit = int(sys.argv[4])
dev = jax.devices()[0]
count = 0
for seed, c, auto in layers(seeds, sys.argv[5] if len(sys.argv) > 5 else "random"):
    if c.batch == 1:
        continue  # identical forms on one image
    args = tuple(jax.device_put(a, dev) for a in runner.make_inputs(c, "NCHW", np.float32))
    res = {}
    for d in ("fwd",):
        fns = (
            [runner.program(runner.lax_impl(c, "NCHW"), d)]
            + [runner.program(col2im_fn(c, pi), d) for pi in (False, True)]
            + [runner.program(runner.jaxconv_impl(c, "NCHW", "auto"), d)]
        )
        comp = [jax.jit(f).lower(*args).compile() for f in fns]
        want = np.asarray(comp[0](*args)[0])
        for cf in comp[1:]:
            got = np.asarray(cf(*args)[0])
            err = np.abs(got - want).max() / max(np.abs(want).max(), 1e-30)
            assert err < 1e-3, (c.name, err)
        reps = 11
        t = runner.time_interleaved(comp, args, reps)
        med = [float(np.median(x)) for x in t]
        res[d] = dict(
            lax_ms=med[0] * 1e3,
            flat=med[1] / med[0],
            per_image=med[2] / med[0],
            auto=med[3] / med[0],
        )
    line = dict(
        seed=seed,
        case=c.name,
        auto=auto,
        batch=c.batch,
        spatial=c.in_spatial,
        cin=c.in_channels,
        cout=c.out_channels,
        kernel=c.kernel,
        **res,
    )
    print(json.dumps(line), flush=True)
    out.write(json.dumps(line) + "\n")
    out.flush()
    count += 1
    if count >= limit:
        break
