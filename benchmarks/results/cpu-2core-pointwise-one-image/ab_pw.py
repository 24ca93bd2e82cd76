# Held-out A/B of differentiated_pointwise_col2im_pays: auto without the rule (A) and with
# it (B), lax in the same rounds, forward+backward; layers drawn as in pw_sweep.py, and the
# random suites' layers whose differentiated choice it changes.
import contextlib
import functools
import itertools
import json
import random
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from layers import draw, inputs, times

import jaxconv
from jaxconv import _policy
from jaxconv._bench.runner import jaxconv_impl, lax_impl, make_inputs, plan_of, program
from jaxconv._bench.suites import random_suite

rule = _policy.differentiated_pointwise_col2im_pays


@contextlib.contextmanager
def without():
    _policy.differentiated_pointwise_col2im_pays = lambda p: False
    try:
        yield
    finally:
        _policy.differentiated_pointwise_col2im_pays = rule


def ab(name, f, fl, args, out):
    with without():
        pa = jax.jit(program(f, "fwd+bwd")).lower(*args).compile()
    pb = jax.jit(program(f, "fwd+bwd")).lower(*args).compile()
    pl = jax.jit(program(fl, "fwd+bwd")).lower(*args).compile()
    ps = [pa, pb, pl]
    first = [times(p, args, 1)[0] for p in ps]
    n = max(2, min(8, int(0.1 / max(first))))
    ts = [[], [], []]
    perms = list(itertools.permutations(range(3)))
    for k in range(18):
        for i in perms[k % 6]:
            ts[i] += times(ps[i], args, n)
    a, b, lx = (float(np.median(t)) for t in ts)
    rec = dict(
        layer=name,
        a_ms=a * 1e3,
        b_ms=b * 1e3,
        lax_ms=lx * 1e3,
        temp=[p.memory_analysis().temp_size_in_bytes for p in ps],
        ratio=b / a,
    )
    out.write(json.dumps(rec) + "\n")
    out.flush()
    print(
        name,
        f"B/A {b / a:.3f} A/lax {a / lx:.2f} B/lax {b / lx:.2f} temp "
        + "/".join(f"{t / 2**20:.1f}" for t in rec["temp"]),
        flush=True,
    )


mode = sys.argv[1]
seed = int(sys.argv[2])
out = open(sys.argv[3], "a")
if mode == "drawn":
    rng = random.Random(seed)
    done = 0
    count = int(sys.argv[4])
    while done < count:
        layer = draw(rng)
        if layer is None:
            continue
        xs, ws, dn, rank, plan = layer
        fwd = _policy.choose(plan, jnp.float32, decide_layout=True)
        if not (fwd in _policy.POINTWISE_COL2IM_OVER and rule(plan)):
            continue
        done += 1
        kw, args = inputs(xs, ws, dn, rank)
        f = functools.partial(jaxconv.conv_general_dilated, **kw)
        fl = functools.partial(lax.conv_general_dilated, **kw)
        ab(f"{xs}->{ws} {fwd}", f, fl, args, out)
else:
    for c in random_suite("random", seed) + random_suite("random-heldout", seed):
        if c.transposed:
            continue
        for layout in ("NHWC", "NCHW"):
            plan = plan_of(c, layout)
            fwd = _policy.choose(plan, jnp.float32, decide_layout=True)
            if not (fwd in _policy.POINTWISE_COL2IM_OVER and rule(plan)):
                continue
            if _policy.differentiated_choice(plan, fwd, jnp.float32) != "col2im":
                continue
            args = [jnp.asarray(a) for a in make_inputs(c, layout, jnp.float32)]
            ab(f"{c.name} {layout} {fwd}", jaxconv_impl(c, layout), lax_impl(c, layout), args, out)
