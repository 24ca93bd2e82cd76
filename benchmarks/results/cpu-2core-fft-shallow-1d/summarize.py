"""Summaries of ``shallow_fft.py``'s files: ``python summarize.py heldout-*.jsonl``."""

import json
import math
import sys


def gm(v):
    return math.exp(sum(map(math.log, v)) / len(v)) if v else float("nan")


def main(paths):
    recs = [json.loads(line) for p in paths for line in open(p)]
    for grad in (False, True):
        v = [r for r in recs if r["grad"] == grad]
        r = [x["new_ms"] / x["old_ms"] for x in v]
        print(f"{'forward+backward' if grad else 'forward'}: {len(v)} programs, after/before "
              f"{gm(r):.3f} (median {sorted(r)[len(r) // 2]:.3f}, worst {max(r):.2f}); "
              f"/lax {gm([x['old_ms'] / x['lax'] for x in v]):.3f} -> "
              f"{gm([x['new_ms'] / x['lax'] for x in v]):.3f}; "
              f"slower by 10%+: {sum(x > 1.1 for x in r)}")  # fmt: skip
        for lay in ("NWC", "NCW"):
            w = [x["new_ms"] / x["old_ms"] for x in v if x["layout"] == lay]
            if w:
                print(f"  {lay}: {len(w)} programs, {gm(w):.3f}")
        for before in sorted({x["before"] for x in v}):
            w = [x["new_ms"] / x["old_ms"] for x in v if x["before"] == before]
            print(f"  from {before}: {len(w)} programs, {gm(w):.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
