"""``python -m jaxconv rules``: print ``auto``'s rules, or fit new ones on a sweep."""

from __future__ import annotations

import argparse
import json
import os
import sys

EPILOG = """\
examples:
  python -m jaxconv rules                       # the rules auto uses here, as a tree
  python -m jaxconv bench --suite random --strategy all --direction fwd --out sweep
  python -m jaxconv rules --fit sweep/results.json --out rules   # fit, report held-out regret
  python -m jaxconv bench --suite random-heldout --strategy all --out heldout
  python -m jaxconv rules --evaluate heldout/results.json      # auto's regret, fwd and fwd+bwd
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``rules`` options (see ``python -m jaxconv rules --help``)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    a = parser.add_argument
    a("--platform", default=None, help="the platform whose rules to show or fit (default: "
      "jax's default backend)")  # fmt: skip
    a("--fit", nargs="+", default=None, metavar="RESULTS_JSON",
      help="fit rules on these sweep results (bench --suite random --strategy all); needs "
      "scikit-learn")  # fmt: skip
    a("--update", nargs="+", default=(), metavar="RESULTS_JSON",
      help="with --fit: runs that re-timed some strategies on some of the layers (bench "
      "--strategy NAME --match ...); their times, as ratios to the lax timed with them, "
      "replace those strategies' times")  # fmt: skip
    a("--evaluate", nargs="+", default=None, metavar="RESULTS_JSON",
      help="report auto's regret and ratio to lax on runs of bench --strategy all (e.g. "
      "--suite random-heldout --direction fwd,fwd+bwd)")  # fmt: skip
    a("--out", default="rules-out", metavar="DIR",
      help="with --fit: write DIR/<platform>.json (copy it to src/jaxconv/rules/ to ship it) "
      "and DIR/fit-report.md (default: rules-out)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from jaxconv import _policy

    platform = args.platform or _policy.platform()
    if args.evaluate is not None:
        from . import fit

        print(fit.evaluate(args.evaluate))
        return 0
    if args.fit is None:
        rules, note = _policy.rules_for(platform)
        print(note)
        print(rules.text() if rules is not None else "(no rules: the hand-written choice)")
        return 0
    missing = [p for p in (*args.fit, *args.update) if not os.path.exists(p)]
    if missing:
        print(f"rules: --fit: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    from . import fit

    report = fit.fit(args.fit, platform, updates=args.update)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{platform}.json")
    with open(path, "w") as f:
        json.dump(report.rules.to_json(), f, indent=1)
        f.write("\n")
    with open(os.path.join(args.out, "fit-report.md"), "w") as f:
        f.write(report.text)
    print(report.text)
    print(f"wrote {path} and {os.path.join(args.out, 'fit-report.md')}")
    return 0
