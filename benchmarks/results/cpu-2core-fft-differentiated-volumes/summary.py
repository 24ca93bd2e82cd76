"""Time of ``fft`` over the code before by cost ratio (``_policy._fft_pays_at``'s: direct
multiply-adds over ``fft``'s modelled cost), from the jsonl files of ``ab.py``:

    PYTHONPATH=../../../src python summary.py sweep-*.jsonl
"""

import json
import sys

import numpy as np

from jaxconv import _plan, _strategies


def ratio(r):
    first = r["channels_first"]
    xs = (r["N"], *r["m"], r["C"])
    ws = (r["k"],) * 3 + (r["C"], r["O"])
    plan = _plan.make_plan(
        xs, ws, (r["s"],) * 3, r["pad"], dimension_numbers=("NDHWC", "DHWIO", "NDHWC")
    )
    del first  # the ratio is the channels-last plan's, as in _fft_pays_at
    return plan.flops / 2 / _strategies.fft_cost(plan, _strategies.fft_blocks(plan))


rows = [json.loads(line) for f in sys.argv[1:] for line in open(f)]
for r in rows:
    r["ratio"] = ratio(r)
    r["t"] = r["new_ms"] / r["old_ms"]
rows.sort(key=lambda r: r["ratio"])
for r in rows:
    print(
        f"{r['ratio']:5.2f} {r['t']:5.2f}  {r['C']:>3} -> {r['O']} k{r['k']} s{r['s']} "
        f"N{r['N']} {r['m']} {'NCDHW' if r['channels_first'] else 'NDHWC'} {r['pad']} "
        f"{r['old']} -> {r['new']}  new/lax {r['new_ms'] / r['lax_ms']:.3f}"
    )
print("\nfrom ratio | programs | new/old geomean | slower by > 10 %")
for lo in (0.4, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0):
    t = np.array([r["t"] for r in rows if r["ratio"] >= lo])
    if len(t):
        print(f"{lo:4.1f} | {len(t):3d} | {np.exp(np.log(t).mean()):.3f} | {(t > 1.1).sum()}")
