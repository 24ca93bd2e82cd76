"""Held out: few-feature dense layers (3-15 input features) with 16-32 MiB of taps, the
zone where stacks_taps changes the kernel gradient; forward+backward programs of the code
before (STACKED_TAPS_BYTES at TILE_SLACK_BYTES) and after, and lax, in the same rounds (9).
   python heldout.py OUT.jsonl SEED N"""

import json
import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv
from jaxconv import _grad
from jaxconv._bench import runner

rng = np.random.default_rng(int(sys.argv[2]))
out = open(sys.argv[1], "a")


def variant(f, limit=None):
    def g(x, w, ct):
        old = _grad.STACKED_TAPS_BYTES
        if limit is not None:
            _grad.STACKED_TAPS_BYTES = limit
        try:
            return jax.grad(lambda x, w: jnp.sum(f(x, w) * ct), argnums=(0, 1))(x, w)
        finally:
            _grad.STACKED_TAPS_BYTES = old

    return jax.jit(g)


done = 0
while done < int(sys.argv[3]):
    rank = int(rng.choice([1, 1, 2, 2, 3]))
    c = int(rng.integers(3, 16))
    o = int(rng.choice([4, 8, 16, 32, 64]))
    k = int(rng.choice([3, 5, 7, 9])) if rank == 1 else int(rng.choice([3, 5])) if rank == 2 else 3
    s = int(rng.choice([1, 1, 2]))
    layout = str(rng.choice(["NHWC", "NCHW"]))
    target = math.exp(rng.uniform(math.log(16.5 * 2**20), math.log(31.5 * 2**20)))
    positions = target / (k**rank * c * 4)
    batch = int(rng.choice([1, 2, 4, 8, 16, 32, 64]))
    outp = positions / batch
    side = outp ** (1 / rank)
    if side < 4 or (rank > 1 and side > 400):
        continue
    sp = (int(side * s),) * rank
    names = "DHW"[-rank:] if rank > 1 else "H"
    if layout == "NCHW":
        dn = ("NC" + names, "OI" + names, "NC" + names)
        xs = (batch, c, *sp)
        ws = (o, c, *(k,) * rank)
    else:
        dn = ("N" + names + "C", names + "IO", "N" + names + "C")
        xs = (batch, *sp, c)
        ws = (*(k,) * rank, c, o)
    S = (s,) * rank

    def f(x, w, S=S, dn=dn):
        return jaxconv.conv(x, w, S, "SAME", dimension_numbers=dn)

    def fl(x, w, S=S, dn=dn):
        return lax.conv_general_dilated(x, w, S, "SAME", dimension_numbers=dn)

    x = jnp.asarray(rng.standard_normal(xs), jnp.float32)
    w = jnp.asarray(rng.standard_normal(ws), jnp.float32)
    y = fl(x, w)
    ct = jnp.asarray(rng.standard_normal(y.shape), jnp.float32)
    progs = {"lax": variant(fl), "old": variant(f, _grad.TILE_SLACK_BYTES), "new": variant(f)}
    comp = {kk: p.lower(x, w, ct).compile() for kk, p in progs.items()}
    if runner.program_text(comp["old"]) == runner.program_text(comp["new"]):
        continue
    t = runner.time_interleaved(list(comp.values()), (x, w, ct), 9)
    med = {kk: float(np.median(v)) for kk, v in zip(comp, t, strict=True)}
    temp = {kk: v.memory_analysis().temp_size_in_bytes for kk, v in comp.items()}
    pos = batch * math.prod(y.shape[2:] if layout == "NCHW" else y.shape[1:-1])
    line = dict(
        rank=rank,
        layout=layout,
        batch=batch,
        spatial=sp,
        cin=c,
        cout=o,
        k=k,
        s=s,
        taps_bytes=k**rank * c * 4 * pos,
        lax_ms=med["lax"] * 1e3,
        old_r=med["old"] / med["lax"],
        new_r=med["new"] / med["lax"],
        temp=temp,
    )
    print(json.dumps(line), flush=True)
    out.write(json.dumps(line) + "\n")
    out.flush()
    done += 1
