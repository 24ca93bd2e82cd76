"""`GEMM_WHOLE_BYTES` at another size, against the code as it is (A/B, interleaved).

    python whole.py candidates SEED MIB OUT.json   # programs whose pieces MIB changes
    python whole.py time OUT.json RECORDS.jsonl MIB  # time them: A (as is), B (MIB), lax
    python whole.py models MIB ROUNDS               # the models suite's training steps

A layer's program is the bench's forward+backward one (`runner.program`), with `auto`.
`candidates` traces each layer of the seed's `random` and `random-heldout` suites (not the
transposed ones) in both layouts and keeps those where a GEMM strategy's piece count in a
differentiated forward pass (`_strategies.tiles` inside `differentiated()`) differs at
MIB. `time` compiles A, B and lax, and times them in rounds whose order cycles through
all six permutations (a fixed order biased B/A by 2.5 %, see the README).
"""

import argparse
import contextlib
import itertools
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv._strategies as S
from jaxconv._bench import models as M
from jaxconv._bench.runner import (
    jaxconv_impl,
    lax_impl,
    make_inputs,
    out_shape,
    program,
    shapes,
)
from jaxconv._bench.suites import Case, random_suite, resolve_models


@contextlib.contextmanager
def whole_at(nbytes):
    """`GEMM_WHOLE_BYTES` set to `nbytes` (None: as it is) while tracing."""
    saved = S.GEMM_WHOLE_BYTES
    S.GEMM_WHOLE_BYTES = saved if nbytes is None else nbytes
    try:
        yield
    finally:
        S.GEMM_WHOLE_BYTES = saved


def candidates(seed, nbytes, path):
    tiles, changed = S.tiles, []

    def spy(name, plan, itemsize, buffer_itemsize=None):
        count = tiles(name, plan, itemsize, buffer_itemsize)
        if S._DIFFERENTIATED.get() and name in S.GEMM_BUFFERS:
            with whole_at(nbytes):
                other = tiles(name, plan, itemsize, buffer_itemsize)
            if other != count:
                need = S.temp_estimate(name, plan, buffer_itemsize or itemsize)
                changed.append((name, need / 2**20, count, other))
        return count

    S.tiles, found = spy, []
    for case in random_suite("random", seed) + random_suite("random-heldout", seed):
        if case.transposed:
            continue
        for layout in ("NHWC", "NCHW"):
            xs, ws = shapes(case, layout)
            ys = out_shape(case, layout, jnp.float32)
            args = [jax.ShapeDtypeStruct(s, jnp.float32) for s in (xs, ws, ys)]
            changed.clear()
            jax.jit(program(jaxconv_impl(case, layout), "fwd+bwd")).lower(*args)
            if changed:
                found.append(dict(case=case._asdict(), layout=layout, changed=list(changed)))
                print(case.name, layout, changed, flush=True)
    S.tiles = tiles
    with open(path, "w") as f:
        json.dump(found, f, default=list)


def _case(fields):
    return Case(
        **{k: tuple(map(_tuple, v)) if isinstance(v, list) else v for k, v in fields.items()}
    )


def _tuple(v):
    return tuple(v) if isinstance(v, list) else v


def _times(fn, args, n):
    out = []
    for _ in range(n):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        out.append(time.perf_counter() - start)
    return out


def time_programs(path, records, nbytes, rounds=18):
    with open(path) as f:
        found = json.load(f)
    for entry in found:
        case, layout = _case(entry["case"]), entry["layout"]
        args = [jnp.asarray(a) for a in make_inputs(case, layout, jnp.float32)]
        f = jaxconv_impl(case, layout)
        progs = []
        for setting in (None, nbytes):
            with whole_at(setting):
                progs.append(jax.jit(program(f, "fwd+bwd")).lower(*args).compile())
        progs.append(jax.jit(program(lax_impl(case, layout), "fwd+bwd")).lower(*args).compile())
        first = [_times(p, args, 1)[0] for p in progs]
        n = max(2, min(6, int(0.15 / max(first))))
        ts = [[], [], []]
        orders = list(itertools.permutations(range(3)))
        for r in range(rounds):
            for i in orders[r % 6]:
                ts[i] += _times(progs[i], args, n)
        a, b, lax = (float(np.median(t)) for t in ts)
        temps = [p.memory_analysis().temp_size_in_bytes for p in progs]
        rec = dict(case=case.name, layout=layout, a_ms=a * 1e3, b_ms=b * 1e3, lax_ms=lax * 1e3,
                   temp_a=temps[0], temp_b=temps[1], temp_lax=temps[2], ratio=b / a)  # fmt: skip
        with open(records, "a") as out:
            out.write(json.dumps(rec) + "\n")
        print(f"{case.name:34} {layout} B/A {b / a:.3f} A/lax {a / lax:.2f} B/lax {b / lax:.2f}"
              f" temp {temps[0] / 2**20:.1f}/{temps[1] / 2**20:.1f}/{temps[2] / 2**20:.1f} MiB",
              flush=True)  # fmt: skip


def time_models(nbytes, rounds):
    for _, case in resolve_models("models"):
        batch = M.make_batch(case, jnp.float32)
        progs, argss = [], []
        for layers, setting in ((M.jaxconv_layers(), None), (M.jaxconv_layers(), nbytes),
                                (M.flax_layers(), None)):  # fmt: skip
            graph, params, rest = M.nnx.split(M.build(case, layers), M.nnx.Param, ...)
            args = (params, rest, *batch)
            with whole_at(setting):
                progs.append(jax.jit(M.train_step(graph)).lower(*args).compile())
            argss.append(args)
        if progs[0].as_text() == progs[1].as_text():
            print(case.name, "the same program")
            continue
        ts = [[], [], []]
        orders = list(itertools.permutations(range(3)))
        for r in range(rounds):
            for i in orders[r % 6]:
                ts[i] += _times(progs[i], argss[i], 1)
        a, b, flax = (float(np.median(t)) * 1e3 for t in ts)
        temps = [p.memory_analysis().temp_size_in_bytes / 2**20 for p in progs]
        print(f"{case.name:12} A {a:.1f} ms B {b:.1f} ms flax {flax:.1f} ms  B/A {b / a:.3f}"
              f"  A/flax {a / flax:.2f} B/flax {b / flax:.2f}"
              f"  temp {temps[0]:.1f}/{temps[1]:.1f}/{temps[2]:.1f} MiB", flush=True)  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("candidates")
    c.add_argument("seed", type=int)
    c.add_argument("mib", type=float)
    c.add_argument("out")
    t = sub.add_parser("time")
    t.add_argument("found")
    t.add_argument("records")
    t.add_argument("mib", type=float)
    m = sub.add_parser("models")
    m.add_argument("mib", type=float)
    m.add_argument("rounds", type=int)
    a = parser.parse_args()
    if a.cmd == "candidates":
        candidates(a.seed, int(a.mib * 2**20), a.out)
    elif a.cmd == "time":
        time_programs(a.found, a.records, int(a.mib * 2**20))
    else:
        time_models(int(a.mib * 2**20), a.rounds)


if __name__ == "__main__":
    main()
