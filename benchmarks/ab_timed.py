"""Timed A/B of two jaxconv trees in one process: per case of ``--suite full`` (both layouts,
fwd and fwd+bwd), the old tree's jaxconv, this tree's and lax are compiled and timed in the
same rounds, in an order that rotates every round; ratios to lax of both, and after/before.

Usage:

    git worktree add /tmp/old <commit>
    python benchmarks/ab_timed.py --old /tmp/old/src --out timed.jsonl [--reps 9]
        [--programs changed.txt]

``--programs`` times only the programs a file names, one per line as ``ab_compiled.py``'s
table starts them: ``<suite> <case> <layout> <direction>``. ``--suite`` times another suite's
float cases (``--seed``: the random suites drawn from another seed), ``--match`` only those
whose name holds a substring, and ``--strategy`` makes both trees run one strategy instead
of ``auto`` (cases it cannot compute are skipped).

The old tree's package is copied to a temporary folder as ``jaxconv_old`` (its modules
import each other relatively), so both versions live side by side. Prints a markdown
summary; writes one JSON line per record.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import jax
import numpy as np
from jax import lax

import jaxconv
from jaxconv._bench import runner, suites


def old_package(src: str):
    """The jaxconv package of another tree's ``src`` folder, imported as ``jaxconv_old``."""
    root = tempfile.mkdtemp(prefix="jaxconv-ab-")
    shutil.copytree(os.path.join(src, "jaxconv"), os.path.join(root, "jaxconv_old"))
    sys.path.insert(0, root)
    import jaxconv_old

    return jaxconv_old


def impl(mod, case, layout, strategy="auto"):
    """``mod``'s (jaxconv or the old tree's) convolution of ``case`` in ``layout``."""
    dn = runner.dimension_numbers(case, layout)
    if case.transposed:
        return lambda x, w: mod.conv_transpose(
            x, w, case.strides, case.padding, dimension_numbers=dn, strategy=strategy
        )
    return lambda x, w: mod.conv_general_dilated(
        x, w, case.strides, case.padding, case.lhs_dilation, case.dilation,
        dimension_numbers=dn, feature_group_count=case.groups, strategy=strategy,
    )  # fmt: skip


def timed_pair(case, layout, direction, old, reps=9):
    """This tree's and the ``old`` package's ``auto`` program of ``case``, compiled side by
    side and timed in the same rounds (order alternating), without lax: ms before and
    after, XLA temp bytes, whether the compiled programs differ, and the largest output
    difference relative to the largest output."""
    args = [jax.device_put(a) for a in runner.make_inputs(case, layout, np.float32)]
    programs = [runner.program(impl(m, case, layout), direction) for m in (jaxconv, old)]
    compiled = [runner._compile(p, *args) for p in programs]
    fns = [c for c, _, _ in compiled]
    got, want = (jax.block_until_ready(f(*args)) for f in fns)
    scale = max(float(np.max(np.abs(np.asarray(w)))) for w in want)
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(got, want, strict=True))  # fmt: skip
    times = [[], []]
    for rep in range(reps):
        for k in (rep % 2, 1 - rep % 2):
            t = time.perf_counter()
            jax.block_until_ready(fns[k](*args))
            times[k].append(time.perf_counter() - t)
    after, before = (float(np.median(t)) * 1e3 for t in times)
    texts = [runner.program_text(f) for f in fns]
    return dict(before_ms=before, after_ms=after, after_over_before=after / before,
                temp_before=compiled[1][2], temp_after=compiled[0][2],
                changed=texts[0] != texts[1], rel_diff=diff / max(scale, 1e-30))  # fmt: skip


def medians(fns, args, reps: int) -> list[float]:
    """Milliseconds per call of each of ``fns`` on ``args`` (one warm-up call each), the
    median of ``reps`` interleaved rounds (``runner.time_interleaved``)."""
    for f in fns:
        jax.block_until_ready(f(*args))
    return [1e3 * float(np.median(t)) for t in runner.time_interleaved(fns, args, reps)]


def grad_program(f, grad: bool):
    """``f(x, w)`` jitted, or with ``grad`` the gradients of ``sum(f(x, w) ** 2)`` with
    respect to both (a step whose backward pass waits for the output)."""
    if not grad:
        return jax.jit(f)
    return jax.jit(jax.grad(lambda x, w: jax.numpy.sum(f(x, w) ** 2), argnums=(0, 1)))


def record_line(fh, rec: dict) -> None:
    """``rec`` as one JSON line of ``fh``, flushed and echoed: the held-out scripts' records
    under ``results/``."""
    fh.write(json.dumps(rec) + "\n")
    fh.flush()
    print(rec, flush=True)


def sweep_or_ab(sweep, ab, **modes) -> None:
    """The command line of a held-out script under ``results/``: ``sweep OUT SEED COUNT``
    (or another of ``modes``, named the same way) or ``ab OLD_SRC OUT SEED COUNT``."""
    mode, *rest = sys.argv[1:]
    if mode == "ab":
        ab(rest[0], rest[1], int(rest[2]), int(rest[3]))
    else:
        dict(modes, sweep=sweep)[mode](rest[0], int(rest[1]), int(rest[2]))


def old_new_lines(fh, old, program, args, reps: int, layer: dict, before: str, after: str):
    """For a layer on which the ``old`` package's ``auto`` runs ``before`` and this tree's
    ``after``: ``program(mod)`` (a function of ``args``) of lax, ``old`` and jaxconv, timed
    in the same ``reps`` rounds, forward and with both gradients (:func:`grad_program`), as
    two JSON lines of ``fh`` (``layer``'s fields first), flushed and echoed; for the held-out
    scripts under ``results/``."""
    for grad in (False, True):
        t = medians([grad_program(program(m), grad) for m in (lax, old, jaxconv)], args, reps)
        rec = dict(layer, grad=grad, before=before, after=after, lax=t[0], old_ms=t[1],
                   new_ms=t[2])  # fmt: skip
        record_line(fh, rec)


def timed_line(out, old, case, layout, direction, **fields) -> dict:
    """:func:`timed_pair` of ``case`` as one JSON line of ``out`` (``fields`` first), flushed
    and echoed, for the held-out scripts under ``results/``; the record."""
    rec = dict(fields, case=case.name, layout=layout, direction=direction,
               **timed_pair(case, layout, direction, old))  # fmt: skip
    out.write(json.dumps(rec) + "\n")
    out.flush()
    print(f"{fields.get('suite', '')} {case.name} {layout} {direction}: "
          f"{rec['after_over_before']:.2f}", flush=True)  # fmt: skip
    return rec


def forward_choice(mod, case, layout) -> str:
    """``mod``'s (jaxconv or the old tree's) ``auto`` choice for ``case`` forward in
    ``layout``, in float32."""
    x, w = (jax.ShapeDtypeStruct(s, np.float32) for s in runner.shapes(case, layout))
    return mod.chosen_strategy(
        x, w, case.strides, case.padding, case.lhs_dilation, case.dilation,
        runner.dimension_numbers(case, layout), case.groups, 1,
    )  # fmt: skip


def summary(records: list[dict]) -> str:
    if not records:
        return "no records: no case was timed"
    r = np.array([x["after_over_before"] for x in records])
    lines = [
        f"{len(records)} records; time after/before in the same rounds: median "
        f"{np.median(r):.3f}, geometric mean {np.exp(np.mean(np.log(r))):.3f}, 10th-90th "
        f"percentile {np.percentile(r, 10):.2f}-{np.percentile(r, 90):.2f}.",
        "",
        "| suite | layout | direction | cases | ratio to lax before (geomean) | after | "
        "after/before (median) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for s in dict.fromkeys(x["suite"] for x in records):
        for lay in ("NHWC", "NCHW"):
            for d in ("fwd", "fwd+bwd"):
                sel = [
                    x for x in records if (x["suite"], x["layout"], x["direction"]) == (s, lay, d)
                ]
                if not sel:
                    continue
                geo = {k: np.exp(np.mean(np.log([x[k] for x in sel]))) for k in ("before", "after")}
                med = np.median([x["after_over_before"] for x in sel])
                lines.append(f"| {s} | {lay} | {d} | {len(sel)} | {geo['before']:.2f} | "
                             f"{geo['after']:.2f} | {med:.2f} |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old", required=True, help="the old tree's src folder")
    p.add_argument("--out", required=True, help="JSON lines output")
    p.add_argument("--reps", type=int, default=9)
    p.add_argument("--programs", default=None, help="time only these programs (see above)")
    p.add_argument("--suite", default="full", help="a bench suite (default: full)")
    p.add_argument("--strategy", default="auto", help="the strategy both trees run")
    p.add_argument("--match", default=None, help="only cases whose name has this substring")
    p.add_argument("--seed", type=int, default=None, help="draw the random suites from it")
    args = p.parse_args()
    only = None
    if args.programs:
        with open(args.programs) as f:
            only = {tuple(line.split()[:4]) for line in f if line.strip()}
    old = old_package(args.old)
    records = []
    with open(args.out, "w") as out:
        for suite, case in suites.resolve(args.suite, args.seed):
            if (args.match and args.match not in case.name) or case.dtype is not None:
                continue
            for layout in case.layouts or ("NHWC", "NCHW"):
                for direction in ("fwd", "fwd+bwd"):
                    if only is not None and (suite, case.name, layout, direction) not in only:
                        continue
                    args_ = tuple(
                        jax.device_put(a) for a in runner.make_inputs(case, layout, np.float32)
                    )
                    impls = (impl(jaxconv, case, layout, args.strategy),
                             impl(old, case, layout, args.strategy),
                             runner.lax_impl(case, layout))  # fmt: skip
                    fns = [jax.jit(runner.program(f, direction)) for f in impls]
                    try:
                        outs = [jax.block_until_ready(f(*args_)) for f in fns]
                    except ValueError as e:  # a strategy that cannot compute this case
                        print(f"{suite}/{case.name} {layout} {direction}: skipped ({e})")
                        continue
                    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                               for a, b in zip(outs[0], outs[1], strict=True))  # fmt: skip
                    times = [[] for _ in fns]
                    for rep in range(args.reps):
                        for k in [(rep + j) % 3 for j in range(3)]:  # no program always first
                            t = time.perf_counter()
                            jax.block_until_ready(fns[k](*args_))
                            times[k].append(time.perf_counter() - t)
                    new, before, lax_ = (float(np.median(t)) for t in times)
                    rec = dict(suite=suite, case=case.name, layout=layout, direction=direction,
                               after=new / lax_, before=before / lax_,
                               after_over_before=new / before, max_abs_diff=diff)  # fmt: skip
                    records.append(rec)
                    out.write(json.dumps(rec) + "\n")
                    out.flush()
                    print(f"{suite}/{case.name} {layout} {direction}: before "
                          f"{rec['before']:.2f} after {rec['after']:.2f}", flush=True)  # fmt: skip
    print(summary(records))


if __name__ == "__main__":
    main()
