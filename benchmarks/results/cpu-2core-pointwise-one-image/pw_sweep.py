# NCHW pointwise single-image layers: auto against col2im forced, fwd and fwd+bwd, lax in
# the same rounds (order cycling).
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
from jaxconv._bench.runner import program

seed = int(sys.argv[1])
count = int(sys.argv[2])
out = open(sys.argv[3], "a")
rng = random.Random(seed)


done = 0
while done < count:
    layer = draw(rng)
    if layer is None:
        continue
    xs, ws, dn, rank, plan = layer
    fwd = _policy.choose(plan, jnp.float32, decide_layout=True)
    diff = _policy.differentiated_choice(plan, fwd, jnp.float32)
    if fwd == "col2im" and diff == "col2im":
        continue
    done += 1
    kw, (x, w, ct) = inputs(xs, ws, dn, rank)
    fl = functools.partial(lax.conv_general_dilated, **kw)
    rec = dict(x=xs, w=ws, auto_fwd=fwd, auto_diff=diff)
    for d in ("fwd", "fwd+bwd"):
        fs = [
            functools.partial(jaxconv.conv_general_dilated, **kw),
            functools.partial(jaxconv.conv_general_dilated, **kw, strategy="col2im"),
            fl,
        ]
        ps = [jax.jit(program(f, d)).lower(x, w, ct).compile() for f in fs]
        first = [times(p, (x, w, ct), 1)[0] for p in ps]
        n = max(2, min(8, int(0.1 / max(first))))
        ts = [[], [], []]
        perms = list(itertools.permutations(range(3)))
        for k in range(18):
            for i in perms[k % 6]:
                ts[i] += times(ps[i], (x, w, ct), n)
        a, b, lx = (float(np.median(t)) for t in ts)
        rec[d] = dict(
            auto_ms=a * 1e3,
            col2im_ms=b * 1e3,
            lax_ms=lx * 1e3,
            temp=[p.memory_analysis().temp_size_in_bytes for p in ps],
        )
    out.write(json.dumps(rec) + "\n")
    out.flush()
    print(
        xs,
        ws,
        fwd,
        diff,
        "fwd c/a {:.2f} a/lax {:.2f} | f+b c/a {:.2f} a/lax {:.2f}".format(
            rec["fwd"]["col2im_ms"] / rec["fwd"]["auto_ms"],
            rec["fwd"]["auto_ms"] / rec["fwd"]["lax_ms"],
            rec["fwd+bwd"]["col2im_ms"] / rec["fwd+bwd"]["auto_ms"],
            rec["fwd+bwd"]["auto_ms"] / rec["fwd+bwd"]["lax_ms"],
        ),
        flush=True,
    )
