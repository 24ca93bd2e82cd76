"""Layers drawn unlike the bench suites', ``auto`` against lax forward; where ``auto`` takes
more than 1.6x lax's time (and lax over 0.2 ms), every other strategy forced and all re-timed.

    python hunt.py wide|networks SEED MINUTES OUT.jsonl

``wide``: 1-3 spatial dims, 1-1024 input and output features drawn apart (often far fewer
outputs than inputs), kernels 1-11 (some dims 1 or 3), strides 1-4, dilations 1-3, batch
1-128, up to 16 M input elements. ``networks``: layers as networks have them (3 or 16-512
input features, outputs half, equal to or twice the inputs, square maps 7-224 in 2-d,
8-64 in 3-d, 256-16000 positions in 1-d, kernels 1-7 (1-15 in 1-d), strides 1-2, SAME).
Dense, grouped and depthwise; channels-last and channels-first; 7 interleaved rounds,
medians.
"""

import json
import sys
import time

import jax
import numpy as np
from jax import lax

import jaxconv
from jaxconv import _strategies
from jaxconv._bench import runner


def medians(fns, args, reps=7):
    for f in fns:
        jax.block_until_ready(f(*args))
    return [1e3 * float(np.median(t)) for t in runner.time_interleaved(fns, args, reps)]


def draw_wide(rng):
    r = int(rng.choice([1, 2, 2, 2, 3]))
    kind = str(rng.choice(["dense"] * 6 + ["grouped", "depthwise"]))
    c = int(rng.choice([1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384,
                        512, 768, 1024]))  # fmt: skip
    o = int(rng.choice([1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024]))
    g = 1
    if kind == "depthwise":
        g, o = c, c * int(rng.choice([1, 1, 2]))
    elif kind == "grouped":
        g = int(rng.choice([2, 4, 8, 16, 32]))
        c, o = max(c, g) // g * g, max(o, g) // g * g
    k = int(rng.choice([1, 2, 3, 3, 3, 4, 5, 5, 7, 9, 11]))
    kernel = tuple(int(rng.choice([k, k, k, 1, 3])) for _ in range(r))
    s, d = int(rng.choice([1, 1, 1, 2, 2, 3, 4])), int(rng.choice([1, 1, 1, 1, 2, 3]))
    d = 1 if s > 1 else d
    pad = str(rng.choice(["SAME", "VALID", "SAME"]))
    budget = 2e6 * float(rng.choice([0.5, 1, 2, 4, 8]))  # input elements
    n = int(rng.choice([1, 1, 2, 4, 8, 16, 32, 64, 128]))
    side = max(int((budget / n / c) ** (1 / r)), 1)
    sp = tuple(max(int(side * rng.uniform(0.6, 1.4)), (kernel[i] - 1) * d + 1) for i in range(r))
    sp = (min(sp[0], 200000),) if r == 1 else sp
    return kind, c, o, g, kernel, s, d, pad, n, sp


def draw_networks(rng):
    r = int(rng.choice([1, 2, 2, 2, 2, 3]))
    kind = str(rng.choice(["dense"] * 8 + ["grouped", "depthwise"]))
    c = int(rng.choice([3, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]))
    o = int(max(8, c * float(rng.choice([0.5, 1, 1, 1, 2]))))
    o = int(rng.choice([16, 32, 64])) if c == 3 else o
    g = 1
    if kind == "depthwise":
        c = max(c, 16)
        g = o = c
    elif kind == "grouped":
        c = o = max(c, 32)
        g = int(rng.choice([c // 4, c // 8, c // 16, 32]))
    ks = [1, 3, 3, 3, 3, 5, 7] if r > 1 else [1, 3, 3, 5, 7, 9, 11, 15]
    kernel = (int(rng.choice(ks)),) * r
    s, d = int(rng.choice([1, 1, 1, 2])), int(rng.choice([1, 1, 1, 1, 1, 2]))
    d = 1 if s > 1 else d
    n = int(rng.choice([1, 2, 4, 8, 16, 32, 64]))
    sides = {1: [256, 1024, 4096, 16000], 2: [7, 8, 14, 16, 28, 32, 56, 64, 112, 128, 224],
             3: [8, 16, 32, 64]}  # fmt: skip
    return kind, c, o, g, kernel, s, d, "SAME", n, (int(rng.choice(sides[r])),) * r


def programs(strides, pad, kw):
    """lax's convolution, jitted, and a function of a strategy name giving jaxconv's."""

    def ours(strategy="auto"):
        return jax.jit(lambda x, w: jaxconv.conv_general_dilated(
            x, w, strides, pad, strategy=strategy, **kw))  # fmt: skip

    return jax.jit(lambda x, w: lax.conv_general_dilated(x, w, strides, pad, **kw)), ours


def main():
    which, seed, minutes, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    draw = {"wide": draw_wide, "networks": draw_networks}[which]
    rng = np.random.default_rng(seed)
    t_end = time.time() + 60 * minutes
    with open(out, "a") as fh:
        while time.time() < t_end:
            kind, c, o, g, kernel, s, d, pad, n, sp = draw(rng)
            r = len(sp)
            flops = 2 * n * np.prod(sp) / s**r * np.prod(kernel) * c // g * o
            if not 2e6 <= flops <= 4e9:
                continue
            layout = str(rng.choice(["NHWC", "NCHW"]))
            sps = "DHW"[3 - r :]
            if layout == "NHWC":
                dn = ("N" + sps + "C", sps + "IO", "N" + sps + "C")
                xs, ws = (n, *sp, c), (*kernel, c // g, o)
            else:
                dn = ("NC" + sps, "OI" + sps, "NC" + sps)
                xs, ws = (n, c, *sp), (o, c // g, *kernel)
            x = jax.random.normal(jax.random.key(0), xs)
            w = jax.random.normal(jax.random.key(1), ws)
            kw = dict(rhs_dilation=(d,) * r, dimension_numbers=dn, feature_group_count=g)
            ref, ours = programs((s,) * r, pad, kw)
            auto = jaxconv.chosen_strategy(x, w, (s,) * r, pad, None, (d,) * r, dn, g)
            t = medians([ref, ours()], (x, w))
            rec = dict(xs=xs, ws=ws, s=s, d=d, pad=pad, layout=layout, g=g, kind=kind,
                       auto=auto, lax=t[0], auto_ms=t[1], ratio=t[1] / t[0])  # fmt: skip
            if rec["ratio"] > 1.6 and t[0] > 0.2:
                fns, names = [ref, ours()], []
                for name in _strategies.STRATEGIES:
                    f = ours(name)
                    try:
                        jax.block_until_ready(f(x, w))
                    except ValueError:  # not accepted
                        continue
                    fns.append(f)
                    names.append(name)
                tt = medians(fns, (x, w))
                rec["ratio2"] = tt[1] / tt[0]
                rec["forced"] = {nm: ti / tt[0] for nm, ti in zip(names, tt[2:], strict=True)}
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            print(rec, flush=True)


if __name__ == "__main__":
    main()
