"""The kernel gradient of a dense channels-last layer with few input features, on its K
stacked taps (one GEMM) against one GEMM per tap, timed in the same rounds.

    PYTHONPATH=src python kgsweep.py SEED N OUT.json [--region] [--volumes] [--dry]

Draws N layers from SEED (1-D or 2-D; ``--volumes``: 3-D only; ``--region``: only layers
where ``_grad.per_tap_kernel_grad`` runs per tap) and writes one record per layer: shapes,
median seconds of both forms (9 rounds) and their compiled temp bytes. Run against the
tree before that rule (2aab54c), where the stacked form is the default; the per-tap form
is forced by ``TILE_SLACK_BYTES = -1``. ``--dry`` prints the draw without timing it.
"""

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv import _grad

DN = {3: ("NWC", "WIO", "NWC"), 4: ("NHWC", "HWIO", "NHWC"), 5: ("NDHWC", "DHWIO", "NDHWC")}


def draw(rng, volumes):
    """One layer: (rank, input features, output features, kernel width, batch, spatial)."""
    rank = 3 if volumes else int(rng.choice([1, 2, 2, 2]))
    i = int(rng.choice([1, 2, 3, 4, 6, 8, 12, 15]))
    o = int(2 ** rng.integers(2, 8))
    ks = int(rng.choice([3, 3, 5, 7])) if rank == 2 else int(rng.choice([3, 5, 9, 15]))
    p = int(2 ** rng.uniform(8, 17.5))  # positions, batch included
    if rank == 3:
        hw = int(max(4, min(48, round((p / 2 ** rng.integers(0, 4)) ** (1 / 3)))))
        ks = int(rng.choice([3, 3, 5]))
        return rank, i, o, ks, max(1, p // hw**3), (hw, hw, hw)
    if rank == 2:
        hw = int(max(4, min(224, np.sqrt(p / 2 ** rng.integers(0, 6)))))
        return rank, i, o, ks, max(1, p // (hw * hw)), (hw, hw)
    length = int(max(16, min(4096, p / 2 ** rng.integers(0, 6))))
    return rank, i, o, ks, max(1, p // length), (length,)


def in_region(rank, i, o, ks, b, sp):
    stack = b * int(np.prod(sp)) * i * ks**rank * 4
    positions = b * int(np.prod(sp))
    return i > 2 and 3 * 2**20 < stack <= 32 * 2**20 and positions >= 8192 and o <= 8 * i


def kernel_grad(x, ct, k):
    def conv(k):
        return jaxconv.conv(x, k, padding="SAME", dimension_numbers=DN[x.ndim])

    return jax.vjp(conv, k)[1](ct)[0]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("seed", type=int)
    p.add_argument("n", type=int)
    p.add_argument("out")
    p.add_argument("--region", action="store_true")
    p.add_argument("--volumes", action="store_true")
    p.add_argument("--dry", action="store_true")
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    records = []
    while len(records) < args.n:
        rank, i, o, ks, b, sp = layer = draw(rng, args.volumes)
        if args.region and not in_region(*layer):
            continue
        x = jnp.asarray(rng.standard_normal((b, *sp, i)), jnp.float32)
        k = jnp.asarray(rng.standard_normal((*(ks,) * rank, i, o)), jnp.float32)
        ct = jnp.asarray(rng.standard_normal((b, *sp, o)), jnp.float32)
        rec = dict(rank=rank, i=i, o=o, k=ks, b=b, sp=sp, P=b * int(np.prod(sp)))
        records.append(rec)
        if args.dry:
            print(json.dumps(rec))
            continue
        fns = {}
        for name, slack in (("stack", _grad.TILE_SLACK_BYTES), ("pertap", -1)):
            saved, _grad.TILE_SLACK_BYTES = _grad.TILE_SLACK_BYTES, slack
            fns[name] = jax.jit(kernel_grad).lower(x, ct, k).compile()
            _grad.TILE_SLACK_BYTES = saved
        a, c = (np.asarray(f(x, ct, k)) for f in fns.values())
        assert np.allclose(a, c, rtol=1e-4, atol=1e-3 * np.abs(a).max())
        times = {name: [] for name in fns}
        for _ in range(9):
            for name, f in fns.items():
                t = time.perf_counter()
                jax.block_until_ready(f(x, ct, k))
                times[name].append(time.perf_counter() - t)
        for name, f in fns.items():
            rec[name] = float(np.median(times[name]))
            rec[name + "_temp"] = f.memory_analysis().temp_size_in_bytes
        print(
            json.dumps(rec), "per tap / stacked %.2f" % (rec["pertap"] / rec["stack"]), flush=True
        )
    json.dump(records, open(args.out, "w"))


if __name__ == "__main__":
    main()
