"""The dense layers of a random draw on which ``auto`` runs ``direct`` (either layout), as
a ``--match`` regex for ``python -m jaxconv bench``.

    python direct_layers.py SEED [SUITE] > match.txt
"""

import sys

import jax.numpy as jnp

from jaxconv._bench import runner, suites

seed, suite = int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "random"
names = sorted(
    {
        c.name
        for c in suites.random_suite(suite, seed)
        if c.groups == 1 and "_dense_" in c.name
        for layout in ("NHWC", "NCHW")
        if runner.chosen_strategy(c, layout, jnp.float32) == "direct"
    }
)
print("^(" + "|".join(names) + ")$")
