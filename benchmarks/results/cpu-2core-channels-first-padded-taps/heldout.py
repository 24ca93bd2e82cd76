"""Forward and forward+backward time of ``auto`` on the channels-first layers of one input
feature per group with more than 9 taps and unit strides (those whose fused loop now reads
slices of the input padded once) in fresh random-suite draws, the code before and after,
compiled side by side and timed in the same rounds (order rotating). One JSON line per
program: ms before and after, XLA temp bytes, and whether the compiled programs differ.

    git worktree add --detach /tmp/old <before>
    python heldout.py /tmp/old/src OUT.jsonl SEED_FROM SEED_TO
"""

import json
import os
import shutil
import sys
import tempfile
import time

import jax
import numpy as np

import jaxconv
from jaxconv._bench import runner, suites

REPS = 9


def old_package(src):
    root = tempfile.mkdtemp(prefix="jaxconv-old-")
    shutil.copytree(os.path.join(src, "jaxconv"), os.path.join(root, "jaxconv_old"))
    sys.path.insert(0, root)
    import jaxconv_old

    return jaxconv_old


def impl(mod, case, layout):
    dn = runner.dimension_numbers(case, layout)
    return lambda x, w: mod.conv_general_dilated(
        x, w, case.strides, case.padding, case.lhs_dilation, case.dilation,
        dimension_numbers=dn, feature_group_count=case.groups,
    )  # fmt: skip


def measure(case, layout, direction, old):
    """The record of one program: both trees', timed together."""
    args = [jax.device_put(a) for a in runner.make_inputs(case, layout, np.float32)]
    programs = [runner.program(impl(m, case, layout), direction) for m in (jaxconv, old)]
    compiled = [runner._compile(p, *args) for p in programs]
    fns = [c for c, _, _ in compiled]
    got, want = (jax.block_until_ready(f(*args)) for f in fns)
    scale = max(float(np.max(np.abs(np.asarray(w)))) for w in want)
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(got, want, strict=True))  # fmt: skip
    times = [[], []]
    for rep in range(REPS):
        for k in (rep % 2, 1 - rep % 2):
            t = time.perf_counter()
            jax.block_until_ready(fns[k](*args))
            times[k].append(time.perf_counter() - t)
    after, before = (float(np.median(t)) * 1e3 for t in times)
    texts = [runner.program_text(f) for f in fns]
    return dict(case=case.name, layout=layout, direction=direction, rank=case.rank,
                taps=int(np.prod(case.kernel)), batch=case.batch, features=case.in_channels,
                before_ms=before, after_ms=after, after_over_before=after / before,
                temp_before=compiled[1][2], temp_after=compiled[0][2],
                changed=texts[0] != texts[1], rel_diff=diff / max(scale, 1e-30))  # fmt: skip


def main():
    old = old_package(sys.argv[1])
    with open(sys.argv[2], "a") as out:
        for seed in range(int(sys.argv[3]), int(sys.argv[4])):
            for suite in ("random", "random-small"):
                for case in suites.random_suite(suite, seed):
                    one_feature = case.groups == case.in_channels
                    unit = all(s == 1 for s in case.strides) and not case.transposed
                    layouts = case.layouts or ("NHWC", "NCHW")
                    if not (one_feature and unit and np.prod(case.kernel) > 9) or (
                        case.dtype is not None or "NCHW" not in layouts
                    ):
                        continue
                    for direction in ("fwd", "fwd+bwd"):
                        rec = dict(suite=f"{suite}@{seed}", **measure(case, "NCHW", direction, old))
                        out.write(json.dumps(rec) + "\n")
                        out.flush()
                        print(f"{rec['suite']} {case.name} {direction}: "
                              f"{rec['after_over_before']:.2f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
