"""Upsampling layers whose ``auto`` program runs in blocks of rows (large outputs of few
features: FCN's 16x16/8, 8x8/4, DCGAN's 4x4/2 on large maps), drawn from a seed; each whose
compiled program differs between this tree and ``OLD/src`` is timed against it in the same
rounds (``benchmarks/ab_timed.py``'s pair), with lax:

    PYTHONPATH=../../../src python ab.py OLD/src SEED COUNT [fwd|fwd+bwd] > ab-SEED.jsonl
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

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "cpu-2core-col2im-output-major-kernel"))  # fmt: skip
from changed import fingerprint  # noqa: E402


def draw(rng):
    s = int(rng.choice([2, 4, 8]))
    k, p = 2 * s, s // 2
    c, o = (int(rng.choice([3, 8, 16, 21, 32])) for _ in range(2))
    side = int(rng.integers(24, 97))
    n = int(rng.choice([1, 1, 2, 4]))
    layout = str(rng.choice(["NHWC", "NCHW"]))
    name = f"up_{k}x{k}s{s}_{c}-{o}_n{n}_{side}"
    pads = ((k - 1 - p, k - 1 - p),) * 2
    case = suites.Case(name, n, (side, side), c, o, (k, k), (s, s), pads, transposed=True,
                       layouts=(layout,))  # fmt: skip
    return case, layout


def main(old_src, seed, count, direction):
    old = ab_timed.old_package(old_src)
    rng = np.random.default_rng(seed)
    done = tried = 0
    while done < count and tried < 40 * count:
        tried += 1
        case, layout = draw(rng)
        inputs = runner.make_inputs(case, layout, np.float32)
        if inputs[0].size * 4 * case.strides[0] ** 2 > 64 * 2**20:  # the output
            continue
        progs = [runner.program(ab_timed.impl(m, case, layout), direction) for m in (jaxconv, old)]
        structs = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in inputs]
        texts = [jax.jit(p).lower(*structs).compile().as_text() for p in progs]
        if fingerprint(texts[0]) == fingerprint(texts[1]):
            continue
        args = [jax.device_put(a) for a in inputs]
        lax_prog = runner.program(runner.lax_impl(case, layout), direction)
        fns = [runner._compile(p, *args)[0] for p in (*progs, lax_prog)]
        new_ms, old_ms, lax_ms = (
            1e3 * float(np.median(t)) for t in runner.time_interleaved(fns, args, 15)
        )
        temps = [jax.jit(p).lower(*structs).compile().memory_analysis().temp_size_in_bytes
                 for p in progs]  # fmt: skip
        print(json.dumps(dict(case=case.name, layout=layout, direction=direction,
                              after=new_ms / lax_ms, before=old_ms / lax_ms,
                              after_over_before=new_ms / old_ms,
                              temp_after=temps[0], temp_before=temps[1])), flush=True)  # fmt: skip
        done += 1


if __name__ == "__main__":
    direction = sys.argv[4] if len(sys.argv) > 4 else "fwd"
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), direction)
