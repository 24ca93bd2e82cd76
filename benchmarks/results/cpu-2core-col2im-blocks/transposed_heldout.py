"""Transposed convolutions drawn at random (in no suite): ``auto`` against
``lax.conv_transpose``, forward (or forward and backward with ``grad``; with ``all``,
``polyphase`` and ``col2im`` forced too), in the same interleaved rounds. Run before
``_strategies.col2im_in_blocks`` (the records here):

    PYTHONPATH=../../../src python transposed_heldout.py SEED COUNT [grad] [all] > FILE

Ranks 1-3, strides 2-4, kernels from the stride to twice it (some 3-5), 3-512 input and
3-256 output features, batch 1-16, 'SAME', 'VALID' or PyTorch's padding, both layouts.
"""

import functools
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv._bench import runner

SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


def main(seed: int, count: int, grad: bool, every: bool) -> None:
    rng = np.random.default_rng(seed)
    done = 0
    while done < count:
        nd = int(rng.choice([1, 2, 2, 2, 3]))
        s = int(rng.choice([2, 2, 2, 3, 4]))
        k = int(rng.choice([s, s, 3, 4, 5, 2 * s]))
        c = int(rng.choice([3, 8, 16, 32, 64, 128, 256, 512]))
        o = int(rng.choice([3, 8, 16, 32, 64, 128, 256]))
        n = int(rng.choice([1, 2, 4, 8, 16]))
        m = {1: (64, 2048), 2: (4, 64), 3: (4, 16)}[nd]
        size = tuple(int(rng.integers(*m)) for _ in range(nd))
        pad = str(rng.choice(["SAME", "VALID", "torch"]))
        if pad == "torch":
            p = (k - s + 1) // 2 if k >= s else 0  # PyTorch's padding p: k - 1 - p a side
            pad = [(k - 1 - p, k - 1 - p)] * nd
        first = bool(rng.integers(2))
        sp = SPATIAL[nd]
        dn = (f"NC{sp}", f"OI{sp}", f"NC{sp}") if first else (f"N{sp}C", f"{sp}IO", f"N{sp}C")
        xs = (n, c, *size) if first else (n, *size, c)
        ws = (o, c, *(k,) * nd) if first else (*(k,) * nd, c, o)
        if not 2e3 <= np.prod(xs) <= 2e6 or np.prod(xs) / c * o * s**nd > 8e6:
            continue
        x = jnp.asarray(rng.normal(size=xs), jnp.float32)
        w = jnp.asarray(rng.normal(size=ws), jnp.float32)
        kw = dict(strides=(s,) * nd, padding=pad, dimension_numbers=dn)
        ours = functools.partial(jaxconv.conv_transpose, **kw)
        fns = {"lax": functools.partial(jax.lax.conv_transpose, **kw), "auto": ours}
        if every:
            for name in ("polyphase", "col2im"):
                fns[name] = functools.partial(ours, strategy=name)
        if grad:
            fns = {
                key: jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) ** 2), argnums=(0, 1))
                for key, f in fns.items()
            }
        compiled = {key: jax.jit(f).lower(x, w).compile() for key, f in fns.items()}
        for f in compiled.values():
            jax.block_until_ready(f(x, w))
        times = runner.time_interleaved(list(compiled.values()), (x, w), 11)
        ms = {key: 1e3 * float(np.median(t)) for key, t in zip(compiled, times, strict=True)}
        layer = dict(nd=nd, k=k, s=s, C=c, O=o, N=n, m=list(size), first=first,
                     pad=pad if isinstance(pad, str) else list(pad[0]))  # fmt: skip
        print(json.dumps(layer | {f"{key}_ms": round(v, 4) for key, v in ms.items()}), flush=True)
        done += 1


if __name__ == "__main__":
    args = sys.argv[3:]
    main(int(sys.argv[1]), int(sys.argv[2]), "grad" in args, "all" in args)
