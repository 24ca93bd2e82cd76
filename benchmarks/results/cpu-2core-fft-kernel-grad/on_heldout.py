"""The FFT kernel gradient on the held-out layers that led to it: the forward+backward
programs of ``--strategy all`` runs (``results.json``) whose layers it changes, ``auto``
before (``FFT_KERNEL_GRAD`` infinite) and after in the same rounds, with lax and, from the
file, the fastest strategy forced then.

    python on_heldout.py results.json [...] > out.jsonl
"""

import collections
import json
import sys

import jax
import jax.numpy as jnp
import numpy as np

from jaxconv import _policy
from jaxconv._bench import fit, runner


def main(paths):
    for path in paths:
        runs = collections.defaultdict(dict)
        for r in json.load(open(path))["records"]:
            if r["direction"] == "fwd+bwd" and r["dtype"] == "float32":
                runs[(r["case"], r["layout"])][r["strategy"]] = r
        for (name, layout), by in runs.items():
            r = next(iter(by.values()))
            case = fit.case_of(r)
            plan = fit.plan_of(case, layout)
            if not _policy.fft_kernel_grad_pays(plan, jnp.float32):
                continue
            x, w, ct = (jnp.asarray(a) for a in runner.make_inputs(case, layout, jnp.float32))
            fns = []
            for threshold in (np.inf, _policy.FFT_KERNEL_GRAD):
                saved, _policy.FFT_KERNEL_GRAD = _policy.FFT_KERNEL_GRAD, threshold
                prog = runner.program(runner.jaxconv_impl(case, layout), "fwd+bwd")
                fns.append(jax.jit(prog).lower(x, w, ct).compile())
                _policy.FFT_KERNEL_GRAD = saved
            fns.append(jax.jit(runner.program(runner.lax_impl(case, layout), "fwd+bwd")))
            for f in fns:
                jax.block_until_ready(f(x, w, ct))
            ts = [float(np.median(t)) * 1e3 for t in runner.time_interleaved(fns, (x, w, ct), 7)]
            best = min(by, key=lambda s: by[s]["jaxconv_ms"])
            rec = dict(case=name, layout=layout, suite=r["suite"], before_ms=ts[0],
                       after_ms=ts[1], lax_ms=ts[2], after_over_before=ts[1] / ts[0],
                       fastest_then=best, fastest_then_over_lax=by[best]["ratio"])  # fmt: skip
            print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
