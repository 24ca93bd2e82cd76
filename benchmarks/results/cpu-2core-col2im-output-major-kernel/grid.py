"""``col2im`` forced, this tree against an older one (``OLD/src``) in the same rounds, on
transposed layers with output-major kernels (``OIHW``-like or ``OHWI``-like), channels-first
or -last data, on few positions (the kernel outweighs the activations) and on more:

    PYTHONPATH=../../../src python grid.py OLD/src 21 > grid-layouts.jsonl

``grid-nchw-oihw.jsonl`` is the same on channels-first data and ``OIHW`` kernels of more
ranks and kernels (``nchw`` as the third argument); an earlier form of this script wrote it,
each record naming its layer ``g<rank>d_k<kernel>s<stride>_<C>-<O>_sp<side>``, one image.
Both grids ran against 874b581 (whose strategies 16e0bdc keeps) with ``(K, O, C)`` for
every output-major kernel, before the rule's conditions (``_strategies._gemm_kernel``).
"""

import functools
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
import ab_timed  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv._bench import runner  # noqa: E402

SPATIAL = {1: "W", 2: "HW", 3: "DHW"}
LAYOUTS = [(d, k) for d in ("first", "last") for k in ("OI", "O_I")]
LAYERS = [  # rank, kernel, stride, map side, batch, C, O
    (1, 4, 2, 16, 1, 512, 256), (1, 16, 8, 8, 1, 512, 256), (2, 2, 2, 4, 1, 512, 256),
    (2, 3, 2, 4, 1, 512, 256), (2, 4, 2, 4, 1, 512, 256), (3, 2, 2, 2, 1, 512, 256),
    (3, 3, 2, 2, 1, 256, 256), (2, 2, 2, 32, 4, 64, 32), (2, 4, 2, 32, 4, 64, 32),
    (1, 16, 8, 256, 4, 64, 64),
]  # fmt: skip
NCHW_LAYERS = [
    (nd, k, s, sp, 1, c, o)
    for nd, k, s, sp in [(1, 4, 2, 16), (1, 8, 4, 8), (1, 16, 8, 8), (1, 16, 8, 16),
                         (1, 10, 5, 16), (1, 6, 2, 16), (1, 3, 2, 16), (2, 2, 2, 4),
                         (2, 3, 2, 4), (2, 4, 2, 4), (2, 4, 4, 4), (2, 5, 2, 4), (2, 8, 4, 3),
                         (2, 2, 2, 8), (2, 3, 2, 8), (3, 2, 2, 2), (3, 3, 2, 2), (3, 4, 2, 2)]
    for c, o in [(512, 256), (256, 256)]
]  # fmt: skip


def main(old_src: str, reps: int, nchw: bool) -> None:
    old = ab_timed.old_package(old_src)
    rng = np.random.default_rng(0)
    layouts, layers = ([("first", "OI")], NCHW_LAYERS) if nchw else (LAYOUTS, LAYERS)
    for data, kern in layouts:
        for nd, k, s, sp, n, c, o in layers:
            S = SPATIAL[nd]
            lhs = f"NC{S}" if data == "first" else f"N{S}C"
            rhs = f"OI{S}" if kern == "OI" else f"O{S}I"
            xs = (n, c, *(sp,) * nd) if data == "first" else (n, *(sp,) * nd, c)
            ws = (o, c, *(k,) * nd) if kern == "OI" else (o, *(k,) * nd, c)
            x = jnp.asarray(rng.normal(size=xs), jnp.float32)
            w = jnp.asarray(rng.normal(size=ws), jnp.float32)
            p = (k - s + 1) // 2  # PyTorch's padding
            kw = dict(strides=(s,) * nd, padding=[(k - 1 - p, k - 1 - p)] * nd,
                      dimension_numbers=(lhs, rhs, lhs), strategy="col2im")  # fmt: skip
            fns = [jax.jit(functools.partial(m.conv_transpose, **kw)) for m in (jaxconv, old)]
            a, b = (np.asarray(f(x, w)) for f in fns)
            np.testing.assert_allclose(a, b, atol=1e-3 * np.abs(b).max())
            new_s, old_s = (float(np.median(t)) for t in runner.time_interleaved(fns, (x, w), reps))
            print(json.dumps(dict(dn=f"{lhs}/{rhs}", k=k, s=s, sp=sp, n=n, c=c, o=o,
                                  new=new_s * 1e3, old=old_s * 1e3,
                                  ratio=round(new_s / old_s, 3))), flush=True)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), "nchw" in sys.argv[3:])
