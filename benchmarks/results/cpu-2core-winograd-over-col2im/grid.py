"""The grid of README.md: lax, forced ``col2im`` and forced ``winograd`` timed in the same
rounds on 3x3 stride-1 SAME NHWC layers, forward and forward+backward (the forward and both
gradients of ``sum(sin(conv))``).

Usage: ``python grid.py OUT.jsonl PART NPARTS`` (one JSON line per layer; PART of NPARTS).
"""

import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv

NAMES = ("lax", "col2im", "winograd")
DN = ("NHWC", "HWIO", "NHWC")


def timed(fns, args, rounds=15):
    """Median milliseconds of each of ``fns`` on ``args``, interleaved round by round."""
    times = [[] for _ in fns]
    for f in fns:
        jax.block_until_ready(f(*args))
    for _ in range(rounds):
        for i, f in enumerate(fns):
            t = time.perf_counter()
            jax.block_until_ready(f(*args))
            times[i].append(time.perf_counter() - t)
    return [float(np.median(t)) * 1e3 for t in times]


def programs(strategy):
    """The jitted forward and forward+backward of one strategy (or lax)."""

    def fwd(x, w):
        if strategy == "lax":
            return lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=DN)
        return jaxconv.conv(
            x, w, strides=(1, 1), padding="SAME", dimension_numbers=DN, strategy=strategy
        )

    grad = jax.grad(lambda x, w: jnp.sum(jnp.sin(fwd(x, w))), argnums=(0, 1))
    return jax.jit(fwd), jax.jit(grad)


def main(out_path, part, nparts):
    rng = np.random.default_rng(5)
    grid = [
        (c, o, hw, n)
        for c in (32, 64, 128, 256, 512)
        for o in (c // 2, c, 2 * c)
        for hw in (4, 7, 14, 28, 56)
        for n in (1, 4, 16, 64)
        if o >= 32
    ]
    rng.shuffle(grid)
    with open(out_path, "a") as out:
        for c, o, hw, n in grid[part::nparts]:
            if not 20_000 <= n * hw * hw * max(c, o) <= 4_000_000:
                continue
            x = jnp.asarray(rng.standard_normal((n, hw, hw, c)), jnp.float32)
            w = jnp.asarray(rng.standard_normal((3, 3, c, o)), jnp.float32)
            fns = [programs(s) for s in NAMES]
            auto = jaxconv.chosen_strategy(x, w, (1, 1), "SAME", dimension_numbers=DN)
            fwd = timed([f for f, _ in fns], (x, w))
            bwd = timed([g for _, g in fns], (x, w))
            rec = dict(c=c, o=o, hw=hw, n=n, layout="NHWC", auto=auto,
                       fwd=dict(zip(NAMES, fwd, strict=True)),
                       bwd=dict(zip(NAMES, bwd, strict=True)))  # fmt: skip
            out.write(json.dumps(rec) + "\n")
            out.flush()
            print(rec, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
