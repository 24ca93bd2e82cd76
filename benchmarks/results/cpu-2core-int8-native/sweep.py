"""int8 x int8 -> int32 on the random suite's layers: every strategy multiplying the int8
inputs natively and through the exact float32 path, against lax, interleaved.

Run from the repository's root: ``PYTHONPATH=src python <this file> 0 60 times.jsonl``.
"""

import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxconv import _strategies
from jaxconv._bench import runner, suites


def float32_path(name, plan, dtype):
    # The float32 path as it was before int8 ran natively: every strategy but winograd.
    return name != "winograd" and _strategies.exact_in_float32(plan, dtype)


def native(name, plan, dtype):
    return False


def main(start: int, stop: int, path: str) -> None:
    saved = _strategies.in_float32
    with open(path, "a") as out:
        for case in suites.random_layers()[start:stop]:
            case = case._replace(dtype="int8")
            layout = case.layouts[0]
            x, w, _ = (jnp.asarray(a) for a in runner.make_inputs(case, layout, np.int8))
            fns = {"lax": jax.jit(runner.lax_impl(case, layout))}
            want = np.asarray(fns["lax"](x, w))
            for mode, rule in (("f32", float32_path), ("i8", native)):
                _strategies.in_float32 = rule  # read when each program is traced
                for name in runner.strategies_for(case, layout):
                    if name == "fft" or (name == "winograd" and mode == "f32"):
                        continue
                    f = jax.jit(runner.jaxconv_impl(case, layout, name))
                    got = np.asarray(f(x, w))
                    assert (got == want).all(), (case.name, name, mode)
                    fns[f"{name}/{mode}"] = f
            _strategies.in_float32 = saved
            once = time.perf_counter()
            jax.block_until_ready(fns["lax"](x, w))
            once = time.perf_counter() - once
            reps = max(3, min(9, int(0.5 / max(once * len(fns), 1e-4))))
            times = {k: [] for k in fns}
            for _ in range(reps):
                for k, f in fns.items():
                    t = time.perf_counter()
                    jax.block_until_ready(f(x, w))
                    times[k].append(time.perf_counter() - t)
            med = {k: float(np.median(v)) for k, v in times.items()}
            ratio = {k: v / med["lax"] for k, v in med.items()}
            out.write(json.dumps(dict(case=case.name, layout=layout, reps=reps, ratio=ratio,
                                      lax_ms=med["lax"] * 1e3)) + "\n")  # fmt: skip
            print(case.name, layout, f"lax {med['lax'] * 1e3:.2f} ms", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
