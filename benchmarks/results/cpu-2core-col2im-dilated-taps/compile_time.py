"""Compile time of ``col2im`` on a transposed (input-dilated) layer, 2 images of 8 -> 32
features, full padding: ``python compile_time.py SRC K DILATION H W LAYOUT [STRATEGY]``
(``SRC``: the ``src`` folder of the tree to time; STRATEGY default ``col2im``)."""

import sys
import time

sys.path.insert(0, sys.argv[1])

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv import _plan, _policy, _strategies  # noqa: E402

k, ld, h, w_ = (int(a) for a in sys.argv[2:6])
layout = sys.argv[6]
strategy = sys.argv[7] if len(sys.argv) > 7 else "col2im"
if layout == "NCHW":
    x, w, dn = jnp.ones((2, 8, h, w_)), jnp.ones((32, 8, k, k)), ("NCHW", "OIHW", "NCHW")
else:
    x, w, dn = jnp.ones((2, h, w_, 8)), jnp.ones((k, k, 8, 32)), ("NHWC", "HWIO", "NHWC")
pads = ((k - 1, k), (k - 1, k))
kw = dict(window_strides=(1, 1), padding=pads, lhs_dilation=(ld, ld), dimension_numbers=dn)
plan = _plan.make_plan(x.shape, w.shape, **kw)
_, run = _policy.decide(plan, strategy, jnp.float32)


def conv(a, b):
    return jaxconv.conv_general_dilated(a, b, **kw, strategy=strategy)


start = time.perf_counter()
jax.jit(conv).lower(x, w).compile()
print(
    f"{k}x{k} dilation {ld} {h}x{w_} {layout}: runs channels-first {run.channels_first},"
    f" pieces {_strategies.tiles('col2im', run, 4)}, compile {time.perf_counter() - start:.1f} s"
)
