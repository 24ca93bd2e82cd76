"""What `pw_sweep.py` and `ab_pw.py` share: the drawn layers and the timer."""

import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxconv._plan import make_plan


def draw(rng):
    """One NCHW pointwise single-image layer, ``(x shape, w shape, dn, rank, plan)``, or
    ``None`` where it is too large (the caller draws again)."""
    rank = rng.choice([1, 2, 2, 2, 3])
    c = rng.choice([1, 2, 3, 4, 8, 16, 24, 32, 64, 96, 128, 256, 512])
    o = rng.choice([1, 4, 8, 16, 32, 64, 128, 256, 512])
    side = {1: (64, 8192), 2: (7, 224), 3: (4, 40)}[rank]
    lo, hi = np.log(side[0]), np.log(side[1])
    sp = tuple(int(round(np.exp(rng.uniform(lo, hi)))) for _ in range(rank))
    xs, ws = (1, c, *sp), (o, c, *(1,) * rank)
    sps = "DHW"[3 - rank :]
    dn = ("NC" + sps, "OI" + sps, "NC" + sps)
    if c * o * np.prod(sp) > 2**27 or c * np.prod(sp) > 2**24:
        return None
    return xs, ws, dn, rank, make_plan(xs, ws, (1,) * rank, "VALID", None, None, dn, 1, 1, "zeros")


def inputs(xs, ws, dn, rank):
    """``(kw, (x, w, ct))``: the convolution's keyword arguments and unit normal float32
    arrays (seed 0), ``ct`` of the output's shape."""
    kw = dict(window_strides=(1,) * rank, padding="VALID", dimension_numbers=dn)
    r = np.random.default_rng(0)
    x = jnp.asarray(r.standard_normal(xs).astype(np.float32))
    w = jnp.asarray(r.standard_normal(ws).astype(np.float32))
    out = jax.eval_shape(lambda x, w: lax.conv_general_dilated(x, w, **kw), x, w)
    return kw, (x, w, jnp.asarray(r.standard_normal(out.shape).astype(np.float32)))


def times(fn, args, n):
    """``n`` wall times of ``fn(*args)``, seconds."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        out.append(time.perf_counter() - start)
    return out
