"""Strided dense 1-d and 2-d layers of 1-4 input features into 64 or more outputs, drawn like a
network's and in no suite: ``auto`` of an old tree against this one, forward and forward
plus both gradients, where the two choose differently (``strided_band.drawn``).

    python strided_few_wide.py <old src> SEED COUNT out.jsonl [RANK]  # [only that rank]

Run from the repository root with the project's environment.
"""

import functools
import os
import sys

import numpy as np

# The timing and held-out helpers of the strided-band study.
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cpu-2core-strided-band")
)
from strided_band import drawn  # noqa: E402


def draw(seed, count, pick=lambda lay: True, rank=None):
    """Layers drawn as ``cpu-2core-strided-few``'s are, but of ranks 1-2, 1-4 input features
    and 64-384 output features."""
    rng = np.random.default_rng(seed)
    got = 0
    while got < count:
        r = int(rng.choice([1, 2, 2, 2, 2]))
        if rank is not None and r != rank:
            continue
        c = int(rng.choice([1, 2, 3, 3, 4]))
        o = int(rng.choice([64, 64, 96, 128, 128, 192, 256, 384]))
        k = int(rng.choice([2, 3, 3, 3, 4, 5, 7]))
        kernel = tuple(int(rng.choice([k, k, k, k, 1, 3])) for _ in range(r))
        s = int(rng.choice([2, 2, 2, 2, 3, 4]))
        pad = str(rng.choice(["SAME", "VALID"]))
        budget = 1e6 * float(rng.choice([0.25, 0.5, 1, 2, 4, 8, 16]))
        n = int(rng.choice([1, 2, 4, 8, 16, 32]))
        side = max(int((budget / n / c) ** (1 / r)), 1)
        sp = tuple(max(int(side * rng.uniform(0.7, 1.3)), kernel[i]) for i in range(r))
        flops = 2 * n * np.prod(sp) / s**r * np.prod(kernel) * c * o
        if flops > 3e9 or flops < 2e6 or min(sp) < 2 * s or max(sp) > 100000:
            continue
        layout = str(rng.choice(["NHWC", "NCHW"]))
        lay = dict(N=n, S=sp, C=c, O=o, K=kernel, st=s, pad=pad, layout=layout)
        if pick(lay):
            got += 1
            yield lay


if __name__ == "__main__":
    with open(sys.argv[4], "a") as f:
        rank = int(sys.argv[5]) if len(sys.argv) > 5 else None
        drawn(
            sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), f, functools.partial(draw, rank=rank)
        )
