"""``auto`` forward and forward+backward with pieces of one image mapped over
``x.reshape(n, 1, ...)`` (old) and over ``x`` (new), timed in the same rounds, on ``count``
of the forward programs whose compiled temp fell (``temps.jsonl``).

    python ab.py 30 > ab.log   (appends ab.jsonl: new/old time per direction)
"""

import functools
import json
import random
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv
from jaxconv import _strategies
from jaxconv._bench import runner

new = _strategies._tiled


def old(fn, x, w, plan, count):
    """``_strategies._tiled`` before: every group of images mapped over a reshape of x."""
    n = plan.batch
    if n == 1:
        return _strategies._tiled_rows(fn, x, w, plan, count)
    per = next(c for c in range(min(count, n), n + 1) if n % c == 0)
    sub = plan._replace(batch=n // per)
    if -(-count // per) > 1:
        fn = functools.partial(_strategies._tiled_rows, fn, count=-(-count // per))
    ys = lax.map(lambda xc: fn(xc, w, sub), x.reshape(per, n // per, *x.shape[1:]))
    return ys.reshape(n, *ys.shape[2:])


def timeit(fns, args, reps):
    """Median ms of each function: compiled, then the bench's interleaved rounds."""
    for f in fns:
        jax.block_until_ready(f(*args))
    return [float(np.median(t)) * 1e3 for t in runner.time_interleaved(fns, args, reps)]


recs = [json.loads(line) for line in open("temps.jsonl")]
recs = [r for r in recs if r["old"] - r["new"] > 0.05 and not r["case"].endswith("_dx")]
random.Random(0).shuffle(recs)
with open("ab.jsonl", "a") as out:
    for r in recs[: int(sys.argv[1])]:
        kw = dict(r["kw"], padding=[tuple(p) for p in r["kw"]["padding"]])
        x = jax.random.normal(jax.random.key(0), r["xs"])
        w = jax.random.normal(jax.random.key(1), r["ws"])
        res = {}
        for direction in ("fwd", "fwd+bwd"):
            fns = []
            for impl in (old, new):
                _strategies._tiled = impl

                def f(x, w, kw=kw):
                    return jaxconv.conv_general_dilated(x, w, **kw)

                if direction == "fwd+bwd":
                    f = jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) ** 2), argnums=(0, 1))
                f = jax.jit(f)
                jax.block_until_ready(f(x, w))  # traced with impl
                fns.append(f)
            t = timeit(fns, (x, w), 11)
            res[direction] = t[1] / t[0]
        print(r["suite"], r["case"], r["layout"], r["name"], res, flush=True)
        out.write(json.dumps(dict(r, **res)) + "\n")
