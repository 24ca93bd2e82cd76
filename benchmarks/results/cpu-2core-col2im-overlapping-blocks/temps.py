"""XLA temp memory (MiB, compile-only) of the ``auto`` programs a file of ``programs.txt``'s
lines names, this tree against ``OLD/src``:

    PYTHONPATH=../../../src python temps.py OLD/src programs.txt > temps.jsonl
"""

import json
import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import ab_timed  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv._bench import runner, suites  # noqa: E402


def main(old_src, path):
    old = ab_timed.old_package(old_src)
    programs = {tuple(line.split()[:4]) for line in open(path) if line.strip()}
    for seed in sorted({int(p[0].split("@")[1]) for p in programs}):
        for suite, case in suites.resolve("random-transposed", seed):
            for layout in case.layouts:
                for d in ("fwd", "fwd+bwd"):
                    if (suite, case.name, layout, d) not in programs:
                        continue
                    inputs = runner.make_inputs(case, layout, np.float32)
                    args = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in inputs]
                    temps = [
                        jax.jit(runner.program(ab_timed.impl(m, case, layout), d))
                        .lower(*args).compile().memory_analysis().temp_size_in_bytes / 2**20
                        for m in (jaxconv, old)
                    ]  # fmt: skip
                    print(json.dumps(dict(case=case.name, d=d, new=round(temps[0], 2),
                                          old=round(temps[1], 2))), flush=True)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
