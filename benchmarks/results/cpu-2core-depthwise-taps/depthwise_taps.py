"""Depthwise layers drawn like a network's and in no suite: ``auto`` of an old tree against
this one in the same rounds, forward and forward+backward, on the layers whose forward
choice changes.

    python depthwise_taps.py <old src> SEED COUNT out.jsonl [forward-only]

Without ``forward-only``, also the layers where only the differentiated choice changes.
"""

import json
import os
import shutil
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv import _policy
from jaxconv._plan import make_plan

# The timing helper of the strided-band study.
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cpu-2core-strided-band")
)
from strided_band import timeit  # noqa: E402


def shapes(lay):
    """Dimension numbers, input and kernel shapes of a depthwise layer dict."""
    sp = "DHW"[3 - len(lay["S"]) :]
    n, c, o, k = lay["N"], lay["C"], lay["O"], tuple(lay["K"])
    if lay["layout"] == "NHWC":
        return ("N" + sp + "C", sp + "IO", "N" + sp + "C"), (n, *lay["S"], c), (*k, 1, o)
    return ("NC" + sp, "OI" + sp, "NC" + sp), (n, c, *lay["S"]), (o, 1, *k)


def draw(seed, count, pick):
    """Depthwise layers like MobileNets', ConvNeXts', 1-d sequence models' and 3-d ones'."""
    rng = np.random.default_rng(seed)
    got = 0
    while got < count:
        r = int(rng.choice([1, 2, 2, 2, 3]))
        k = int(rng.choice({1: [3, 5, 9, 15, 31, 63, 127], 2: [3, 5, 7, 7, 9, 11, 13, 15],
                            3: [3, 5, 7]}[r]))  # fmt: skip
        c = int(rng.choice([16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024]))
        o = c * int(rng.choice([1, 1, 1, 2]))
        s = int(rng.choice([1, 1, 1, 2]))
        n = int(rng.choice([1, 2, 4, 8, 16, 32]))
        budget = 1e6 * float(rng.choice([0.25, 0.5, 1, 2, 4, 8]))
        side = max(int((budget / n / c) ** (1 / r)), 1)
        sp = tuple(max(int(side * rng.uniform(0.7, 1.3)), 2) for _ in range(r))
        flops = 2 * n * np.prod(sp) / s**r * k**r * o
        if flops > 3e9 or flops < 1e6 or max(sp) > 100000:
            continue
        lay = dict(N=n, S=sp, C=c, O=o, K=(k,) * r, st=s, pad="SAME",
                   layout=str(rng.choice(["NHWC", "NCHW"])))  # fmt: skip
        if pick(lay):
            got += 1
            yield lay


def main(old_src, seed, count, out, forward_only=False):
    root = tempfile.mkdtemp()
    shutil.copytree(os.path.join(old_src, "jaxconv"), os.path.join(root, "jaxconv_old"))
    sys.path.insert(0, root)
    import jaxconv_old

    def pick(lay):
        dn, xs, ws = shapes(lay)
        x, w = jax.ShapeDtypeStruct(xs, jnp.float32), jax.ShapeDtypeStruct(ws, jnp.float32)
        st, g = (lay["st"],) * len(lay["S"]), lay["C"]
        args = (x, w, st, "SAME", None, None, dn, g)
        lay["old"] = jaxconv_old.chosen_strategy(*args)
        lay["new"] = jaxconv.chosen_strategy(*args)
        # where the forward choice changes, or the differentiated one (depthwise_taps_pay)
        plan = make_plan(xs, ws, st, "SAME", dimension_numbers=dn, feature_group_count=g)
        return lay["old"] != lay["new"] or (not forward_only and _policy.depthwise_taps_pay(plan))

    for lay in draw(seed, count, pick):
        dn, xs, ws = shapes(lay)
        st, g = (lay["st"],) * len(lay["S"]), lay["C"]
        # No lax: XLA:CPU's depthwise 3-d convolution takes seconds (1 s on 1x19^3x64, 5x5x5).
        fs = [lambda x, w, m=m, st=st, dn=dn, g=g: m.conv(x, w, st, "SAME", dimension_numbers=dn,
                                                          groups=g)
              for m in (jaxconv_old, jaxconv)]  # fmt: skip
        args = jax.random.normal(jax.random.key(0), xs), jax.random.normal(jax.random.key(1), ws)
        for d in ("fwd", "fwd+bwd"):
            gs = fs
            if d == "fwd+bwd":
                gs = [jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) ** 2), (0, 1)) for f in fs]
            t = timeit([jax.jit(f) for f in gs], args, 7)
            rec = dict(lay, direction=d, before_ms=t[0], after_ms=t[1])
            print(json.dumps(dict(rec, after_over_before=t[1] / t[0])), file=out, flush=True)


if __name__ == "__main__":
    with open(sys.argv[4], "a") as f:
        main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), f, "forward-only" in sys.argv[5:])
