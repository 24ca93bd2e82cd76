"""ResNet-20 and U-Net training steps of ``--suite models``: Flax's convolutions, and
jaxconv's with ``auto``'s winograd override off (``WINOGRAD_COL2IM_FEATURES = 0``) and on
(16), timed in the same rounds. The override is read when a step is traced.

Usage: ``PYTHONPATH=src python benchmarks/results/cpu-2core-winograd-col2im/model_ab.py [ROUNDS]``
"""

import functools
import sys

import jax
import jax.numpy as jnp
from flax import nnx

from jaxconv import _policy
from jaxconv._bench import models, runner, suites

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 15
device = jax.devices()[0]
for case in suites.MODELS:
    if case.name == "mobilenetv2":  # no 3x3 dense layer of 16 or fewer input features
        continue
    batch = models.make_batch(case, jnp.float32)
    steps = []
    for features in (None, 0, 16):  # Flax, override off, on
        _policy.WINOGRAD_COL2IM_FEATURES = 16 if features is None else features
        layers = models.flax_layers() if features is None else models.jaxconv_layers()
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
