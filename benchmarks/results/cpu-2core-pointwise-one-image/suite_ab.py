"""The random suites' NCHW single-image pointwise layers, forward and backward, lax in the
same rounds (the order cycling through all six permutations).

    python suite_ab.py forced 9864,9865,... pw-suite.jsonl  # auto against col2im forced
    python suite_ab.py rule 9870,9871,... ab-direct.jsonl   # auto without the rule, with it
"""

import itertools
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
from layers import times

from jaxconv import _policy
from jaxconv._bench.runner import jaxconv_impl, lax_impl, make_inputs, plan_of, program
from jaxconv._bench.suites import random_suite

RULE = _policy.differentiated_pointwise_col2im_pays


def compiled(f, args, rule=True):
    _policy.differentiated_pointwise_col2im_pays = RULE if rule else (lambda plan: False)
    try:
        return jax.jit(program(f, "fwd+bwd")).lower(*args).compile()
    finally:
        _policy.differentiated_pointwise_col2im_pays = RULE


def medians(progs, args, rounds=18):
    first = [times(p, args, 1)[0] for p in progs]
    n = max(2, min(8, int(0.1 / max(first))))
    ts = [[] for _ in progs]
    orders = list(itertools.permutations(range(len(progs))))
    for r in range(rounds):
        for i in orders[r % len(orders)]:
            ts[i] += times(progs[i], args, n)
    return [float(np.median(t)) * 1e3 for t in ts]


def main(mode, seeds, path):
    for seed in seeds:
        for case in random_suite("random", seed):
            plan = plan_of(case, "NCHW")
            if case.transposed or case.batch != 1 or plan.taps != 1:
                continue
            fwd = _policy.choose(plan, jnp.float32, decide_layout=True)
            if mode == "forced":
                if fwd not in _policy.POINTWISE_COL2IM_OVER:
                    continue
                if any(s > 1 for s in plan.strides) or plan.feature_groups > 1:
                    continue
                if not _policy.runs_channels_first(plan, "col2im"):
                    continue
            elif fwd != "direct" or not RULE(plan):
                continue
            args = [jnp.asarray(a) for a in make_inputs(case, "NCHW", jnp.float32)]
            ours = jaxconv_impl(case, "NCHW")
            if mode == "forced":
                b = compiled(jaxconv_impl(case, "NCHW", "col2im"), args)
                progs = [compiled(ours, args), b]
            else:
                progs = [compiled(ours, args, rule=False), compiled(ours, args)]
            progs.append(compiled(lax_impl(case, "NCHW"), args))
            a_ms, b_ms, lax_ms = medians(progs, args)
            temps = [p.memory_analysis().temp_size_in_bytes for p in progs]
            rec = dict(seed=seed, case=case.name, fwd=fwd, spatial=case.in_spatial,
                       cin=case.in_channels, cout=case.out_channels, a_ms=a_ms, b_ms=b_ms,
                       lax_ms=lax_ms, temp=temps, ratio=b_ms / a_ms)  # fmt: skip
            with open(path, "a") as out:
                out.write(json.dumps(rec) + "\n")
            print(seed, case.name, fwd, f"B/A {b_ms / a_ms:.3f} A/lax {a_ms / lax_ms:.2f}")


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2].split(",")], sys.argv[3])
