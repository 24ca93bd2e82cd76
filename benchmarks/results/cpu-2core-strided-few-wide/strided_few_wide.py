"""Strided dense 1-d and 2-d layers of 1-4 input features into 64 or more outputs, drawn like a
network's and in no suite: ``auto`` of an old tree against this one, forward and forward
plus both gradients, where the two choose differently (``strided_band.drawn``).

    python strided_few_wide.py <old src> SEED COUNT out.jsonl [RANK]  # [only that rank]

Run from the repository root with the project's environment.
"""

import functools
import os
import sys

# The draw of the strided-few study and the held-out helpers of the strided-band one.
here = os.path.dirname(os.path.abspath(__file__))
for study in ("cpu-2core-strided-few", "cpu-2core-strided-band"):
    sys.path.insert(0, os.path.join(here, "..", study))
import strided_few  # noqa: E402
from strided_band import drawn  # noqa: E402

# Layers drawn as cpu-2core-strided-few's are, but of ranks 1-2, 1-4 input features and
# 64-384 output features.
draw = functools.partial(
    strided_few.draw,
    ranks=(1, 2, 2, 2, 2),
    features=(1, 2, 3, 3, 4),
    outputs=(64, 64, 96, 128, 128, 192, 256, 384),
)


if __name__ == "__main__":
    with open(sys.argv[4], "a") as f:
        rank = int(sys.argv[5]) if len(sys.argv) > 5 else None
        drawn(
            sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), f, functools.partial(draw, rank=rank)
        )
