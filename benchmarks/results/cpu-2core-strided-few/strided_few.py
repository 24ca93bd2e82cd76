"""Strided dense layers of few input features (at most 16), drawn like a network's and in no
suite: every feasible strategy forced forward (``sweep``), or ``auto`` of an old tree
against this one (``drawn``).

    python strided_few.py sweep SEED COUNT out.jsonl [STRATEGY]  # [where auto runs it]
    python strided_few.py drawn <old src> SEED COUNT out.jsonl
    python strided_few.py fit sweep.jsonl ...  # where auto ran banded: the rule's regret
"""

import json
import os
import sys

import numpy as np

from jaxconv import _plan, _policy, _strategies

# The timing, layer and held-out helpers of the strided-band study beside this one.
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cpu-2core-strided-band")
)
from strided_band import drawn, shapes, time_forced  # noqa: E402

NAMES = ("direct", "banded", "im2col", "col2im", "rows", "space_to_depth", "taps")


def plan_of(lay):
    dn, xs, ws = shapes(lay)
    st = (lay["st"],) * len(lay["S"])
    return _plan.make_plan(xs, ws, st, lay["pad"], dimension_numbers=dn)


RANKS = (1, 2, 2, 2, 2, 3)
FEATURES = (1, 2, 3, 4, 6, 8, 8, 12, 16, 16)
OUTPUTS = (4, 8, 16, 16, 24, 32, 32, 48, 64, 96, 128)


def draw(seed, count, pick=lambda lay: True, *, ranks=RANKS, features=FEATURES,
         outputs=OUTPUTS, rank=None):  # fmt: skip
    """Network-like strided dense layers of at most 16 input features (in no suite). Ranks,
    input and output features are drawn from ``ranks``, ``features`` and ``outputs``; with
    ``rank``, draws of another rank are skipped."""
    rng = np.random.default_rng(seed)
    got = 0
    while got < count:
        r = int(rng.choice(ranks))
        if rank is not None and r != rank:
            continue
        c = int(rng.choice(features))
        o = int(rng.choice(outputs))
        k = int(rng.choice([2, 3, 3, 3, 4, 5, 7]))
        kernel = tuple(int(rng.choice([k, k, k, k, 1, 3])) for _ in range(r))
        s = int(rng.choice([2, 2, 2, 2, 3, 4]))
        pad = str(rng.choice(["SAME", "VALID"]))
        budget = 1e6 * float(rng.choice([0.25, 0.5, 1, 2, 4, 8, 16]))
        n = int(rng.choice([1, 2, 4, 8, 16, 32]))
        side = max(int((budget / n / c) ** (1 / r)), 1)
        sp = tuple(max(int(side * rng.uniform(0.7, 1.3)), kernel[i]) for i in range(r))
        flops = 2 * n * np.prod(sp) / s**r * np.prod(kernel) * c * o
        if flops > 3e9 or flops < 2e6 or min(sp) < 2 * s or max(sp) > 100000:
            continue
        layout = str(rng.choice(["NHWC", "NCHW"]))
        lay = dict(N=n, S=sp, C=c, O=o, K=kernel, st=s, pad=pad, layout=layout)
        if pick(lay):
            got += 1
            yield lay


def sweep(seed, count, out, only=None):
    def pick(lay):
        lay["auto"] = _policy.choose(plan_of(lay), "float32", decide_layout=True)
        return only is None or lay["auto"] == only

    for lay in draw(seed, count, pick):
        plan = plan_of(lay)
        ns = [n for n in NAMES if _strategies.feasible(n, _policy.in_layout(plan, n), "float32")]
        time_forced(lay, ns, out)


def geomean(v):
    return float(np.exp(np.mean(np.log(v))))


def fit(paths):
    """Where ``auto`` ran ``banded``: regret against the fastest strategy forced, and the
    ratio to lax, as ``banded`` and as ``_policy._strided_over_band`` now chooses."""
    recs = []
    for p in paths:
        with open(p) as f:
            recs += [r for r in map(json.loads, f) if r["auto"] == "banded"]
    rows = []
    for r in recs:
        ms = r["ms"]
        best = min(v for k, v in ms.items() if k != "lax")
        new = _policy._strided_over_band(plan_of(r), "banded", lambda s, ms=ms: s in ms)
        rows.append((ms["banded"] / best, ms[new] / best, ms["banded"] / ms["lax"],
                     ms[new] / ms["lax"], new))  # fmt: skip
    b, a, bl, al = (np.array([row[i] for row in rows]) for i in range(4))
    counts = {n: sum(row[4] == n for row in rows) for n in ("direct", "im2col", "banded")}
    print(f"{len(rows)} layers; now: {counts}")
    print(f"regret {geomean(b):.3f} -> {geomean(a):.3f} (p90 {np.percentile(b, 90):.2f} -> "
          f"{np.percentile(a, 90):.2f}); lax {geomean(bl):.3f} -> {geomean(al):.3f} (worst "
          f"{bl.max():.2f} -> {al.max():.2f})")  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1] == "fit":
        fit(sys.argv[2:])
    elif sys.argv[1] == "sweep":
        with open(sys.argv[4], "a") as f:
            sweep(int(sys.argv[2]), int(sys.argv[3]), f, *sys.argv[5:])
    else:
        with open(sys.argv[5], "a") as f:
            drawn(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), f, draw)
