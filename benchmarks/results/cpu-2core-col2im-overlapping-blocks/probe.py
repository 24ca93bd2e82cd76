"""``col2im`` forced on hand-picked transposed layers (kernel a multiple of the stride), this
tree against ``OLD/src`` and lax in the same rounds (how the 1-d and ``NCHW`` limits of
``_strategies.col2im_in_blocks`` were found):

    PYTHONPATH=../../../src python probe.py OLD/src NHWC|NCHW [fwd|fwd+bwd]
"""

import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import ab_timed  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv._bench import runner, suites  # noqa: E402


def case(nd, k, s, c, o, n, side, layout):
    """PyTorch's ``ConvTranspose(k, s, p)`` with ``p = (k - s + 1) // 2``."""
    p = (k - s + 1) // 2
    spatial = (side,) * nd if isinstance(side, int) else side
    pads = ((k - 1 - p, k - 1 - p),) * nd
    return suites.Case(f"{nd}d_{k}s{s}_{c}-{o}_n{n}_{spatial}", n, spatial, c, o, (k,) * nd,
                       (s,) * nd, pads, transposed=True, layouts=(layout,))  # fmt: skip


def main(old_src, layout, direction, reps=21):
    old = ab_timed.old_package(old_src)
    cases = [case(2, 16, 8, 32, 32, 1, (14, 20), layout), case(2, 16, 8, 64, 32, 1, 13, layout),
             case(2, 16, 8, 8, 8, 1, (57, 67), layout), case(2, 4, 2, 8, 8, 3, 112, layout),
             case(2, 4, 2, 32, 32, 4, 32, layout), case(2, 4, 2, 128, 64, 8, 16, layout),
             case(1, 16, 8, 8, 16, 8, 1371, layout), case(1, 8, 4, 64, 32, 4, 500, layout),
             case(3, 4, 2, 16, 16, 1, 16, layout)]  # fmt: skip
    for cs in cases:
        args = [jax.device_put(a) for a in runner.make_inputs(cs, layout, np.float32)]
        impls = (ab_timed.impl(jaxconv, cs, layout, "col2im"),
                 ab_timed.impl(old, cs, layout, "col2im"), runner.lax_impl(cs, layout))  # fmt: skip
        fns = [runner._compile(runner.program(f, direction), *args)[0] for f in impls]
        new, before, lax = (float(np.median(t)) for t in runner.time_interleaved(fns, args, reps))
        print(f"{cs.name} {layout} {direction}: before {before / lax:.3f} after {new / lax:.3f} "
              f"ratio {new / before:.3f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "fwd")
