"""The forward+backward programs whose differentiated choice ``differentiated_fft_pays``
changes, one per line as ``benchmarks/ab_timed.py --programs`` reads them.

    python changed.py OUT.txt SEED_FROM SEED_TO random,random-small
"""

import sys
from unittest import mock

import numpy as np

from jaxconv import _policy
from jaxconv._bench import runner, suites

n = 0
with open(sys.argv[1], "w") as out:
    for seed in range(int(sys.argv[2]), int(sys.argv[3])):
        for suite in sys.argv[4].split(","):
            for c in suites.random_suite(suite, seed):
                if c.dtype is not None:
                    continue
                for layout in c.layouts or ("NHWC", "NCHW"):
                    plan = runner.plan_of(c, layout)
                    try:
                        name = runner.chosen_strategy(c, layout, np.float32)
                    except Exception:
                        continue
                    cp = _policy.in_layout(plan, name)
                    new = _policy.differentiated_choice(cp, name, np.float32)
                    with mock.patch.object(_policy, "differentiated_fft_pays", lambda p, d: False):
                        old = _policy.differentiated_choice(cp, name, np.float32)
                    if new != old:
                        out.write(f"{suite}@{seed} {c.name} {layout} fwd+bwd\n")
                        n += 1
print(n)
