"""1-d channels-last layers of 2-8 input features and 24-192 output features on long
sequences: the strategies forced (``sweep``), and ``auto`` against an older tree on drawn
layers where the two choose differently (``ab``). See README.md.

    python wide_outputs.py sweep OUT.jsonl SEED COUNT
    python wide_outputs.py ab OLD_SRC OUT.jsonl SEED COUNT

Run from the repository root with the project's environment.
"""

import sys

sys.path.insert(0, "benchmarks/results/cpu-2core-1d-few-features")
import one_d_few_features  # noqa: E402

NAMES = ("col2im", "banded", "im2col", "direct")


def sweep(out, seed, count):
    def draw(rng):
        c, o = int(rng.choice([3, 4, 5, 6, 8])), int(rng.choice([32, 48, 64, 96, 128]))
        k, d = int(rng.choice([3, 5, 7, 9, 15])), int(rng.choice([1, 1, 2]))
        total = int(rng.choice([2048, 4096, 8192, 16384, 32768, 65536]))
        return c, o, k, d, total, int(rng.choice([1, 2, 4, 8]))

    one_d_few_features.sweep_drawn(out, seed, count, draw, NAMES)


def ab(old_src, out, seed, count):
    def draw(rng):
        c = int(rng.choice([2, 3, 4, 5, 6, 7, 8]))
        o = int(rng.choice([24, 32, 40, 48, 64, 96, 128, 192]))
        k, d = int(rng.choice([2, 3, 4, 5, 7, 9, 11, 15])), int(rng.choice([1, 1, 1, 2, 3]))
        total = int(rng.choice([1024, 2048, 4096, 8192, 16384, 32768, 65536]))
        return c, o, k, d, total, int(rng.choice([1, 2, 4, 8, 16]))

    one_d_few_features.ab_drawn(old_src, out, seed, count, draw, reps=11)


if __name__ == "__main__":
    cmd, *a = sys.argv[1:]
    if cmd == "sweep":
        sweep(a[0], int(a[1]), int(a[2]))
    else:
        ab(a[0], a[1], int(a[2]), int(a[3]))
