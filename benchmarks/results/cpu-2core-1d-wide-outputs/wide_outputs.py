"""1-d channels-last layers of 2-8 input features and 24-192 output features on long
sequences: the strategies forced (``sweep``), and ``auto`` against an older tree on drawn
layers where the two choose differently (``ab``). See README.md.

    python wide_outputs.py sweep OUT.jsonl SEED COUNT
    python wide_outputs.py ab OLD_SRC OUT.jsonl SEED COUNT

Run from the repository root with the project's environment.
"""

import json
import os
import shutil
import sys
import tempfile

import jax.numpy as jnp
import numpy as np

import jaxconv

sys.path.insert(0, "benchmarks/results/cpu-2core-1d-few-features")
from one_d_few_features import conv, lax, medians, program  # noqa: E402

DN = ("NWC", "WIO", "NWC")
NAMES = ("col2im", "banded", "im2col", "direct")


def sweep(out, seed, count):
    rng = np.random.default_rng(seed)
    with open(out, "a") as fh:
        for _ in range(count):
            c, o = int(rng.choice([3, 4, 5, 6, 8])), int(rng.choice([32, 48, 64, 96, 128]))
            k, d = int(rng.choice([3, 5, 7, 9, 15])), int(rng.choice([1, 1, 2]))
            total = int(rng.choice([2048, 4096, 8192, 16384, 32768, 65536]))
            n = int(rng.choice([1, 2, 4, 8]))
            length = total // n + int(rng.integers(0, 50))
            x = jnp.asarray(rng.standard_normal((n, length, c), np.float32))
            w = jnp.asarray(rng.standard_normal((k, c, o), np.float32))
            fns = [program(conv(lax, "SAME", d), False)]
            fns += [program(conv(jaxconv, "SAME", d, s), False) for s in ("auto", *NAMES)]
            t = medians(fns, (x, w))
            auto = jaxconv.chosen_strategy(x, w, (1,), "SAME", None, (d,), DN)
            rec = dict(D=d, N=n, L=length, C=c, O=o, K=k, lax=t[0], auto=auto, auto_ms=t[1])
            rec.update(zip(NAMES, t[2:], strict=True))
            fh.write(json.dumps(rec) + "\n")
            print(rec, flush=True)


def ab(old_src, out, seed, count):
    root = tempfile.mkdtemp()
    shutil.copytree(os.path.join(old_src, "jaxconv"), os.path.join(root, "jaxconv_old"))
    sys.path.insert(0, root)
    import jaxconv_old

    rng, done = np.random.default_rng(seed), 0
    with open(out, "a") as fh:
        while done < count:
            c = int(rng.choice([2, 3, 4, 5, 6, 7, 8]))
            o = int(rng.choice([24, 32, 40, 48, 64, 96, 128, 192]))
            k, d = int(rng.choice([2, 3, 4, 5, 7, 9, 11, 15])), int(rng.choice([1, 1, 1, 2, 3]))
            total = int(rng.choice([1024, 2048, 4096, 8192, 16384, 32768, 65536]))
            n = int(rng.choice([1, 2, 4, 8, 16]))
            length = max(total // n, 16) + int(rng.integers(0, 40))
            pad = str(rng.choice(["SAME", "VALID"]))
            x = jnp.asarray(rng.standard_normal((n, length, c), np.float32))
            w = jnp.asarray(rng.standard_normal((k, c, o), np.float32))
            old = jaxconv_old.chosen_strategy(x, w, (1,), pad, None, (d,), DN)
            new = jaxconv.chosen_strategy(x, w, (1,), pad, None, (d,), DN)
            if old == new:
                continue
            done += 1
            for grad in (False, True):
                fns = [program(conv(m, pad, d), grad) for m in (lax, jaxconv_old, jaxconv)]
                t = medians(fns, (x, w), reps=11)
                rec = dict(N=n, L=length, C=c, O=o, K=k, D=d, pad=pad, grad=grad, old=old,
                           new=new, lax=t[0], old_ms=t[1], new_ms=t[2])  # fmt: skip
                fh.write(json.dumps(rec) + "\n")
                print(rec, flush=True)


if __name__ == "__main__":
    cmd, *a = sys.argv[1:]
    if cmd == "sweep":
        sweep(a[0], int(a[1]), int(a[2]))
    else:
        ab(a[0], a[1], int(a[2]), int(a[3]))
