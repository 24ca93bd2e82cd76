"""Time of a jitted program against its compiled temp: GEMMs whose products are its
temporaries, summed into a small output. XLA:CPU allocates a program's temporaries as one
block; past glibc's largest mmap threshold (32 MiB) the block is mapped afresh on every call.

    python benchmarks/results/cpu-2core-gemm-pieces/mmap_cliff.py
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxconv._bench import runner


def median_ms(f, args, reps=20):
    jax.block_until_ready(f(*args))
    (times,) = runner.time_interleaved([f], args, reps)
    return 1e3 * float(np.median(times))


def program(mib_each, count, rng):
    rows = int(mib_each * 2**20 / 4 / 128)
    a = jnp.asarray(rng.standard_normal((rows, 16), np.float32))
    bs = [jnp.asarray(rng.standard_normal((16, 128), np.float32)) for _ in range(count)]

    def f(a, *bs):
        products = [a @ b for b in bs]  # each a temporary of mib_each MiB
        return sum(p[::64] for p in products)

    f = jax.jit(f)
    temp = f.lower(a, *bs).compile().memory_analysis().temp_size_in_bytes
    return f, (a, *bs), temp / 2**20


def main():
    rng = np.random.default_rng(0)
    print("| products | temp MiB | ms |\n| --- | ---: | ---: |")
    for mib, count in [(16, 1), (30, 1), (34, 1), (48, 1), (16, 2), (20, 2), (12, 3), (20, 3)]:
        f, args, temp = program(mib, count, rng)
        print(f"| {count} x {mib} MiB | {temp:.1f} | {median_ms(f, args):.2f} |")


if __name__ == "__main__":
    main()
