"""ResNet-20 and U-Net training steps of ``--suite models``: Flax's convolutions, and
jaxconv's with one of ``auto``'s overrides off and on, timed in the same rounds. By default
the override is ``_policy.WINOGRAD_COL2IM_FEATURES``, off at 0 and on at 16; another
module constant of ``jaxconv._policy`` and its two values may be named instead. The
override is read when a step is traced.

Usage: ``PYTHONPATH=src python benchmarks/results/cpu-2core-winograd-col2im/model_ab.py
[ROUNDS [NAME OFF ON]]``
"""

import functools
import sys

import jax
import jax.numpy as jnp
from flax import nnx

from jaxconv import _policy
from jaxconv._bench import models, runner, suites

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
name, off_value, on_value = (
    sys.argv[2:5] if len(sys.argv) > 4 else ("WINOGRAD_COL2IM_FEATURES", 0, 16)
)
off_value, on_value = int(off_value), int(on_value)
device = jax.devices()[0]
for case in suites.MODELS:
    if case.name == "mobilenetv2":  # no dense stride-1 3x3 layer
        continue
    batch = models.make_batch(case, jnp.float32)
    steps = []
    for value in (None, off_value, on_value):  # Flax, override off, on
        setattr(_policy, name, on_value if value is None else value)
        layers = models.flax_layers() if value is None else models.jaxconv_layers()
        graphdef, params, rest = nnx.split(models.build(case, layers), nnx.Param, ...)
        call = jax.device_put((params, rest, *batch), device)
        compiled, _, _ = runner._compile(models.train_step(graphdef), *call)
        runner._timed(compiled, *call)
        steps.append(functools.partial(compiled, *call))
    fl, off, on = (runner._stats(s)[0] for s in runner.time_interleaved(steps, (), rounds))
    print(
        f"{case.name}: flax {fl:.1f} ms, override off {off:.1f} ({off / fl:.3f}), "
        f"on {on:.1f} ({on / fl:.3f}), on/off {on / off:.3f}",
        flush=True,
    )
