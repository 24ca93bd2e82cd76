"""Whether two jaxconv trees compile the same differentiated program: per line of a
programs file (``<suite>@<seed> <case> <layout> fwd+bwd``), the optimised HLO of the
gradient of ``sum(y**2)`` with respect to input and kernel, names and metadata stripped,
and its temp bytes, for the old tree (copied in as ``jaxconv_old``) and this one.

    python same_hlo.py OLD_SRC programs.txt
"""

import os
import re
import shutil
import sys
import tempfile

import jax
import jax.numpy as jnp

import jaxconv
from jaxconv._bench import runner, suites

root = tempfile.mkdtemp()
shutil.copytree(os.path.join(sys.argv[1], "jaxconv"), os.path.join(root, "jaxconv_old"))
sys.path.insert(0, root)
import jaxconv_old  # noqa: E402


def normalised(text):
    text = re.sub(r", metadata=\{[^}]*\}|stack_frame_id=\d+", "", text)
    text = re.sub(r"(\.|_)\d+\b", "", text)
    lines = (line.strip() for line in text.splitlines())
    return sorted(x for x in lines if x and "file_name_id" not in x and not re.match(r"\d+ ", x))


same = 0
lines = [line.split() for line in open(sys.argv[2]) if line.strip()]
for suite, name, layout, _ in lines:
    base, seed = suite.split("@")
    case = next(c for c in suites.random_suite(base, int(seed)) if c.name == name)
    xs, ws = runner.shapes(case, layout)
    dn = runner.dimension_numbers(case, layout)
    x, w = (jax.ShapeDtypeStruct(s, jnp.float32) for s in (xs, ws))
    got = []
    for mod in (jaxconv_old, jaxconv):

        def loss(x, w, mod=mod, case=case, dn=dn):
            y = mod.conv_general_dilated(
                x, w, case.strides, case.padding, case.lhs_dilation, case.dilation,
                dimension_numbers=dn, feature_group_count=case.groups,
            )  # fmt: skip
            return (y**2).sum()

        compiled = jax.jit(jax.grad(loss, (0, 1))).lower(x, w).compile()
        got.append((compiled.memory_analysis().temp_size_in_bytes, normalised(compiled.as_text())))
    same += got[0] == got[1]
    print(name, "identical" if got[0] == got[1] else "DIFFERENT", got[0][0], got[1][0])
print("identical", same, "different", len(lines) - same)
