"""In sample: on the stored runs of every strategy (``../cpu-2core*/**/results.json``,
float32, forward and backward), ``fft``'s time over ``auto``'s on the grouped programs
where ``_policy.differentiated_grouped_fft_pays`` holds (with ``16``, groups up to 16 deep):

    PYTHONPATH=../../../src python insample.py [16]
"""

import glob
import json
import pathlib
import sys

import numpy as np

from jaxconv import _plan, _policy

if "16" in sys.argv[1:]:
    _policy.FFT_DIFFERENTIATED_GROUP_IN = (5, 16)
SPATIAL = {1: "W", 2: "HW", 3: "DHW"}
runs = {}
root = pathlib.Path(__file__).parent.parent
for path in glob.glob(str(root / "cpu-2core*" / "**" / "results.json"), recursive=True):
    with open(path) as f:
        for r in json.load(f)["records"]:
            if r["dtype"] == "float32" and r["direction"] == "fwd+bwd" and not r.get("sharded"):
                key = (path, r["suite"], r["case"], r["layout"])
                runs.setdefault(key, {})[r["strategy"]] = r
ratios = []
for key, by in sorted(runs.items()):
    r = next(iter(by.values()))
    auto = r.get("auto_strategy")
    if (
        r["kind"] != "grouped"
        or r["transposed"]
        or auto in (None, "fft")
        or not {"fft", auto} <= set(by)
    ):
        continue
    nd, first, g = r["rank"], key[3] == "NCHW", r["groups"]
    sp = SPATIAL[nd]
    dn = (f"NC{sp}", f"OI{sp}", f"NC{sp}") if first else (f"N{sp}C", f"{sp}IO", f"N{sp}C")
    c, o = r["in_channels"], r["out_channels"]
    xs = (r["batch"], c, *r["in_spatial"]) if first else (r["batch"], *r["in_spatial"], c)
    ws = (o, c // g, *r["kernel"]) if first else (*r["kernel"], c // g, o)
    padding = r["padding"] if isinstance(r["padding"], str) else [tuple(p) for p in r["padding"]]
    plan = _plan.make_plan(
        xs, ws, tuple(r["strides"]), padding, rhs_dilation=tuple(r["dilation"]),
        dimension_numbers=dn, feature_group_count=g, dtype="float32",
    )  # fmt: skip
    if _policy.differentiated_grouped_fft_pays(plan, "float32"):
        ratios.append(by["fft"]["jaxconv_ms"] / by[auto]["jaxconv_ms"])
        print(f"{ratios[-1]:.2f} {key[2]} {key[3]} ({auto}; {pathlib.Path(key[0]).parent.name})")
ratios = np.array(ratios)
print(f"{len(ratios)} programs: fft / auto {np.exp(np.log(ratios).mean()):.3f}x, "
      f"{(ratios > 1).sum()} slower, at most {ratios.max():.2f}x")  # fmt: skip
