"""A/B of issue 13 (the restructuring): per case of ``--suite full``, in both layouts and
both directions, the strategy jaxconv's ``auto`` picks and the XLA temp bytes of the compiled
program, plus a fingerprint of the optimised HLO (metadata and names stripped), compile-only.

Usage (one process, no timing):

    python benchmarks/ab_compiled.py --src OLD/src --out before.txt
    python benchmarks/ab_compiled.py --src NEW/src --out after.txt
    python benchmarks/ab_compiled.py --compare before.txt after.txt

``--rules FILE`` makes both sides read the same rules file (``none``, the default, makes both
use no rules file: the hand rules), so the comparison is like with like whatever the lead
commits to ``src/jaxconv/rules/``. The tuning cache points at an empty folder on both sides.
``--choices-only`` adds the strategy choice (no compile) for the random and large suites.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time


def _load(src: str, rules: str):
    sys.path.insert(0, src)
    os.environ["JAXCONV_CACHE_DIR"] = tempfile.mkdtemp(prefix="ab13-cache-")
    import jax

    jax.config.update("jax_platforms", "cpu")
    import jaxconv
    from jaxconv import _rules

    assert jaxconv.__file__.startswith(os.path.abspath(src)), jaxconv.__file__
    fixed = None if rules == "none" else _rules.from_json(json.load(open(rules)))
    _rules.measured = lambda platform: fixed  # the same rules (or none) on both sides
    return jax, jaxconv


_META = re.compile(r",?\s*metadata=\{[^}]*\}")
# The stack-frame tables (file and function names, line numbers) that compiled HLO text
# starts with: they say where the code is, not what it computes.
_TABLE = re.compile(r"^(FileNames|FunctionNames|FileLocations|StackFrames)$|^\d+ [{\"]")
# Instruction and parameter names: %fusion.12, reduce_sum.59 (numbered as they were made).
_NAME = re.compile(r"%[A-Za-z_][\w.\-]*|\b[A-Za-z_][\w\-]*(?:\.\d+)+\b")


def normalized(text: str) -> str:
    """HLO text without metadata and stack tables, names numbered by first appearance."""
    text = _META.sub("", text)
    names: dict[str, str] = {}

    def rename(m):
        return names.setdefault(m.group(0), f"%v{len(names)}")

    lines = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("HloModule") or _TABLE.match(line):
            continue
        lines.append(_NAME.sub(rename, line))
    return "\n".join(lines)


def fingerprint(text: str) -> str:
    """A hash of :func:`normalized` HLO text."""
    return hashlib.sha1(normalized(text).encode()).hexdigest()[:12]


def measure(args) -> None:
    jax, jaxconv = _load(args.src, args.rules)
    import jax.numpy as jnp

    from jaxconv._bench import runner, suites

    rows = []
    t0 = time.time()
    pairs = suites.resolve("full")
    for suite, case in pairs:
        for layout in runner.LAYOUTS:
            if case.layouts is not None and layout not in case.layouts:
                continue
            strategy = runner.chosen_strategy(case, layout, jnp.float32)
            xs, ws = runner.shapes(case, layout)
            os_ = runner.out_shape(case, layout, jnp.float32)
            structs = [jax.ShapeDtypeStruct(s, jnp.float32) for s in (xs, ws, os_)]
            for direction in runner.DIRECTIONS:
                prog = runner.program(runner.jaxconv_impl(case, layout), direction)
                compiled = jax.jit(prog).lower(*structs).compile()
                temp = int(compiled.memory_analysis().temp_size_in_bytes)
                text = normalized(compiled.as_text())
                fp = hashlib.sha1(text.encode()).hexdigest()[:12]
                if args.hlo_dir:
                    os.makedirs(args.hlo_dir, exist_ok=True)
                    key = f"{suite}-{case.name}-{layout}-{direction}.txt"
                    with open(os.path.join(args.hlo_dir, key), "w") as f:
                        f.write(text)
                rows.append(
                    {"suite": suite, "case": case.name, "layout": layout, "direction": direction,
                     "strategy": strategy, "temp": temp, "hlo": fp}
                )  # fmt: skip
                print(f"{suite:12s} {case.name:30s} {layout} {direction:8s} {strategy:15s} "
                      f"{temp:>12d} {fp}", flush=True)  # fmt: skip
    choices = []
    if args.choices_only:
        for name in ("random", "large"):
            for case in suites.SUITES[name]:
                for layout in runner.LAYOUTS:
                    if case.layouts is not None and layout not in case.layouts:
                        continue
                    s = runner.chosen_strategy(case, layout, jnp.float32)
                    choices.append({"suite": name, "case": case.name, "layout": layout,
                                    "strategy": s})  # fmt: skip
    with open(args.out.replace(".txt", ".json"), "w") as f:
        json.dump({"src": args.src, "rules": args.rules, "rows": rows, "choices": choices}, f)
    with open(args.out, "w") as f:
        f.write(f"# src {args.src}, rules {args.rules}, {len(rows)} programs, "
                f"{len(choices)} extra choices, {time.time() - t0:.0f} s\n")  # fmt: skip
        for r in rows:
            f.write(f"{r['suite']:12s} {r['case']:30s} {r['layout']} {r['direction']:8s} "
                    f"{r['strategy']:15s} {r['temp']:>12d} {r['hlo']}\n")  # fmt: skip
        for c in choices:
            f.write(f"choice {c['suite']:14s} {c['case']:30s} {c['layout']} {c['strategy']}\n")


def compare(a_path: str, b_path: str) -> None:
    a = json.load(open(a_path.replace(".txt", ".json")))
    b = json.load(open(b_path.replace(".txt", ".json")))

    def key(r):
        return (r["suite"], r["case"], r["layout"], r["direction"])

    bm = {key(r): r for r in b["rows"]}
    same_s = same_t = same_h = 0
    diffs = []
    for r in a["rows"]:
        s = bm[key(r)]
        same_s += r["strategy"] == s["strategy"]
        same_t += r["temp"] == s["temp"]
        same_h += r["hlo"] == s["hlo"]
        if r["strategy"] != s["strategy"] or r["temp"] != s["temp"] or r["hlo"] != s["hlo"]:
            diffs.append((r, s))
    n = len(a["rows"])
    print(f"A = {a['src']}  B = {b['src']}  rules: {a['rules']} / {b['rules']}")
    print(f"programs: {n} (B has {len(b['rows'])})")
    print(f"same strategy: {same_s}/{n}; same temp bytes: {same_t}/{n}; same HLO: {same_h}/{n}")
    print(f"{'suite':12s} {'case':30s} {'layout'} {'direction':9s} {'strategy A -> B':32s} "
          f"{'temp A':>12s} {'temp B':>12s}  HLO")  # fmt: skip
    for r, s in diffs:
        strat = (
            r["strategy"]
            if r["strategy"] == s["strategy"]
            else f"{r['strategy']} -> {s['strategy']}"
        )
        hlo = "same" if r["hlo"] == s["hlo"] else "changed"
        print(f"{r['suite']:12s} {r['case']:30s} {r['layout']:6s} {r['direction']:9s} {strat:32s} "
              f"{r['temp']:>12d} {s['temp']:>12d}  {hlo}")  # fmt: skip
    bc = {(c["suite"], c["case"], c["layout"]): c["strategy"] for c in b["choices"]}
    if a["choices"]:
        diff_c = [
            c for c in a["choices"] if bc.get((c["suite"], c["case"], c["layout"])) != c["strategy"]
        ]
        print(
            f"extra choices (random, large): "
            f"{len(a['choices']) - len(diff_c)}/{len(a['choices'])} same"
        )
        for c in diff_c:
            print(
                f"  {c['suite']} {c['case']} {c['layout']}: {c['strategy']} -> "
                f"{bc.get((c['suite'], c['case'], c['layout']))}"
            )


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--src")
    p.add_argument("--out")
    p.add_argument("--rules", default="none")
    p.add_argument("--choices-only", action="store_true", help="add random/large choices")
    p.add_argument("--hlo-dir", help="write each program's normalised HLO text here")
    p.add_argument("--compare", nargs=2)
    args = p.parse_args()
    if args.compare:
        compare(*args.compare)
    else:
        measure(args)
