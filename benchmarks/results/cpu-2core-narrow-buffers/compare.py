"""The programs of a random draw that compile differently in two trees, in one dtype, and
their times (old, new and lax in the same rounds):

    PYTHONPATH=../../../src python compare.py list OLD/src SEED DTYPE > programs.txt
    PYTHONPATH=../../../src python compare.py time OLD/src DTYPE programs.txt > timed.jsonl

``list`` compiles every program (forward, and forward+backward where the dtype is a float)
of ``random-heldout`` drawn from ``SEED`` with both trees and prints
those whose optimised HLO differs, with both trees' temp bytes.
"""

import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

import jaxconv
from jaxconv._bench import runner, suites

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [
    os.path.join(HERE, "..", ".."),
    os.path.join(HERE, "..", "cpu-2core-col2im-output-major-kernel"),
]
import ab_timed  # noqa: E402
import changed  # noqa: E402


def _impl(mod, case, layout, dtype):
    """``mod``'s (jaxconv, the old tree's or lax) convolution of ``case``; integers summed in
    int32 (``preferred_element_type``), where int8 runs natively on CPU."""
    pet = jnp.int32 if jnp.issubdtype(dtype, jnp.integer) else None
    return lambda x, w: mod.conv_general_dilated(
        x, w, case.strides, case.padding, case.lhs_dilation, case.dilation,
        dimension_numbers=runner.dimension_numbers(case, layout),
        feature_group_count=case.groups, preferred_element_type=pet,
    )  # fmt: skip


def _programs(mods, case, layout, direction, dtype):
    return [runner.program(_impl(m, case, layout, dtype), direction) for m in mods]


def _directions(dtype):
    return ("fwd", "fwd+bwd") if jnp.issubdtype(dtype, jnp.floating) else ("fwd",)


def list_programs(old_src, seed, dtype):
    old = ab_timed.old_package(old_src)
    dtype = jnp.dtype(dtype)
    counts = {True: 0, False: 0}
    for suite in ("random-heldout",):
        for sname, case in suites.resolve(suite, seed):
            if case.transposed:
                continue
            for layout in case.layouts or ("NHWC", "NCHW"):
                inputs = runner.make_inputs(case, layout, dtype)
                args = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in inputs]
                for direction in _directions(dtype):
                    texts, temps = [], []
                    for f in _programs((jaxconv, old), case, layout, direction, dtype):
                        c = jax.jit(f).lower(*args).compile()
                        texts.append(changed.fingerprint(c.as_text()))
                        temps.append(c.memory_analysis().temp_size_in_bytes)
                    same = texts[0] == texts[1]
                    counts[same] += 1
                    if not same:
                        print(sname, case.name, layout, direction, temps[1], temps[0], flush=True)
    print(f"# alike: {counts[True]}, different: {counts[False]}", file=sys.stderr)


def time_programs(old_src, dtype, programs, reps=9):
    old = ab_timed.old_package(old_src)
    dtype = jnp.dtype(dtype)
    for line in open(programs):
        if line.startswith("#") or not line.strip():
            continue
        sname, cname, layout, direction, temp_old, temp_new = line.split()
        suite, seed = sname.split("@")
        case = next(c for _, c in suites.resolve(suite, int(seed)) if c.name == cname)
        args = [jax.device_put(a) for a in runner.make_inputs(case, layout, dtype)]
        mods = (old, jaxconv, jax.lax)
        fns = [jax.jit(f) for f in _programs(mods, case, layout, direction, dtype)]
        for f in fns:
            jax.block_until_ready(f(*args))
        ms = [1e3 * float(np.median(t)) for t in runner.time_interleaved(fns, args, reps)]
        rec = dict(suite=sname, case=cname, layout=layout, direction=direction,
                   dtype=dtype.name, old_ms=ms[0], new_ms=ms[1], lax_ms=ms[2],
                   new_over_old=ms[1] / ms[0], temp_old=int(temp_old),
                   temp_new=int(temp_new))  # fmt: skip
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if mode == "list":
        list_programs(rest[0], int(rest[1]), rest[2])
    else:
        time_programs(rest[0], rest[1], rest[2])
