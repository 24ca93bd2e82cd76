"""Strided layers where ``auto`` ran ``banded``: every GEMM strategy forced (``sweep``), and
``auto`` of an old tree against this one on drawn layers in no suite (``drawn``).

    python strided_band.py sweep 9000 9020 32 100000 sweep-32up.jsonl
    python strided_band.py sweep 9000 9020 4 32 sweep-4-31.jsonl
    python strided_band.py drawn <old src> 7 24 heldout-drawn-7.jsonl
"""

import json
import os
import shutil
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv
from jaxconv import _policy
from jaxconv._bench import fit, runner


def timeit(fns, args, reps):
    """Median ms of each function: compiled, then the bench's interleaved rounds."""
    for f in fns:
        jax.block_until_ready(f(*args))
    return [float(np.median(t)) * 1e3 for t in runner.time_interleaved(fns, args, reps)]


def shapes(lay):
    """Dimension numbers, input and kernel shapes of a layer dict in its layout."""
    sp = "DHW"[3 - len(lay["S"]) :]
    n, c, o, k = lay["N"], lay["C"], lay["O"], tuple(lay["K"])
    if lay["layout"] == "NHWC":
        return ("N" + sp + "C", sp + "IO", "N" + sp + "C"), (n, *lay["S"], c), (*k, c, o)
    return ("NC" + sp, "OI" + sp, "NC" + sp), (n, c, *lay["S"]), (o, c, *k)


def layer_fns(lay, convs, grad=False):
    """Jitted lax and each of ``convs`` (``f(x, w, strides, pad, dn)``) on the layer."""
    dn, _, _ = shapes(lay)
    st = tuple(lay["st"]) if isinstance(lay["st"], list) else (lay["st"],) * len(lay["S"])
    pad = lay["pad"] if isinstance(lay["pad"], str) else [tuple(p) for p in lay["pad"]]

    def laxf(x, w):
        return lax.conv_general_dilated(x, w, st, pad, dimension_numbers=dn)

    fs = [laxf] + [lambda x, w, c=c: c(x, w, st, pad, dn) for c in convs]
    if grad:
        fs = [jax.grad(lambda x, w, f=f: jnp.sum(f(x, w) ** 2), argnums=(0, 1)) for f in fs]
    return [jax.jit(f) for f in fs]


def inputs(lay):
    _, xs, ws = shapes(lay)
    return jax.random.normal(jax.random.key(0), xs), jax.random.normal(jax.random.key(1), ws)


def sweep(start, stop, lo, hi, out):
    names = ["auto", "banded", "im2col", "col2im", "rows", "taps"]
    for suite, case, layout, plan in fit.float_plans(
        ["random", "random-heldout"], range(start, stop)
    ):
        if plan.is_empty or plan.feature_groups != 1 or plan.batch_groups != 1:
            continue
        if all(s == 1 for s in plan.strides) or any(d > 1 for d in plan.lhs_dilation):
            continue
        if not lo <= plan.in_features < hi or any(d > 1 for d in plan.rhs_dilation):
            continue
        if _policy.choose(plan, "float32", decide_layout=True) != "banded":
            continue
        lay = dict(suite=suite, case=case.name, layout=layout, N=plan.batch, S=plan.in_spatial,
                   C=plan.in_features, O=plan.out_features, K=plan.kernel, st=plan.strides,
                   pad=plan.pads)  # fmt: skip
        time_forced(lay, [n for n in names if n != "rows" or plan.num_spatial > 1], out)


def time_forced(lay, names, out):
    """One json line: the layer and the median ms of lax and of each strategy forced."""
    convs = [
        lambda x, w, st, pad, dn, n=n: jaxconv.conv(x, w, st, pad, dimension_numbers=dn, strategy=n)
        for n in names
    ]
    t = timeit(layer_fns(lay, convs), inputs(lay), 9)
    print(
        json.dumps(dict(lay, ms=dict(zip(["lax", *names], t, strict=True)))), file=out, flush=True
    )


def draw(seed, count, pick):
    """Network-like strided dense layers (in no suite) for which ``pick(layer)`` holds."""
    rng = np.random.default_rng(seed)
    got = 0
    while got < count:
        r = int(rng.choice([1, 2, 2, 2, 2, 3]))
        c = int(
            rng.choice([3, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024])
        )
        o = int(max(1, c * rng.choice([0.5, 1, 1, 2, 2, 4])))
        k = int(rng.choice([1, 1, 2, 3, 3, 3, 5, 7]))
        kernel = tuple(int(rng.choice([k, k, k, 1, 3])) for _ in range(r))
        s = int(rng.choice([2, 2, 2, 2, 3, 4]))
        pad = str(rng.choice(["SAME", "VALID"]))
        budget = 1e6 * float(rng.choice([0.5, 1, 2, 4, 8, 16]))
        n = int(rng.choice([1, 2, 4, 8, 16, 32, 64]))
        side = max(int((budget / n / c) ** (1 / r)), 1)
        sp = tuple(max(int(side * rng.uniform(0.7, 1.3)), kernel[i]) for i in range(r))
        flops = 2 * n * np.prod(sp) / s**r * np.prod(kernel) * c * o
        if flops > 3e9 or flops < 5e6 or min(sp) < 2 * s:
            continue
        layout = str(rng.choice(["NHWC", "NCHW"]))
        lay = dict(N=n, S=sp, C=c, O=o, K=kernel, st=s, pad=pad, layout=layout)
        if pick(lay):
            got += 1
            yield lay


def drawn(old_src, seed, count, out, draw=draw):
    root = tempfile.mkdtemp()
    shutil.copytree(os.path.join(old_src, "jaxconv"), os.path.join(root, "jaxconv_old"))
    sys.path.insert(0, root)
    import jaxconv_old

    def pick(lay):
        dn, xs, ws = shapes(lay)
        x, w = jax.ShapeDtypeStruct(xs, jnp.float32), jax.ShapeDtypeStruct(ws, jnp.float32)
        st = (lay["st"],) * len(lay["S"])
        lay["old"] = jaxconv_old.chosen_strategy(x, w, st, lay["pad"], None, None, dn)
        lay["new"] = jaxconv.chosen_strategy(x, w, st, lay["pad"], None, None, dn)
        return lay["old"] != lay["new"]

    convs = [
        lambda x, w, st, pad, dn, m=m: m.conv(x, w, st, pad, dimension_numbers=dn)
        for m in (jaxconv_old, jaxconv)
    ]
    for lay in draw(seed, count, pick):
        for d in ("fwd", "fwd+bwd"):
            t = timeit(layer_fns(lay, convs, d == "fwd+bwd"), inputs(lay), 7)
            rec = dict(lay, direction=d, lax=t[0], before=t[1] / t[0], after=t[2] / t[0])
            print(json.dumps(dict(rec, after_over_before=t[2] / t[1])), file=out, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "sweep":
        a, b, lo, hi = (int(v) for v in sys.argv[2:6])
        with open(sys.argv[6], "a") as f:
            sweep(a, b, lo, hi, f)
    else:
        with open(sys.argv[5], "a") as f:
            drawn(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), f)
