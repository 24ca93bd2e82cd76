"""``rules --evaluate`` on a stored run of ``bench --strategy all`` with each record's
``auto_strategy`` replaced by the choice of the code checked out (the forced records stay
as measured: with ``fwd+bwd`` a strategy is forced on the forward convolution and the
gradients run ``auto``'s own choices, which this change leaves alone):

    PYTHONPATH=../../../src python relabel.py SUITE SEED RESULTS.json
"""

import json
import sys
import tempfile

from jaxconv._bench import fit, runner, suites

suite, seed, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cases = {case.name: case for _, case in suites.resolve(suite, seed)}
with open(path) as f:
    run = json.load(f)
changed = set()
for r in run["records"]:
    auto = runner.chosen_strategy(cases[r["case"]], r["layout"], r["dtype"], "auto", r["direction"])
    if auto != r["auto_strategy"]:
        changed.add((r["case"], r["layout"], r["direction"], r["auto_strategy"], auto))
        r["auto_strategy"] = auto
for row in sorted(changed):
    print(*row)
with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
    json.dump(run, f)
    f.flush()
    print(fit.evaluate([f.name]))
