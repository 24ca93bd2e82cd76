"""Dense 3x3 stride-1 layers timed with lax, ``col2im``, ``winograd`` (and more), forced.

    PYTHONPATH=../../../src python sweep.py sweep 9850 70 fwd sw-9850-fwd.jsonl
    PYTHONPATH=../../../src python sweep.py sweep 9851 45 fwd+bwd sw-9851-grad.jsonl
    PYTHONPATH=../../../src python sweep.py changed 9853 40 fwd ho-9853-fwd.jsonl

``sweep``: layers of 16-256 features on 24-320 maps, batch 1-16, NHWC or NCHW; the
strategy ``auto`` runs and five more are timed. ``changed`` (held out): layers of 17-512
input and 8-512 output features on 8-320 maps, batch 1-32, kept where
``_policy._winograd_over_col2im`` changes ``auto``'s choice; ``col2im``, ``winograd`` timed.
"""

import json
import math
import sys
from unittest import mock

import jax
import numpy as np

from jaxconv import _policy
from jaxconv._bench import runner, suites


def time_case(case, layout, direction, strategies, reps):
    """Medians over ``reps`` interleaved rounds, each as a ratio to lax's."""
    args = [jax.device_put(a) for a in runner.make_inputs(case, layout, np.float32)]
    impls = [("lax", runner.lax_impl(case, layout))]
    impls += [(s, runner.jaxconv_impl(case, layout, s)) for s in strategies]
    fns = [runner._compile(runner.program(f, direction), *args)[0] for _, f in impls]
    times = runner.time_interleaved(fns, args, reps)
    med = {name: float(np.median(t)) for (name, _), t in zip(impls, times, strict=True)}
    auto = runner.chosen_strategy(case, layout, np.float32, "auto", direction)
    rec = dict(case=case.name, layout=layout, dir=direction, lax_ms=1e3 * med["lax"], auto=auto)
    rec.update({k: v / med["lax"] for k, v in med.items() if k != "lax"})
    print(json.dumps(rec), flush=True)
    return rec


def auto_choice(case, layout, direction, rule=True):
    if rule:
        return runner.chosen_strategy(case, layout, np.float32, "auto", direction)
    with mock.patch.object(_policy, "_winograd_over_col2im", lambda plan, name, *_: name):
        return runner.chosen_strategy(case, layout, np.float32, "auto", direction)


def draw(rng, held_out):
    if held_out:
        c = round(2 ** rng.uniform(math.log2(17), 9))
        o = round(2 ** rng.uniform(3, 9))
        side = round(2 ** rng.uniform(3, math.log2(320)))
        n = int(2 ** rng.integers(0, 6))
    else:
        feats = [16, 24, 32, 48, 64, 96, 128, 192, 256]
        c, o = int(rng.choice(feats)), int(rng.choice(feats))
        side = round(2 ** rng.uniform(math.log2(24), math.log2(320)))
        n = int(2 ** rng.integers(0, 5))
    w = round(side * 2 ** rng.uniform(-0.3, 0.3))
    return c, o, n, side, w


def main(mode, seed, count, direction, out):
    rng = np.random.default_rng(seed)
    held_out = mode == "changed"
    with open(out, "a") as fh:
        i = 0
        while i < count:
            c, o, n, h, w = draw(rng, held_out)
            elems = n * h * w * max(c, o)
            if elems > 12e6 or elems < (1e4 if held_out else 2e5):
                continue
            layout = str(rng.choice(["NHWC", "NCHW"]))
            name = f"{'h' if held_out else 'w'}{seed}_{i:03d}_{c}-{o}_n{n}_{h}x{w}"
            pads = ((1, 1), (1, 1))
            case = suites.Case(name, n, (h, w), c, o, (3, 3), (1, 1), pads)
            if held_out:
                old = auto_choice(case, layout, direction, rule=False)
                new = auto_choice(case, layout, direction)
                if old == new:
                    continue
                strategies = sorted({old, new, "winograd", "col2im"})
            else:
                auto = auto_choice(case, layout, direction)
                strategies = sorted({auto, "winograd", "col2im", "taps", "rows", "im2col"})
            rec = time_case(case, layout, direction, strategies, 9 if held_out else 7)
            rec.update(n=n, h=h, w=w, c=c, o=o)
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            i += 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
