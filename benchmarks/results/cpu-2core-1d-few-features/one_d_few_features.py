"""1-d channels-last convolutions of 5-8 input features on long sequences: every strategy
that could run them, forced, and ``auto`` against the code before (see README.md).

    python one_d_few_features.py sweep OUT.jsonl SEED COUNT ROWS DILATIONS [wide]
    python one_d_few_features.py ab OLD_SRC OUT.jsonl SEED COUNT ROWS [wide]
    python one_d_few_features.py report FILE.jsonl

``ROWS``: comma-separated batch-times-length totals to draw from; ``DILATIONS`` likewise;
``wide``: 12-48 input features (and more output features) instead of 5-8.
``sweep`` times lax, ``auto`` and five strategies forward in the same rounds; ``ab`` times
lax, the jaxconv at ``OLD_SRC`` (a ``src`` folder) and this one, forward and forward plus
both gradients, on drawn layers where the two choose differently.
"""

import json
import math
import os
import shutil
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import jaxconv
from jaxconv._bench import runner

NAMES = ("col2im", "banded", "im2col", "direct", "taps")
DN = ("NWC", "WIO", "NWC")
WIDE_OUT = (8, 16, 24, 32, 48, 64, 96)


def medians(fns, args, reps=9):
    for f in fns:
        jax.block_until_ready(f(*args))
    return [1e3 * float(np.median(t)) for t in runner.time_interleaved(fns, args, reps)]


def conv(mod, pad, d, strategy="auto"):
    def f(x, w):
        if mod is lax:
            return lax.conv_general_dilated(
                x, w, (1,), pad, rhs_dilation=(d,), dimension_numbers=DN
            )
        return mod.conv_general_dilated(
            x, w, (1,), pad, rhs_dilation=(d,), dimension_numbers=DN, strategy=strategy
        )

    return f


def program(f, grad):
    if not grad:
        return jax.jit(f)
    return jax.jit(jax.grad(lambda x, w: jnp.sum(f(x, w) ** 2), argnums=(0, 1)))


def sweep(out, seed, count, rows, dilations, wide=False):
    def draw(rng):
        if wide:
            c, o = int(rng.choice([12, 16, 24, 32, 48])), int(rng.choice(WIDE_OUT))
        else:
            c, o = int(rng.choice([5, 6, 8])), int(rng.choice([8, 12, 16, 24, 32]))
        k, d = int(rng.choice([3, 5, 7, 9, 15])), int(rng.choice(dilations))
        return c, o, k, d, int(rng.choice(rows)), int(rng.choice([1, 2, 4, 8]))

    sweep_drawn(out, seed, count, draw, [s for s in NAMES if not (wide and s == "direct")])


def sweep_drawn(out, seed, count, draw, names):
    """``sweep`` of strategies ``names`` on the layers ``draw(rng) -> (C, O, K, D, rows, N)``
    gives."""
    rng = np.random.default_rng(seed)
    with open(out, "a") as fh:
        for _ in range(count):
            c, o, k, d, total, n = draw(rng)
            length = total // n + int(rng.integers(0, 50))
            x = jnp.asarray(rng.standard_normal((n, length, c), np.float32))
            w = jnp.asarray(rng.standard_normal((k, c, o), np.float32))
            fns = [jax.jit(conv(lax, "SAME", d))]
            fns += [jax.jit(conv(jaxconv, "SAME", d, s)) for s in ("auto", *names)]
            t = medians(fns, (x, w))
            auto = jaxconv.chosen_strategy(x, w, (1,), "SAME", None, (d,), DN)
            rec = dict(D=d, N=n, L=length, C=c, O=o, K=k, lax=t[0], auto=auto, auto_ms=t[1])
            rec.update(zip(names, t[2:], strict=True))
            fh.write(json.dumps(rec) + "\n")
            print(rec, flush=True)


def ab(old_src, out, seed, count, rows, wide=False):
    def draw(rng):
        if wide:
            c, o = int(rng.choice([9, 12, 16, 24, 32, 48])), int(rng.choice(WIDE_OUT))
        else:
            c, o = int(rng.choice([5, 6, 7, 8])), int(rng.choice([4, 8, 12, 16, 24, 32, 48]))
        k, d = int(rng.choice([2, 3, 4, 5, 7, 9, 11, 15])), int(rng.choice([1, 1, 1, 2, 3]))
        total, n = int(rng.choice(rows)), int(rng.choice([1, 2, 4, 8, 16]))
        return c, o, k, d, total, n

    ab_drawn(old_src, out, seed, count, draw)


def ab_drawn(old_src, out, seed, count, draw, reps=9):
    """``ab`` on the layers ``draw(rng) -> (C, O, K, D, rows, N)`` gives, ``reps`` rounds."""
    root = tempfile.mkdtemp()
    shutil.copytree(os.path.join(old_src, "jaxconv"), os.path.join(root, "jaxconv_old"))
    sys.path.insert(0, root)
    import jaxconv_old

    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            c, o, k, d, total, n = draw(rng)
            length = max(total // n, 16) + int(rng.integers(0, 40))
            pad = str(rng.choice(["SAME", "VALID"]))
            x = jnp.asarray(rng.standard_normal((n, length, c), np.float32))
            w = jnp.asarray(rng.standard_normal((k, c, o), np.float32))
            old = jaxconv_old.chosen_strategy(x, w, (1,), pad, None, (d,), DN)
            new = jaxconv.chosen_strategy(x, w, (1,), pad, None, (d,), DN)
            if old == new:
                continue
            done += 1
            for grad in (False, True):
                fns = [program(conv(m, pad, d), grad) for m in (lax, jaxconv_old, jaxconv)]
                t = medians(fns, (x, w), reps=reps)
                rec = dict(N=n, L=length, C=c, O=o, K=k, D=d, pad=pad, grad=grad, old=old,
                           new=new, lax=t[0], old_ms=t[1], new_ms=t[2])  # fmt: skip
                fh.write(json.dumps(rec) + "\n")
                print(rec, flush=True)


def gm(v):
    return math.exp(sum(map(math.log, v)) / len(v))


def report(path):
    recs = [json.loads(line) for line in open(path)]
    if "grad" in recs[0]:
        for grad in (False, True):
            v = [r for r in recs if r["grad"] == grad]
            print(("forward+backward" if grad else "forward"), len(v),
                  f"new/old {gm([r['new_ms'] / r['old_ms'] for r in v]):.3f}",
                  f"old/lax {gm([r['old_ms'] / r['lax'] for r in v]):.3f}",
                  f"new/lax {gm([r['new_ms'] / r['lax'] for r in v]):.3f}",
                  f"slower {sum(r['new_ms'] > 1.05 * r['old_ms'] for r in v)}")  # fmt: skip
        return

    def rule(r):
        if r["C"] > 8:  # _policy._stack_over_col2im
            return "im2col" if r["K"] * r["C"] + r["O"] < 0.75 * r["K"] * r["O"] else "col2im"
        return "direct" if r["K"] * r["C"] <= 64 else "banded"

    for label, v in (
        ("all", recs),
        ("auto ran col2im", [r for r in recs if r["auto"] == "col2im"]),
    ):
        for pick in [s for s in ("col2im", "banded", "direct", "im2col") if s in v[0]] + ["rule"]:
            chosen = [r[rule(r) if pick == "rule" else pick] for r in v]
            best = [min(r[s] for s in NAMES if s in r) for r in v]
            regret = gm([a / b for a, b in zip(chosen, best, strict=True)])
            to_lax = gm([a / r["lax"] for a, r in zip(chosen, v, strict=True)])
            print(f"{label} ({len(v)}) {pick}: regret {regret:.3f} /lax {to_lax:.3f}")


if __name__ == "__main__":
    cmd, *a = sys.argv[1:]
    if cmd == "sweep":
        sweep(a[0], int(a[1]), int(a[2]), [int(v) for v in a[3].split(",")],
              [int(v) for v in a[4].split(",")], a[5:] == ["wide"])  # fmt: skip
    elif cmd == "ab":
        ab(a[0], a[1], int(a[2]), int(a[3]), [int(v) for v in a[4].split(",")], a[5:] == ["wide"])
    else:
        report(a[0])
