"""The programs of the random suites whose ``auto`` choice the rule changes, and whether
their forward+backward programs compile as an older tree's do:

    PYTHONPATH=../../../src python programs.py list 7895 > programs-7895.txt
    PYTHONPATH=../../../src python programs.py same OLD/src programs-7895.txt

``list`` prints ``benchmarks/ab_timed.py --programs`` lines: forward programs whose choice
changes, and forward+backward ones whose differentiated or input-gradient choice does.
"""

import os
import sys
from unittest import mock

import jax
import numpy as np

from jaxconv import _grad, _policy
from jaxconv._bench import runner, suites

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [
    os.path.join(HERE, "..", ".."),
    os.path.join(HERE, "..", "cpu-2core-col2im-output-major-kernel"),
]


def without_rule():
    return mock.patch.object(_policy, "_winograd_over_col2im", lambda plan, name, *_: name)


def choices(plan):
    """Forward, differentiated forward and input-gradient choices of ``auto``."""
    name, run_plan = _policy.decide(plan, "auto", np.float32)
    tplan = _grad.input_grad_plan(run_plan)
    grad = None
    if not tplan.is_empty:
        user = tplan._replace(channels_first=False)
        grad = _policy.decide(user, "auto", np.float32, input_gradient=True)[0]
    return name, _policy.differentiated_choice(run_plan, name, np.float32), grad


def list_programs(seed):
    for suite in ("random", "random-small", "random-large"):
        for sname, case in suites.resolve(suite, seed):
            for layout in case.layouts or ("NHWC", "NCHW"):
                plan = runner.plan_of(case, layout)
                if plan.is_empty or case.dtype is not None:
                    continue
                new = choices(plan)
                with without_rule():
                    old = choices(plan)
                if new[0] != old[0]:
                    print(sname, case.name, layout, "fwd", old[0], new[0])
                if new[1:] != old[1:]:
                    print(sname, case.name, layout, "fwd+bwd", *old[1:], *new[1:])


def same(old_src, programs):
    import ab_timed
    import changed

    import jaxconv

    old = ab_timed.old_package(old_src)
    counts = {True: 0, False: 0}
    for line in open(programs):
        sname, cname, layout = line.split()[:3]
        suite, seed = sname.split("@")
        case = next(c for _, c in suites.resolve(suite, int(seed)) if c.name == cname)
        inputs = runner.make_inputs(case, layout, np.float32)
        args = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in inputs]
        texts = []
        for mod in (jaxconv, old):
            f = runner.program(ab_timed.impl(mod, case, layout, "auto"), "fwd+bwd")
            texts.append(changed.fingerprint(jax.jit(f).lower(*args).compile().as_text()))
        counts[texts[0] == texts[1]] += 1
        if texts[0] != texts[1]:
            print("different:", sname, cname, layout)
    print(f"forward+backward programs compiled alike: {counts[True]}, differently: {counts[False]}")


if __name__ == "__main__":
    if sys.argv[1] == "list":
        list_programs(int(sys.argv[2]))
    else:
        same(sys.argv[2], sys.argv[3])
