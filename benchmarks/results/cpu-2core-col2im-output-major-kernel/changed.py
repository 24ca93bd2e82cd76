"""Which ``auto`` programs of a suite this tree compiles differently from an older one
(``OLD/src``; optimised HLO, names and metadata stripped), compile-only:

    PYTHONPATH=../../../src python changed.py OLD/src random-transposed 7877 fwd > out.jsonl

The changed programs are then timed with ``benchmarks/ab_timed.py --programs``.
"""

import hashlib
import json
import os
import re
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import ab_timed  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv._bench import runner, suites  # noqa: E402


def fingerprint(text: str) -> str:
    lines = [
        re.sub(r"%[\w.-]+", "%", re.sub(r", (metadata=\{[^}]*\}|stack_frame_id=[0-9]*)", "", line))
        for line in text.splitlines()
        if re.match(r"\s+(ROOT )?%", line)
    ]
    return hashlib.md5("\n".join(lines).encode()).hexdigest()


def main(old_src: str, suite: str, seed: int, directions: list[str]) -> None:
    old = ab_timed.old_package(old_src)
    for _, case in suites.resolve(suite, seed):
        for layout in case.layouts or ("NHWC", "NCHW"):
            inputs = runner.make_inputs(case, layout, np.float32)
            args = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in inputs]
            for d in directions:
                prints = [
                    fingerprint(
                        jax.jit(runner.program(ab_timed.impl(m, case, layout), d))
                        .lower(*args)
                        .compile()
                        .as_text()
                    )
                    for m in (jaxconv, old)
                ]
                record = dict(case=case.name, layout=layout, direction=d)
                print(json.dumps(record | {"changed": prints[0] != prints[1]}), flush=True)


if __name__ == "__main__":
    dirs = sys.argv[4].split(",") if len(sys.argv) > 4 else ["fwd", "fwd+bwd"]
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), dirs)
