"""A/B of ``banded`` on dilated kernels: the old tree's and this tree's, and lax, timed in the
same rounds (interleaved, medians of 11), forward or forward+backward.

Usage (from the repository root, with the old tree checked out by ``git worktree add``):

    python benchmarks/results/cpu-2core-banded-phases/ab_banded.py --old /tmp/old/src \
        --strategy banded --cases cases-seeds-9500-9529.txt --out forced.jsonl

Each line of ``--cases`` is a call ``run(N, spatial, C, O, kernel, strides, pads, layout,
dil=..., grad=..., names=...)``; ``names`` are strategies of this tree timed beside them.
``--strategy`` is what both trees run (``banded`` forced, or ``auto``). One JSON line per
layer: times as ratios to lax (``old``, ``new`` and each of ``names``).
"""

from __future__ import annotations

import argparse
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
from jaxconv import _strategies
from jaxconv._bench import runner
from jaxconv._plan import make_plan

SPATIAL = {1: "W", 2: "HW", 3: "DHW"}


def _old(src: str):
    root = tempfile.mkdtemp(prefix="jaxconv-ab-")
    shutil.copytree(os.path.join(src, "jaxconv"), os.path.join(root, "jaxconv_old"))
    sys.path.insert(0, root)
    import jaxconv_old

    return jaxconv_old


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="the old tree's src folder")
    parser.add_argument("--strategy", default="banded")
    parser.add_argument("--cases", required=True)
    parser.add_argument("--out", default=None)
    parser.add_argument("--reps", type=int, default=11)
    args = parser.parse_args()
    old = _old(args.old)

    def run(n, spatial, c, o, kernel, strides, pads, layout, dil=None, grad=False,
            names=("col2im", "im2col", "direct", "rows")):  # fmt: skip
        sp = SPATIAL[len(spatial)]
        if layout == "NHWC":
            dn = ("N" + sp + "C", sp + "IO", "N" + sp + "C")
            xs, ws = (n, *spatial, c), (*kernel, c, o)
        else:
            dn = ("NC" + sp, "OI" + sp, "NC" + sp)
            xs, ws = (n, c, *spatial), (o, c, *kernel)
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.standard_normal(xs, np.float32))
        w = jnp.asarray(rng.standard_normal(ws, np.float32))
        kw = dict(dimension_numbers=dn, rhs_dilation=dil)
        plan = make_plan(xs, ws, strides, pads, **kw)
        names = [s for s in names if _strategies.accepts(s, plan)]

        def program(f):
            if not grad:
                return jax.jit(f)
            return jax.jit(jax.grad(lambda x, w: jnp.sum(f(x, w) ** 2), argnums=(0, 1)))

        def conv(mod, strategy):
            return program(lambda x, w: mod.conv_general_dilated(
                x, w, strides, pads, strategy=strategy, **kw))  # fmt: skip

        fns = [program(lambda x, w: lax.conv_general_dilated(x, w, strides, pads, **kw))]
        fns += [conv(old, args.strategy), conv(jaxconv, args.strategy)]
        fns += [conv(jaxconv, s) for s in names]
        for f in fns:
            jax.block_until_ready(f(x, w))
        t = [float(np.median(v)) for v in runner.time_interleaved(fns, (x, w), args.reps)]
        rec = dict(case=(n, spatial, c, o, kernel, layout, dil), grad=grad, lax=1e3 * t[0],
                   old=t[1] / t[0], new=t[2] / t[0],
                   **{s: v / t[0] for s, v in zip(names, t[3:], strict=True)})  # fmt: skip
        print(json.dumps(rec), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(rec) + "\n")

    with open(args.cases) as f:
        for line in f:
            if line.strip():
                eval(line, {"run": run})


if __name__ == "__main__":
    main()
