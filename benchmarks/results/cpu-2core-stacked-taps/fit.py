"""Few-feature dense kernel gradients near the stacked path's size limit, forward+backward
programs (auto forward): stacked taps (the limits lifted) and per tap (the limits at 0),
with lax in the same rounds (9). One JSON line per program.

    python fit.py OUT.jsonl SEED N

(fit.jsonl, seed 1, was run before _grad.stacks_taps existed, when TILE_SLACK_BYTES alone
limited the stack; its ``cf_r`` column timed an experiment not kept: the kernel gradient of
NCHW data computed channels-first.)"""

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
        old = _grad.TILE_SLACK_BYTES, _grad.STACKED_TAPS_BYTES
        if limit is not None:
            _grad.TILE_SLACK_BYTES = _grad.STACKED_TAPS_BYTES = limit
        try:
            return jax.grad(lambda x, w: jnp.sum(f(x, w) * ct), argnums=(0, 1))(x, w)
        finally:
            _grad.TILE_SLACK_BYTES, _grad.STACKED_TAPS_BYTES = old

    return jax.jit(g)


done = 0
while done < int(sys.argv[3]):
    rank = int(rng.choice([1, 2]))
    c = int(rng.integers(1, 16))
    o = int(rng.choice([4, 8, 16, 32, 64]))
    k = int(rng.choice([3, 5, 7, 9])) if rank == 1 else int(rng.choice([3, 5]))
    s = int(rng.choice([1, 1, 2]))
    layout = str(rng.choice(["NHWC", "NCHW"]))
    target = math.exp(rng.uniform(math.log(2 << 20), math.log(48 << 20)))  # taps bytes
    per_pos = k**rank * c * 4
    positions = target / per_pos  # batch * out positions
    batch = int(rng.choice([1, 2, 4, 8, 16, 32, 64]))
    outp = positions / batch
    if rank == 1:
        L = int(outp * s)
        if L < 16 or L > 200000:
            continue
        sp = (L,)
    else:
        H = int(math.sqrt(outp) * s)
        if H < 8 or H > 400:
            continue
        sp = (H, H)
    n = rank
    if layout == "NCHW":
        dn = ("NCH", "OIH", "NCH") if n == 1 else ("NCHW", "OIHW", "NCHW")
        xs = (batch, c, *sp)
        ws = (o, c, *(k,) * n)
    else:
        dn = ("NHC", "HIO", "NHC") if n == 1 else ("NHWC", "HWIO", "NHWC")
        xs = (batch, *sp, c)
        ws = (*(k,) * n, c, o)
    S = (s,) * n

    def f(x, w, S=S, dn=dn):
        return jaxconv.conv(x, w, S, "SAME", dimension_numbers=dn)

    def fl(x, w, S=S, dn=dn):
        return lax.conv_general_dilated(x, w, S, "SAME", dimension_numbers=dn)

    x = jnp.asarray(rng.standard_normal(xs), jnp.float32)
    w = jnp.asarray(rng.standard_normal(ws), jnp.float32)
    y = fl(x, w)
    ct = jnp.asarray(rng.standard_normal(y.shape), jnp.float32)
    progs = {"lax": variant(fl), "stack": variant(f, 1 << 40), "pertap": variant(f, 0)}
    comp = {kk: p.lower(x, w, ct).compile() for kk, p in progs.items()}
    texts = {kk: runner.program_text(v) for kk, v in comp.items()}
    if texts["stack"] == texts["pertap"]:
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
        **{kk + "_r": med[kk] / med["lax"] for kk in med if kk != "lax"},
        temp=temp,
    )
    print(json.dumps(line), flush=True)
    out.write(json.dumps(line) + "\n")
    out.flush()
    done += 1
