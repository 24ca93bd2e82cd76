"""Re-check two differentiated rules with the bench's dependent forward+backward program (a
step whose backward pass waits for the output): ``auto`` with the rule against ``auto``
with it switched off, compiled one after the other and timed in the same rounds with lax.
``fft``: ``_policy.differentiated_fft_pays`` on dense 2-d layers of at most 8 outputs;
``kgrad``: ``_policy.fft_kernel_grad_pays`` on grouped and depthwise 2-d layers of groups
at most 4 deep (without lax, whose grouped gradients take up to a minute a call on
XLA:CPU). See README.md.

    python recheck.py fft|kgrad OUT.jsonl SEED COUNT

Run from the repository root with the project's environment.
"""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from ab_timed import grad_program, medians, record_line  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv import _policy  # noqa: E402
from jaxconv._plan import make_plan  # noqa: E402

DN = {"NHWC": ("NHWC", "HWIO", "NHWC"), "NCHW": ("NCHW", "OIHW", "NCHW")}
RULES = {"fft": "differentiated_fft_pays", "kgrad": "fft_kernel_grad_pays"}


def draw(rng, mode):
    """``(C, O, groups, k, N, H, W, layout, padding)`` of one layer."""
    if mode == "fft":
        c, o, g = int(rng.choice([3, 4, 8, 16, 32, 64])), int(rng.choice([1, 2, 3, 4, 6, 8])), 1
    else:
        depth, g = int(rng.choice([1, 1, 2, 4])), int(rng.choice([4, 8, 16, 32, 64]))
        c, o = depth * g, g * int(rng.choice([1, 1, 2]))
    k, n = int(rng.choice([3, 5, 7, 9, 11])), int(rng.choice([1, 2, 4, 8, 16]))
    h = int(rng.choice([16, 24, 32, 48, 64, 96, 128]))
    w = h + int(rng.integers(-4, 5))
    return c, o, g, k, n, h, w, str(rng.choice(list(DN))), str(rng.choice(["SAME", "VALID"]))


def programs(pad, kw):
    """lax's program and two of ``auto``'s (each its own jit cache), forward+backward."""

    def ours(x, w):
        return jaxconv.conv_general_dilated(x, w, (1, 1), pad, **kw)

    def theirs(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), pad, **kw)

    def ours_again(x, w):
        return ours(x, w) * 1.0

    return [grad_program(f, True) for f in (theirs, ours, ours_again)]


def main(mode, out, seed, count):
    rule = getattr(_policy, RULES[mode])
    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            c, o, g, k, n, h, wd, layout, pad = draw(rng, mode)
            xs = (n, h, wd, c) if layout == "NHWC" else (n, c, h, wd)
            ws = (k, k, c // g, o) if layout == "NHWC" else (o, c // g, k, k)
            kw = dict(dimension_numbers=DN[layout], feature_group_count=g)
            if not rule(make_plan(xs, ws, (1, 1), pad, **kw), jnp.float32):
                continue
            done += 1
            x = jnp.asarray(rng.standard_normal(xs, np.float32))
            w = jnp.asarray(rng.standard_normal(ws, np.float32) / np.sqrt(k * k * c // g))

            ref, with_rule, without = programs(pad, kw)
            jax.block_until_ready(with_rule(x, w))  # traced (and compiled) with the rule
            setattr(_policy, RULES[mode], lambda *a, **k: False)
            try:
                jax.block_until_ready(without(x, w))
            finally:
                setattr(_policy, RULES[mode], rule)
            # lax's grouped gradients on XLA:CPU take up to a minute a call: not timed there
            fns = [with_rule, without] if mode == "kgrad" else [ref, with_rule, without]
            t = medians(fns, (x, w), reps=9)
            t = [None, *t] if mode == "kgrad" else t
            rec = dict(C=c, O=o, G=g, K=k, N=n, H=h, W=wd, layout=layout, pad=pad, lax=t[0],
                       with_rule=t[1], without=t[2])  # fmt: skip
            record_line(fh, rec)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
