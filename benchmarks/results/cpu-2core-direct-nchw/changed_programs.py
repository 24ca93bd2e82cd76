"""The programs of a random draw that run ``direct`` channels-first (NCHW): the forward of
each such convolution and the forward+backward of each layer whose convolution or input
gradient is one, one per line as ``benchmarks/ab_timed.py --programs`` reads them.

    python changed_programs.py SUITE SEED > programs.txt
"""

import sys

import jax.numpy as jnp

from jaxconv import _policy
from jaxconv._bench import fit, suites

suite, seed = sys.argv[1], int(sys.argv[2])
cases = suites.random_suite(suite, seed)
changed = set()
for c in cases:
    if "NCHW" in c.layouts and c.groups == 1:
        name, plan = _policy.decide(fit.plan_of(c, "NCHW"), "auto", jnp.float32)
        if name == "direct" and plan.channels_first:
            changed.add(c.name)
for c in cases:
    if c.name.endswith("_dx") or "NCHW" not in c.layouts:
        continue
    if c.name in changed:
        print(f"{suite}@{seed} {c.name} NCHW fwd")
    if c.name in changed or c.name + "_dx" in changed:
        print(f"{suite}@{seed} {c.name} NCHW fwd+bwd")
for name in sorted(n for n in changed if n.endswith("_dx")):
    print(f"{suite}@{seed} {name} NCHW fwd")
