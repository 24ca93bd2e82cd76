"""Tables of this folder's runs: ``python summary.py sweep-*.jsonl`` (every strategy
against ``auto`` before, by what ``auto`` ran) or ``python summary.py ab-*.jsonl`` (the
held-out A/B). With ``--final``, an A/B keeps only the layers whose choice the rule as it
landed changes: 5 or more input features, ``rows``, ``direct`` or (forward only)
``col2im`` before."""

import argparse
import collections
import json

import numpy as np


def gmean(values) -> float:
    return float(np.exp(np.mean(np.log(values))))


def sweep(rows) -> None:
    names = ("im2col", "rows", "col2im", "space_to_depth", "direct", "lax")
    groups = collections.defaultdict(list)
    for d in rows:
        groups[d["auto"]].append(d)
        groups["all"].append(d)
    print("| `auto` ran | layers | " + " | ".join(f"`{n}`" for n in names) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in names) + " |")
    for auto, ds in sorted(groups.items()):
        cells = []
        for n in names:
            r = [d[f"{n}_ms"] / d["auto_ms"] for d in ds if f"{n}_ms" in d]
            cells.append(f"{gmean(r):.2f}" if r else "")
        print(f"| {auto} | {len(ds)} | " + " | ".join(cells) + " |")


def ab(rows) -> None:
    r = np.array([d["new_ms"] / d["old_ms"] for d in rows])
    old = [d["old_ms"] / d["lax_ms"] for d in rows]
    new = [d["new_ms"] / d["lax_ms"] for d in rows]
    print(f"layers {len(r)}: new/old {gmean(r):.3f}, old/lax {gmean(old):.3f} -> new/lax "
          f"{gmean(new):.3f}; slower by over 5 %: {(r > 1.05).sum()}, worst {r.max():.2f}; "
          f"worst to lax {max(old):.2f} -> {max(new):.2f}")  # fmt: skip
    pairs = collections.defaultdict(list)
    for d, x in zip(rows, r, strict=True):
        pairs[(d["old"], d["new"])].append(x)
    for (a, b), v in sorted(pairs.items()):
        print(f"  {a} -> {b}: {len(v)} layers, {gmean(v):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+")
    parser.add_argument("--final", action="store_true")
    args = parser.parse_args()
    rows = [json.loads(line) for f in args.files for line in open(f)]
    if args.final:
        grad = any("grad" in f for f in args.files)
        over = ("rows", "direct") if grad else ("rows", "direct", "col2im")
        rows = [d for d in rows if d["C"] >= 5 and d["old"] in over]
    (ab if "new_ms" in rows[0] else sweep)(rows)


if __name__ == "__main__":
    main()
