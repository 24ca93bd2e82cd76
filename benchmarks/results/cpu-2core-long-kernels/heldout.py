"""The held-out check: on random layers of other seeds, the forward programs whose ``auto``
choice FFT_PAYS_COL2IM changes, timed with the old choice, the new one and lax in the same
rounds. Run: ``PYTHONPATH=src:benchmarks/results/cpu-2core-long-kernels python heldout.py
FIRST_SEED END_SEED OUT.jsonl``."""

import json
import sys

import jax
import numpy as np
import sweep as L

from jaxconv import _policy, _strategies
from jaxconv._bench import runner, suites


def main():
    seeds = range(int(sys.argv[1]), int(sys.argv[2]))
    out = open(sys.argv[3], "a")
    for seed in seeds:
        for kind in ("random", "small", "large"):
            for c in suites.random_layers(96, seed, small=kind == "small", large=kind == "large"):
                for case in (c, suites.input_grad_case(c)):
                    for layout in case.layouts or ("NHWC", "NCHW"):
                        p = L.plan_of(case, layout)
                        if (
                            p.feature_groups != 1
                            or not all(s == 1 for s in p.strides)
                            or not _strategies.col2im_by_input(p)
                        ):
                            continue
                        new = runner.chosen_strategy(case, layout, np.float32)
                        keep = _policy.FFT_PAYS_COL2IM
                        _policy.FFT_PAYS_COL2IM = 0
                        old = runner.chosen_strategy(case, layout, np.float32)
                        _policy.FFT_PAYS_COL2IM = keep
                        if old == new:
                            continue
                        args = tuple(
                            jax.device_put(a) for a in runner.make_inputs(case, layout, np.float32)
                        )
                        fns = [
                            jax.jit(runner.program(f, "fwd"))
                            for f in (
                                runner.lax_impl(case, layout),
                                runner.jaxconv_impl(case, layout, new),
                                runner.jaxconv_impl(case, layout, old),
                            )
                        ]
                        for fn in fns:
                            jax.block_until_ready(fn(*args))
                        med = [float(np.median(t)) for t in runner.time_adaptive(fns, args, 5, 2.0)]
                        rec = dict(
                            seed=seed,
                            kind=kind,
                            name=case.name,
                            layout=layout,
                            old=old,
                            new=new,
                            lax=med[0],
                            t_new=med[1],
                            t_old=med[2],
                        )
                        out.write(json.dumps(rec) + "\n")
                        out.flush()
                        print(
                            seed,
                            case.name,
                            layout,
                            old,
                            "->",
                            new,
                            f"old {med[2] / med[0]:.2f} new {med[1] / med[0]:.2f} lax",
                            flush=True,
                        )


main()
