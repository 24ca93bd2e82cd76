"""Whether the models suite's training steps compile alike with this tree and an older one
(optimised HLO, names and metadata stripped):

    PYTHONPATH=../../../src python models_same.py OLD/src
"""

import functools
import importlib
import os
import sys

import jax
import jax.numpy as jnp
from flax import nnx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [
    os.path.join(HERE, "..", ".."),
    os.path.join(HERE, "..", "cpu-2core-col2im-output-major-kernel"),
]
import ab_timed  # noqa: E402
import changed  # noqa: E402

import jaxconv  # noqa: E402
from jaxconv._bench import models, suites  # noqa: E402


def layers(conv_module, nnx_module):
    return models.Layers(
        functools.partial(nnx_module.Conv, conv_general_dilated=conv_module.conv_general_dilated),
        functools.partial(nnx_module.ConvTranspose, conv_transpose=conv_module.conv_transpose),
    )


def main(old_src):
    old = ab_timed.old_package(old_src)
    old_nnx = importlib.import_module(old.__name__ + ".nnx")
    for case in suites.MODELS:
        prints = []
        for conv_module, nnx_module in ((jaxconv, jaxconv.nnx), (old, old_nnx)):
            graphdef, params, rest = nnx.split(
                models.build(case, layers(conv_module, nnx_module)), nnx.Param, ...
            )
            x = jax.ShapeDtypeStruct((case.batch, *case.in_hw, case.in_channels), jnp.float32)
            labels = (case.batch, *case.in_hw) if case.arch == "unet" else (case.batch,)
            y = jax.ShapeDtypeStruct(labels, jnp.int32)
            step = jax.jit(models.train_step(graphdef)).lower(params, rest, x, y).compile()
            prints.append(changed.fingerprint(step.as_text()))
        print(case.name, "identical" if prints[0] == prints[1] else "different", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
