"""3-d depthwise layers of 5x5x5 and 7x7x7 kernels (4-256 features, strides 1-2, both
layouts): depthwise, taps and fft forced, with auto, forward (or fwd+bwd with a third
argument); records fft_pays' ratio (direct multiply-adds / fft_cost). No lax: its 3-d
depthwise convolutions take seconds. The timing loop is ``sweep.py``'s:

    PYTHONPATH=../../../src python sweep_volumes.py SEED COUNT > sweep-SEED.jsonl
"""

import sys

import sweep


def draw(rng):
    k = int(rng.choice([5, 5, 7]))
    s = int(rng.choice([1, 1, 1, 2]))
    c = int(rng.choice([4, 8, 16, 24, 32, 48, 64, 96, 128, 256]))
    m = int(rng.integers(10, 40))
    return 3, k, s, c, m


if __name__ == "__main__":
    sweep.main(
        int(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3, draw, ("depthwise", "taps", "fft")
    )
