"""One stored layer forward and backward, strategies forced, in two programs timed in the
same rounds: the bench's (``runner.program``: the output and the VJP of a cotangent given
as an input, so XLA may run the backward pass beside the forward one) and the gradient of
``sum(y**2)`` (the cotangent ``2y`` depends on the output, as in a training step).

    python dependent_step.py SEED CASE LAYOUT grouped,taps,im2col
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxconv._bench import runner, suites


def main(seed, name, layout, names):
    case = next(c for _, c in suites.resolve("random-heldout", seed) if c.name == name)
    args = [jax.device_put(a) for a in runner.make_inputs(case, layout, np.float32)]

    def forms(s):
        f = runner.jaxconv_impl(case, layout, s)

        def dependent(x, w, ct):
            del ct
            return jax.grad(lambda x, w: jnp.sum(f(x, w) ** 2), argnums=(0, 1))(x, w)

        return {"bench (cotangent an input)": jax.jit(runner.program(f, "fwd+bwd")),
                "grad of sum(y**2)": jax.jit(dependent)}  # fmt: skip

    programs = {s: forms(s) for s in names}
    for form in programs[names[0]]:
        fns = [programs[s][form] for s in names]
        for f in fns:
            jax.block_until_ready(f(*args))
        times = runner.time_interleaved(fns, args, 9)
        ms = "  ".join(f"{s}={1e3 * np.median(t):.2f}" for s, t in zip(names, times, strict=True))
        print(f"{name} {layout} {form}: {ms} ms", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].split(","))
