"""``col2im`` writing its columns as blocks (``_strategies.col2im_in_blocks``) against the
per-tap scatter before, with lax, in the same interleaved rounds.

Draws channels-last layers whose input-dilated plan has each output meet one tap at most:
transposed convolutions (``lax.conv_transpose``) of a kernel no wider than the strides
(1-3 spatial dims, strides 2-4, 3-512 input and 3-256 output features, 'SAME', 'VALID'
or PyTorch's padding ``k - 1 - p``), forward; with ``grad``, forward and backward of
those and of strided convolutions of such kernels (whose input gradient is such a plan).
"Before" is ``auto`` with ``col2im_in_blocks`` off:

    PYTHONPATH=../../../src python ab.py SEED COUNT [grad] > ab-SEED.jsonl
"""

import functools
import json
import sys
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv import _strategies
from jaxconv._bench import runner

SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


def before():
    return mock.patch.object(_strategies, "col2im_in_blocks", lambda plan, itemsize: False)


def main(seed: int, count: int, grad: bool) -> None:
    rng = np.random.default_rng(seed)
    done = 0
    while done < count:
        nd = int(rng.choice([1, 2, 2, 2, 3]))
        s = int(rng.choice([2, 2, 2, 3, 4]))
        k = int(rng.integers(1, s + 1))
        c = int(rng.choice([3, 8, 16, 32, 64, 128, 256, 512]))
        o = int(rng.choice([3, 8, 16, 32, 64, 128, 256]))
        n = int(rng.choice([1, 2, 4, 8, 16]))
        m = {1: (64, 2048), 2: (4, 64), 3: (4, 16)}[nd]
        size = tuple(int(rng.integers(*m)) for _ in range(nd))
        transposed = not grad or bool(rng.integers(2))
        sp = SPATIAL[nd]
        dn = (f"N{sp}C", f"{sp}IO", f"N{sp}C")
        if transposed:
            pad = str(rng.choice(["SAME", "VALID", "torch"]))
            if pad == "torch":
                pad = [(k - 1, k - 1)] * nd  # PyTorch's padding 0
            xs, out = (n, *size, c), n * o * np.prod(size) * s**nd
            kw = dict(strides=(s,) * nd, padding=pad, dimension_numbers=dn)
            ref, ours = jax.lax.conv_transpose, jaxconv.conv_transpose
        else:
            pad = str(rng.choice(["SAME", "VALID"]))
            size = tuple(m * s for m in size)
            xs, out = (n, *size, c), n * o * np.prod(size) // s**nd
            kw = dict(window_strides=(s,) * nd, padding=pad, dimension_numbers=dn)
            ref, ours = jax.lax.conv_general_dilated, jaxconv.conv_general_dilated
        if not 2e3 <= np.prod(xs) <= 2e6 or out > 8e6:
            continue
        x = jnp.asarray(rng.normal(size=xs), jnp.float32)
        w = jnp.asarray(rng.normal(size=(*(k,) * nd, c, o)), jnp.float32)
        fns = {
            "lax": functools.partial(ref, **kw),
            "old": functools.partial(ours, **kw),
            "new": functools.partial(ours, **kw),
        }
        if grad:
            fns = {
                key: jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) ** 2), argnums=(0, 1))
                for key, f in fns.items()
            }
        compiled = {}
        for key, fn in fns.items():
            if key == "old":
                with before():
                    compiled[key] = jax.jit(fn).lower(x, w).compile()
            else:
                compiled[key] = jax.jit(fn).lower(x, w).compile()
        if compiled["old"].as_text() == compiled["new"].as_text():
            continue  # the change does not reach this program
        for f in compiled.values():
            jax.block_until_ready(f(x, w))
        times = runner.time_interleaved(list(compiled.values()), (x, w), 15)
        ms = {
            f"{key}_ms": round(1e3 * float(np.median(t)), 4)
            for key, t in zip(compiled, times, strict=True)
        }
        layer = dict(nd=nd, k=k, s=s, C=c, O=o, N=n, m=list(size), transposed=transposed,
                     pad=pad if isinstance(pad, str) else list(pad[0]))  # fmt: skip
        print(json.dumps(layer | ms), flush=True)
        done += 1


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), "grad" in sys.argv[3:])
