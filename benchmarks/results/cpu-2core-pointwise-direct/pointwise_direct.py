"""Pointwise (1x1, stride 1) dense layers on which the fitted rules pick ``direct``: their
choice (``POINTWISE_DIRECT_FEATURES`` infinite: the code before) against ``auto``'s with
``direct`` ruled out from 16 input features (``_policy.pointwise_too_deep_for_direct``),
and lax, in the same rounds, forward and forward+backward.

    python pointwise_direct.py SEED COUNT out.jsonl
"""

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv
from jaxconv import _policy
from jaxconv._bench import runner


def shapes(lay):
    """Dimension numbers, input and kernel shapes of a layer dict."""
    sp = "DHW"[3 - len(lay["S"]) :]
    n, c, o, r = lay["N"], lay["C"], lay["O"], len(lay["S"])
    if lay["layout"] == "NHWC":
        return ("N" + sp + "C", sp + "IO", "N" + sp + "C"), (n, *lay["S"], c), (*(1,) * r, c, o)
    return ("NC" + sp, "OI" + sp, "NC" + sp), (n, c, *lay["S"]), (o, c, *(1,) * r)


def chosen(lay, features):
    """``auto``'s choice with ``POINTWISE_DIRECT_FEATURES`` set to ``features``."""
    dn, xs, ws = shapes(lay)
    _policy.POINTWISE_DIRECT_FEATURES = features
    x, w = jax.ShapeDtypeStruct(xs, jnp.float32), jax.ShapeDtypeStruct(ws, jnp.float32)
    return jaxconv.chosen_strategy(x, w, (1,) * len(lay["S"]), "SAME", None, None, dn)


def draw(seed):
    """Pointwise layers of 16-128 input features and few outputs, where the rules pick
    ``direct``."""
    rng = np.random.default_rng(seed)
    while True:
        r = int(rng.choice([1, 2, 2, 2, 3]))
        c = int(rng.choice([16, 24, 32, 48, 64, 96, 128]))
        o = int(rng.choice([2, 4, 6, 8, 8, 8, 12, 16]))
        n = int(rng.choice([1, 2, 4, 8, 16, 32, 64]))
        budget = 1e6 * float(rng.choice([0.25, 0.5, 1, 2, 4, 8]))
        side = max(int((budget / n / c) ** (1 / r)), 2)
        sp = tuple(max(int(side * rng.uniform(0.7, 1.3)), 2) for _ in range(r))
        lay = dict(N=n, S=sp, C=c, O=o, layout=str(rng.choice(["NCHW", "NCHW", "NHWC"])))
        lay["old"] = chosen(lay, np.inf)
        lay["new"] = chosen(lay, 16)
        if lay["old"] == "direct":
            yield lay


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("seed", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("out")
    ap.add_argument("--reps", type=int, default=9)
    a = ap.parse_args()
    with open(a.out, "a") as out:
        for n, lay in zip(range(a.count), draw(a.seed), strict=False):
            dn, xs, ws = shapes(lay)
            kw = dict(window_strides=(1,) * len(lay["S"]), padding="SAME", dimension_numbers=dn)
            args = (
                jax.random.normal(jax.random.key(0), xs),
                jax.random.normal(jax.random.key(1), ws),
            )
            for d in ("fwd", "fwd+bwd"):

                def prog(f, d=d):
                    if d == "fwd":
                        return jax.jit(f)
                    return jax.jit(jax.grad(lambda x, w: jnp.sum(f(x, w) ** 2), (0, 1)))

                fns = []
                for features in (np.inf, 16):
                    _policy.POINTWISE_DIRECT_FEATURES = features
                    f = prog(lambda x, w, kw=kw: jaxconv.conv_general_dilated(x, w, **kw))
                    fns.append(f.lower(*args).compile())
                fns.append(prog(lambda x, w, kw=kw: lax.conv_general_dilated(x, w, **kw)))
                for f in fns:
                    jax.block_until_ready(f(*args))
                ts = [float(np.median(t)) * 1e3 for t in runner.time_interleaved(fns, args, a.reps)]
                rec = dict(lay, seed=a.seed, direction=d, before_ms=ts[0], after_ms=ts[1],
                           lax_ms=ts[2], after_over_before=ts[1] / ts[0])  # fmt: skip
                print(json.dumps(rec), file=out, flush=True)
                print(n, d, lay["layout"], lay["N"], lay["S"], lay["C"], lay["O"], lay["new"],
                      f"{ts[1] / ts[0]:.2f} ({ts[0] / ts[2]:.2f} -> {ts[1] / ts[2]:.2f} lax)",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
