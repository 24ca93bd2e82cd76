"""Every strategy's forward and both gradients on a random draw's layers in narrow floats:
prints ERR where one raises, BAD where an output has the wrong dtype or strays more than
5 % (of the largest value) from lax's float32 result on the same rounded inputs.

    PYTHONPATH=../../../src python narrow_gradients.py random-heldout 8194 bfloat16,float16
    PYTHONPATH=../../../src python narrow_gradients.py random-transposed 8194 bfloat16 \\
        col2im,polyphase

The optional fourth argument limits the strategies forced besides ``auto``.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxconv._bench import runner, suites


def check(case, layout, dtype, strategy, inputs, want):
    x, w, ct = inputs
    f = runner.jaxconv_impl(case, layout, strategy)

    def prog(x, w, ct):
        y, vjp = jax.vjp(f, x, w)
        return (y, *vjp(ct.astype(y.dtype)))

    bad = []
    for name, got, ref, dt in zip(("y", "dx", "dw"), jax.jit(prog)(x, w, ct), want,
                                  (None, x.dtype, w.dtype), strict=True):  # fmt: skip
        if dt is not None and got.dtype != dt:
            bad.append(f"{name} dtype {got.dtype}")
        err = float(jnp.max(jnp.abs(got.astype(jnp.float32) - ref)) / jnp.max(jnp.abs(ref)))
        if not err < 0.05:
            bad.append(f"{name} err {err:.3g}")
    return bad


def main(suite, seed, dtypes, only=None):
    for case in suites.random_suite(suite, seed):
        for layout in case.layouts:
            x32, w32, ct32 = runner.make_inputs(case, layout, np.float32)
            if x32.size * 4 > 64e6:
                continue
            for dtype in dtypes:
                inputs = [jnp.asarray(a, dtype) for a in (x32, w32, ct32)]
                x, w, ct = (a.astype(jnp.float32) for a in inputs)
                y, vjp = jax.vjp(runner.lax_impl(case, layout), x, w)
                want = (y, *vjp(ct))
                names = [s for s in runner.strategies_for(case, layout) if not only or s in only]
                for strategy in ["auto", *names]:
                    try:
                        bad = check(case, layout, dtype, strategy, inputs, want)
                    except Exception as e:  # noqa: BLE001 - report, go on
                        print("ERR", case.name, layout, dtype, strategy, type(e).__name__,
                              str(e).splitlines()[0][:200], flush=True)  # fmt: skip
                        continue
                    if bad:
                        print("BAD", case.name, layout, dtype, strategy, bad, flush=True)
        print("done", case.name, flush=True)


if __name__ == "__main__":
    only = sys.argv[4].split(",") if len(sys.argv) > 4 else None
    main(sys.argv[1], int(sys.argv[2]), [jnp.dtype(d) for d in sys.argv[3].split(",")], only)
