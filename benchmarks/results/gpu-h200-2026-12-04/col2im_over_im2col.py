"""auto on a GPU, scored offline on sweeps measured there: each layer's forward time with
every strategy (medians of interleaved rounds), auto's choice with the policy as it runs on
``cpu`` (the CPU rules, what GPUs got before) and on ``gpu`` (the same, with ``col2im`` in
``im2col``'s and ``winograd``'s place: ``jaxconv._policy._col2im_on_gpu``). Regret = the chosen
strategy's time / the fastest's; ratio = the chosen strategy's time / lax's (cuDNN).

    python benchmarks/results/gpu-h200-2026-12-04/col2im_over_im2col.py
"""

import collections
import json
import math
import os
import tempfile

os.environ["JAXCONV_CACHE_DIR"] = tempfile.mkdtemp()  # no tuned entries: the rules alone

from jaxconv import _policy  # noqa: E402
from jaxconv._bench import runner, suites  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SWEEPS = {
    "2026-11-30 sweep (random, the rule's evidence)": (
        [f"{HERE}/../gpu-h200/{d}/results.json" for d in ("sweep-fwd", "sweep-fwd-2")],
        "random", None,
    ),
    "held out (random-heldout, seed 5001)": (
        [f"{HERE}/heldout-5001-fwd/results.json"], "random-heldout", 5001,
    ),
}  # fmt: skip


def geomean(xs):
    return math.exp(sum(map(math.log, xs)) / len(xs))


def layers(files, suite, seed):
    """``(case, layout) -> (Case, {strategy: ms}, lax ms, kind)``."""
    cases = {c.name: c for _, c in suites.resolve(suite, seed)}
    out = {}
    for f in files:
        for r in json.load(open(f))["records"]:
            if r.get("jaxconv_ms") is not None:
                key = (r["case"], r["layout"])
                entry = out.setdefault(key, (cases[r["case"]], {}, r["lax_ms"], r["kind"]))
                entry[1][r["strategy"]] = r["jaxconv_ms"]
    return out


def choices(table, platform):
    _policy.platform = lambda: platform
    return {
        key: runner.chosen_strategy(case, key[1], "float32") for key, (case, *_) in table.items()
    }


def main():
    for label, args in SWEEPS.items():
        table = layers(*args)
        picked = {p: choices(table, p) for p in ("cpu", "gpu")}
        print(f"## {label}: {len(table)} layer-layouts\n")
        print("| policy | layers | regret geomean | p90 | ratio geomean | worst | dense ratio "
              "| dense worst |")  # fmt: skip
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        # the layers on which both choices were timed (the 2026-11-30 sweep's code ran
        # col2im on fewer plans)
        both = [k for k, v in table.items() if {picked["cpu"][k], picked["gpu"][k]} <= set(v[1])]
        for p in ("cpu", "gpu"):
            regret, ratio, dense = [], [], []
            for key in both:
                _, ms, lax_ms, kind = table[key]
                t = ms[picked[p][key]]
                regret.append(t / min(ms.values()))
                ratio.append(t / lax_ms)
                if kind == "dense":
                    dense.append(t / lax_ms)
            p90 = sorted(regret)[int(0.9 * len(regret))]
            print(f"| as on {p} | {len(regret)} | {geomean(regret):.3f} | {p90:.2f} | "
                  f"{geomean(ratio):.3f} | {max(ratio):.2f} | {geomean(dense):.3f} "
                  f"| {max(dense):.2f} |")  # fmt: skip
        fastest = collections.Counter(min(ms, key=ms.get) for _, ms, *_ in table.values())
        print(f"\nfastest strategy: {dict(fastest.most_common())}\n")
        print("| layer | layout | cpu -> gpu | time ratio | /lax before -> after |")
        print("| --- | --- | --- | ---: | --- |")
        for key, (_, ms, lax_ms, _) in table.items():
            a, b = picked["cpu"][key], picked["gpu"][key]
            if a != b and a in ms and b in ms:
                print(
                    f"| {key[0]} | {key[1]} | {a} -> {b} | {ms[b] / ms[a]:.3f} | "
                    f"{ms[a] / lax_ms:.2f} -> {ms[b] / lax_ms:.2f} |"
                )
        print()


if __name__ == "__main__":
    main()
