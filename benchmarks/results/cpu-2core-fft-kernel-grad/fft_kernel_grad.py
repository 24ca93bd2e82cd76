"""The kernel gradient of depthwise and small-group layers by ``fft``
(``jaxconv._policy.fft_kernel_grad_pays``), against the per-tap one, forward+backward.

Layers are drawn like networks' (MobileNets', ConvNeXts', 1-d sequence models', 3-d ones')
and kept where the direct multiply-adds are at least ``--lo`` times ``fft``'s modelled cost.
Timed in the same rounds, each ``jax.grad`` of a sum of squares: ``auto`` with the per-tap
kernel gradient (``FFT_KERNEL_GRAD`` infinite: the code before), ``auto`` with the kernel
gradient by ``fft`` (``FFT_KERNEL_GRAD`` 0) and ``fft`` forced (forward by ``fft`` too); not
lax, whose grouped gradients XLA:CPU runs 100x slower (13 s for one drawn layer). Layers
``auto`` already runs by ``fft`` are passed over. One JSON line per layer, with XLA's
compiled temp bytes of each.

    python fft_kernel_grad.py SEED COUNT out.jsonl [--lo 0.05]
"""

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv import _policy, _strategies
from jaxconv._bench import runner
from jaxconv._plan import make_plan


def cost_ratio(plan):
    """Direct multiply-adds over ``fft``'s modelled cost (channels-last)."""
    plan = plan._replace(channels_first=False)
    return plan.flops / 2 / _strategies.fft_cost(plan, _strategies.fft_blocks(plan))


def shapes(lay):
    """Dimension numbers, input and kernel shapes of a layer dict."""
    sp = "DHW"[3 - len(lay["S"]) :]
    n, c, o, k, i = lay["N"], lay["C"], lay["O"], tuple(lay["K"]), lay["I"]
    if lay["layout"] == "NHWC":
        return ("N" + sp + "C", sp + "IO", "N" + sp + "C"), (n, *lay["S"], c), (*k, i, o)
    return ("NC" + sp, "OI" + sp, "NC" + sp), (n, c, *lay["S"]), (o, i, *k)


def draw(seed, lo, depths=(1, 1, 1, 2, 4)):
    """Layers of groups ``depths`` features deep (drawn from) whose cost ratio is at least
    ``lo``."""
    rng = np.random.default_rng(seed)
    while True:
        r = int(rng.choice([1, 2, 2, 2, 3]))
        k = int(rng.choice({1: [3, 5, 9, 15, 31, 63, 127], 2: [3, 5, 7, 7, 9, 11, 13, 15],
                            3: [3, 5, 7]}[r]))  # fmt: skip
        i = int(rng.choice(depths))
        c = int(rng.choice([16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024]))
        o = c * int(rng.choice([1, 1, 1, 2]))
        s = int(rng.choice([1, 1, 1, 2]))
        d = int(rng.choice([1, 1, 1, 1, 2]))
        n = int(rng.choice([1, 2, 4, 8, 16, 32]))
        budget = 1e6 * float(rng.choice([0.25, 0.5, 1, 2, 4, 8]))
        side = max(int((budget / n / c) ** (1 / r)), 2)
        sp = tuple(max(int(side * rng.uniform(0.7, 1.3)), 2) for _ in range(r))
        flops = 2 * n * np.prod(sp) / s**r * k**r * o * i
        if flops > 1e9 or flops < 1e6 or max(sp) > 100000:
            continue
        lay = dict(N=n, S=sp, C=c, O=o, I=i, K=(k,) * r, st=s, dil=d,
                   layout=str(rng.choice(["NHWC", "NCHW"])))  # fmt: skip
        dn, xs, ws = shapes(lay)
        plan = make_plan(xs, ws, (s,) * r, "SAME", rhs_dilation=(d,) * r, dimension_numbers=dn,
                         feature_group_count=c // i)  # fmt: skip
        lay["ratio"] = cost_ratio(plan)
        if lay["ratio"] >= lo:
            yield lay


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("seed", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("out")
    ap.add_argument("--lo", type=float, default=0.05)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--depths", default="1,1,1,2,4", help="features per group, drawn from")
    a = ap.parse_args()
    with open(a.out, "a") as out:
        n = 0
        depths = [int(d) for d in a.depths.split(",")]
        _policy.FFT_KERNEL_GRAD_DEPTH = max(depths)
        for lay in draw(a.seed, a.lo, depths):
            if n == a.count:
                break
            dn, xs, ws = shapes(lay)
            r = len(lay["S"])
            kw = dict(window_strides=(lay["st"],) * r, padding="SAME",
                      rhs_dilation=(lay["dil"],) * r, dimension_numbers=dn,
                      feature_group_count=lay["C"] // lay["I"])  # fmt: skip
            args = (
                jax.random.normal(jax.random.key(0), xs),
                jax.random.normal(jax.random.key(1), ws),
            )
            auto = jaxconv.chosen_strategy(*args, **kw)
            if auto == "fft":
                continue

            def grad(f):
                return jax.jit(jax.grad(lambda x, w: jnp.sum(f(x, w) ** 2), (0, 1)))

            def ours(strategy, kw=kw):
                return grad(
                    lambda x, w: jaxconv.conv_general_dilated(x, w, strategy=strategy, **kw)
                )

            variants = {}
            for name, thr, strategy in [("per_tap", np.inf, "auto"), ("fft_kgrad", 0.0, "auto"),
                                        ("fft", np.inf, "fft")]:  # fmt: skip
                _policy.FFT_KERNEL_GRAD = thr
                jax.clear_caches()  # each variant traced afresh (added 2026-12-06)
                variants[name] = ours(strategy).lower(*args).compile()
            names = list(variants)
            fns = [variants[k] for k in names]
            for f in fns:
                jax.block_until_ready(f(*args))
            ts = [float(np.median(t)) * 1e3 for t in runner.time_interleaved(fns, args, a.reps)]
            rec = dict(lay, seed=a.seed,
                       auto=auto,
                       ms=dict(zip(names, ts, strict=True)),
                       temp=dict((k, variants[k].memory_analysis().temp_size_in_bytes)
                                 for k in names))  # fmt: skip
            print(json.dumps(rec), file=out, flush=True)
            n += 1
            print(n, lay["ratio"], auto, {k: round(v, 2) for k, v in rec["ms"].items()}, flush=True)


if __name__ == "__main__":
    main()
