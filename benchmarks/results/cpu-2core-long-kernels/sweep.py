"""Forward timings (lax, auto, col2im, fft, im2col, banded, taps) on random layers whose
stride-1 plan has fewer input positions than taps (col2im scatters per input position).

Run: ``PYTHONPATH=src:benchmarks/results/cpu-2core-long-kernels python sweep.py FIRST_SEED
END_SEED OUT.jsonl``.
"""

import json
import math
import sys

import jax
import numpy as np

from jaxconv import _policy, _strategies
from jaxconv._bench import runner, suites
from jaxconv._plan import make_plan


def plan_of(case, layout):
    if case.transposed:
        case = case._replace(transposed=False, strides=(1,) * case.rank, lhs_dilation=case.strides)
    xs, ws = runner.shapes(case, layout)
    dn = runner.dimension_numbers(case, layout)
    return make_plan(
        xs, ws, case.strides, case.padding, case.lhs_dilation, case.dilation, dn, case.groups
    )


def candidates(seeds, kinds=("random", "small", "large")):
    out = []
    for seed in seeds:
        for kind in kinds:
            layers = suites.random_layers(96, seed, small=kind == "small", large=kind == "large")
            for c in layers:
                for case in (c, suites.input_grad_case(c)):
                    for layout in case.layouts or ("NHWC", "NCHW"):
                        p = plan_of(case, layout)
                        if (
                            p.feature_groups == 1
                            and all(s == 1 for s in p.strides)
                            and _strategies.col2im_by_input(p)
                        ):
                            out.append((seed, kind, case, layout))
    return out


def main():
    seeds = range(int(sys.argv[1]), int(sys.argv[2]))
    outpath = sys.argv[3]
    cands = candidates(seeds)
    print(len(cands), "candidates", flush=True)
    with open(outpath, "a") as f:
        for seed, kind, case, layout in cands:
            p = plan_of(case, layout)
            lp = _policy.in_layout(p, "col2im")
            names = ["auto"] + [
                s
                for s in ("col2im", "fft", "im2col", "banded", "taps")
                if s in runner.strategies_for(case, layout) or s == "col2im"
            ]
            names = list(dict.fromkeys(names))
            args = tuple(jax.device_put(a) for a in runner.make_inputs(case, layout, np.float32))
            impls = [runner.lax_impl(case, layout)] + [
                runner.jaxconv_impl(case, layout, s) for s in names
            ]
            fns = []
            for fimpl in impls:
                fns.append(jax.jit(runner.program(fimpl, "fwd")))
            try:
                for fn in fns:
                    jax.block_until_ready(fn(*args))
                times = runner.time_adaptive(fns, args, 7, 3.0)
            except Exception as e:
                print("fail", case.name, e, flush=True)
                continue
            med = [float(np.median(t)) for t in times]
            rec = dict(
                seed=seed,
                kind=kind,
                name=case.name,
                layout=layout,
                lax=med[0],
                auto_choice=runner.chosen_strategy(case, layout, np.float32),
                times={n: m for n, m in zip(names, med[1:], strict=True)},
                in_pos=math.prod(p.in_spatial),
                out_pos=math.prod(p.out_spatial),
                taps=p.taps,
                C=p.in_features,
                O=p.out_features,
                N=p.batch,
                waste=_strategies.col2im_waste(lp),
                fft_pays_col2im=bool(_policy.fft_pays(p, "col2im")),
                direct=p.flops / 2 / int(np.prod(p.lhs_dilation)),
                fftcost=_strategies.fft_cost(p, _strategies.fft_blocks(p)),
                rank=p.num_spatial,
            )
            f.write(json.dumps(rec) + "\n")
            f.flush()
            r = {n: m / med[0] for n, m in rec["times"].items()}
            print(
                case.name,
                layout,
                rec["auto_choice"],
                " ".join(f"{n}={v:.2f}" for n, v in r.items()),
                f"waste={rec['waste']:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
