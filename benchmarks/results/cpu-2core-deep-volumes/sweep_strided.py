"""3-d depthwise layers of 5x5x5 and 7x7x7 kernels at strides 2-3 (4-128 features, both
layouts): depthwise, taps and fft forced, with auto, forward. The timing loop is
``sweep.py``'s:

    PYTHONPATH=../../../src python sweep_strided.py SEED COUNT > sweep-SEED.jsonl
"""

import sys

import sweep


def draw(rng):
    k = int(rng.choice([5, 5, 7]))
    s = int(rng.choice([2, 2, 3]))
    c = int(rng.choice([4, 8, 16, 24, 32, 48, 64, 96, 128]))
    m = int(rng.integers(14, 56))
    return 3, k, s, c, m


if __name__ == "__main__":
    names = ("depthwise", "taps", "fft")
    sweep.main(int(sys.argv[1]), int(sys.argv[2]), len(sys.argv) > 3, draw, names)
