"""Compiled temp (XLA's defaults) of ``auto``'s forward pass, an old tree against this one, on
every program of the random suites that runs in pieces of images.

    python temps.py random,random-heldout,random-large 9100 9103 <old src> > temps.jsonl
"""

import json
import os
import shutil
import sys
import tempfile

import jax
import jax.numpy as jnp

import jaxconv
from jaxconv import _policy, _strategies
from jaxconv._bench import fit

root = tempfile.mkdtemp()
shutil.copytree(os.path.join(sys.argv[4], "jaxconv"), os.path.join(root, "jaxconv_old"))
sys.path.insert(0, root)
import jaxconv_old  # noqa: E402

suites, seeds = sys.argv[1].split(","), range(int(sys.argv[2]), int(sys.argv[3]))
for suite, case, layout, plan in fit.float_plans(suites, seeds):
    if plan.is_empty:
        continue
    name = _policy.choose(plan, "float32", decide_layout=True)
    p = _policy.in_layout(plan, name)
    if not (_strategies.tiles(name, p, 4) > 1 and p.batch > 1):
        continue
    sp = "DHW"[3 - plan.num_spatial :]
    n, c, o, k = plan.batch, plan.in_features, plan.out_features, plan.kernel
    if layout == "NHWC":
        dn = ("N" + sp + "C", sp + "IO", "N" + sp + "C")
        xs, ws = (n, *plan.in_spatial, c), (*k, plan.group_in, o)
    else:
        dn = ("NC" + sp, "OI" + sp, "NC" + sp)
        xs, ws = (n, c, *plan.in_spatial), (o, plan.group_in, *k)
    kw = dict(
        window_strides=plan.strides,
        padding=[tuple(p) for p in plan.pads],
        lhs_dilation=plan.lhs_dilation,
        rhs_dilation=plan.rhs_dilation,
        dimension_numbers=dn,
        feature_group_count=plan.feature_groups,
    )
    x, w = jax.ShapeDtypeStruct(xs, jnp.float32), jax.ShapeDtypeStruct(ws, jnp.float32)
    temps = []
    for mod in (jaxconv_old, jaxconv):
        f = jax.jit(lambda x, w, mod=mod, kw=kw: mod.conv_general_dilated(x, w, **kw))
        temps.append(f.lower(x, w).compile().memory_analysis().temp_size_in_bytes / 2**20)
    rec = dict(suite=suite, case=case.name, layout=layout, name=name, xs=xs, ws=ws, kw=kw)
    print(json.dumps(dict(rec, old=temps[0], new=temps[1])), flush=True)
