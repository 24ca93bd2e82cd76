"""The programs whose GEMM pieces (``jaxconv._strategies.tiles``) differ between an old tree
and this one, for ``auto``'s choice, in the forward pass alone (``fwd``) and in a
differentiated layer's forward pass (``fwd+bwd``). One line per program, as
``benchmarks/ab_timed.py --programs`` reads them (after the ``#``: strategy, pieces before
and after, batch, input spatial dims, features).

    python changed.py --old OLD/src --suites random,random-large,random-small --seeds 9860:9880
"""

import argparse
import os
import shutil
import sys
import tempfile

from jaxconv import _policy
from jaxconv._bench import fit


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--old", required=True, help="the old tree's src folder")
    p.add_argument("--suites", default="random,random-large,random-small")
    p.add_argument("--seeds", default="9860:9880", help="START:STOP")
    args = p.parse_args()
    root = tempfile.mkdtemp()
    shutil.copytree(os.path.join(args.old, "jaxconv"), os.path.join(root, "jaxconv_old"))
    sys.path.insert(0, root)
    import jaxconv_old

    import jaxconv

    start, stop = (int(v) for v in args.seeds.split(":"))
    for suite, case, layout, plan in fit.float_plans(args.suites.split(","), range(start, stop)):
        if plan.is_empty:
            continue
        name = _policy.choose(plan, "float32", decide_layout=True)
        run_plan = _policy.in_layout(plan, name)
        for direction, differentiated in (("fwd", False), ("fwd+bwd", True)):
            counts = []
            for mod in (jaxconv_old, jaxconv):
                if differentiated:
                    with mod._strategies.differentiated():
                        counts.append(mod._strategies.tiles(name, run_plan, 4))
                else:
                    counts.append(mod._strategies.tiles(name, run_plan, 4))
            if counts[0] != counts[1]:
                print(f"{suite} {case.name} {layout} {direction} # {name} {counts[0]} -> "
                      f"{counts[1]} {plan.batch} {plan.in_spatial} {plan.in_features} "
                      f"{plan.out_features}")  # fmt: skip


if __name__ == "__main__":
    main()
