"""jaxconv under ``jax.distributed``: two local CPU processes, gloo collectives, loopback only.

Each test starts its processes with a timeout; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

TIMEOUT_S = 180

# Run in each process: argv = process id, process count, coordinator address, and what is
# split over the processes: "batch" (data parallel) or "h" (the image, one halo exchange).
WORKER = r"""
import sys
import jax
import numpy as np

jax.config.update("jax_platforms", "cpu")
jax.config.update("jax_cpu_collectives_implementation", "gloo")
pid, nproc, address, split = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
jax.distributed.initialize(address, nproc, pid, initialization_timeout=60)

import jax.numpy as jnp
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import jaxconv

assert jax.process_count() == nproc and len(jax.devices()) == nproc

# One global batch (N, H, W, C) = (4, 9, 9, 3), the same in every process; kernel HWIO.
rng = np.random.default_rng(0)
x = rng.standard_normal((4, 9, 9, 3), np.float32)
w = rng.standard_normal((3, 3, 3, 5), np.float32)
ct = rng.standard_normal((4, 5, 5, 5), np.float32)

def conv(x, w):
    return jaxconv.conv2d(x, w, strides=2, padding="SAME", precision="highest")

def loss(x, w):
    return jnp.sum(conv(x, w) * ct)

# The batch (or H) on a mesh axis over every process's device; each process gives its rows.
axis = 0 if split == "batch" else 1
if split == "h":  # H = 8 over the processes: an even output (4 rows) to split
    x = rng.standard_normal((4, 8, 8, 3), np.float32)
    ct = rng.standard_normal((4, 4, 4, 5), np.float32)
mesh = Mesh(np.asarray(jax.devices()), (split,))
batched = NamedSharding(mesh, PartitionSpec(*(None,) * axis, split))
replicated = NamedSharding(mesh, PartitionSpec())
rows = x.shape[axis] // nproc
mine = np.take(x, np.arange(pid * rows, (pid + 1) * rows), axis=axis)
gx = jax.make_array_from_process_local_data(batched, mine, x.shape)
gw = jax.make_array_from_process_local_data(replicated, w, w.shape)
assert not gx.is_fully_addressable

y = jax.jit(conv)(gx, gw)
dx, dw = jax.jit(jax.grad(loss, argnums=(0, 1)))(gx, gw)
assert y.addressable_shards[0].data.shape[axis] == ct.shape[axis] // nproc
y, dx, dw = (multihost_utils.process_allgather(a, tiled=True) for a in (y, dx, dw))

# The single-process answer: the whole batch on this process's own device, and lax's.
local = jax.local_devices()[0]
xl, wl = jax.device_put(x, local), jax.device_put(w, local)
y1 = conv(xl, wl)
dx1, dw1 = jax.grad(loss, argnums=(0, 1))(xl, wl)
ref = jax.lax.conv_general_dilated(
    xl, wl, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"), precision="highest"
)
for got, want in ((y, y1), (dx, dx1), (dw, dw1), (y, ref)):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)
print(f"OK process {pid}: y {y.shape} dx {dx.shape} dw {dw.shape}", flush=True)
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_all(cmds: list[list[str]]) -> list[tuple[int, str]]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    procs = [
        subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for c in cmds
    ]
    results = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=TIMEOUT_S)
            results.append((p.returncode, out))
    except subprocess.TimeoutExpired:
        pytest.fail(f"distributed processes did not finish within {TIMEOUT_S} s")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


@pytest.mark.parametrize("split", ["batch", "h"])
def test_two_processes_get_the_single_process_answer(split):
    address = f"127.0.0.1:{_free_port()}"
    cmds = [[sys.executable, "-c", WORKER, str(i), "2", address, split] for i in range(2)]
    for i, (code, out) in enumerate(_run_all(cmds)):
        assert code == 0, f"process {i}:\n{out}"
        assert f"OK process {i}" in out


def test_bench_processes_runs_the_sharded_cases(tmp_path):
    cmd = [sys.executable, "-m", "jaxconv", "bench", "--suite", "smoke", "--processes", "2",
           "--spatial-shard", "--direction", "fwd+bwd", "--layout", "NHWC", "--reps", "2",
           "--timeout", str(TIMEOUT_S - 20), "--out", str(tmp_path)]  # fmt: skip
    ((code, out),) = _run_all([cmd])
    assert code == 0, out
    with open(tmp_path / "results.json") as f:
        records = json.load(f)["records"]
    assert [(r["suite"], r["sharded"]) for r in records] == [
        ("data-parallel", "batch"),
        ("spatial-shard", "spatial"),
    ]
    for r in records:
        assert r["num_processes"] == 2 and r["num_devices"] == 2
        assert r["max_rel_error"] <= r["tolerance"]
        assert r["scaling"] is not None
    counts = records[1]["collectives"]
    assert counts["jaxconv"]["collective-permute"] <= counts["lax"]["collective-permute"] + 2
    assert counts["jaxconv"]["all-gather"] == 0
