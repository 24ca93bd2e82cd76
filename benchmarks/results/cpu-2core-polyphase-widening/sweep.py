"""Transposed layers of kernels 1-3 times their stride (a fifth of them one tap less), drawn
from a seed: ``col2im``, ``polyphase`` and ``auto`` forced and timed in the same rounds,
one JSON line per layer (ms medians; ``auto``: the strategy ``auto`` ran):

    PYTHONPATH=../../../src python sweep.py SEED COUNT [fwd|fwd+bwd] [ROUNDS] > sw.jsonl

With ``ONLY_WIDE=1`` in the environment, only layers whose kernel is wider than the stride
into 4x as many features or more are kept.
"""

import json
import math
import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import ab_timed  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv._bench import runner, suites  # noqa: E402


def draw(rng):
    nd = int(rng.choice([1, 2, 2, 2, 3]))
    s = int(rng.choice([2, 2, 3, 4, 4, 5, 8])) if nd < 3 else int(rng.choice([2, 2, 4]))
    m = int(rng.choice([1, 2, 2, 2, 3])) if s <= 4 else int(rng.choice([1, 2, 2]))
    k = m * s if rng.random() < 0.8 else m * s - 1
    p = (k - s + 1) // 2 if k >= s else 0
    c, o = int(2 ** rng.uniform(0, 9)), int(2 ** rng.uniform(0, 8.5))
    n = int(rng.choice([1, 1, 2, 4, 8, 16]))
    layout = str(rng.choice(["NHWC", "NCHW"]))
    side = int(2 ** rng.uniform(1.5, math.log2({1: 4096, 2: 96, 3: 24}[nd])))
    # output and input at most 8 MiB, at most 0.5 GFLOP
    while side > 2 and (
        n * (side * s) ** nd * o * 4 > 8 * 2**20
        or n * side**nd * c * 4 > 8 * 2**20
        or 2 * n * side**nd * k**nd * c * o > 5e8
    ):
        side = int(side * 0.8)
    pads = ((k - 1 - p, k - 1 - p),) * nd
    case = suites.Case(f"{nd}d_{k}s{s}_{c}-{o}_n{n}_{side}", n, (side,) * nd, c, o, (k,) * nd,
                       (s,) * nd, pads, transposed=True, layouts=(layout,))  # fmt: skip
    return case, layout


def main(seed, count, direction, reps):
    rng = np.random.default_rng(seed)
    done = 0
    while done < count:
        case, layout = draw(rng)
        wide = case.kernel[0] > case.strides[0] and case.out_channels >= 4 * case.in_channels
        if os.environ.get("ONLY_WIDE") and not wide:
            continue
        done += 1
        args = [jax.device_put(a) for a in runner.make_inputs(case, layout, np.float32)]
        names = ["col2im", "polyphase", "auto"]
        fns = [runner._compile(runner.program(ab_timed.impl(jaxconv, case, layout, name),
                                              direction), *args)[0] for name in names]  # fmt: skip
        times = runner.time_interleaved(fns, args, reps)
        ms = {name: 1e3 * float(np.median(t)) for name, t in zip(names, times, strict=True)}
        auto = runner.chosen_strategy(case, layout, np.float32, "auto", direction)
        print(json.dumps(dict(case=case.name, layout=layout, dir=direction, nd=len(case.kernel),
                              k=case.kernel[0], s=case.strides[0], c=case.in_channels,
                              o=case.out_channels, auto=auto, n=case.batch,
                              side=case.in_spatial[0], ms=ms)), flush=True)  # fmt: skip


if __name__ == "__main__":
    a = sys.argv[1:]
    main(int(a[0]), int(a[1]), a[2] if len(a) > 2 else "fwd", int(a[3]) if len(a) > 3 else 9)
