"""Spatially sharded convolutions (``jaxconv._shard``): on 8 forced host devices, in a
subprocess, the output and both gradients against lax's, and the collectives XLA compiled,
counted in the HLO: one halo exchange per neighbour, no gathers of activations."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from jaxconv import _shard

SCRIPT = textwrap.dedent(
    r"""
    import re
    import jax, jax.numpy as jnp, numpy as np
    from jax import lax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import jaxconv

    assert jax.device_count() == 8, jax.devices()
    LINE = np.array(jax.devices())
    GRID = LINE.reshape(2, 4)
    TOL = dict(rtol=2e-5, atol=2e-5)

    def count(hlo, op):
        return len(re.findall(rf"= [^=\n]*? {op}(-start)?\(", hlo))

    def collectives(f, *args):
        compiled = jax.jit(f).lower(*args).compile()
        hlo = compiled.as_text()
        return compiled, {op: count(hlo, op) for op in ("collective-permute", "all-gather",
                                                      "all-to-all")}

    def check(label, x, w, xspec, mesh_shape, wspec=P(), *, ref=None, mode="zeros", gathers=0,
              dx_spec=None, **kw):
        # jaxconv with x sharded by xspec against lax on one device: output, value_and_grad,
        # and the collectives of both programs against lax's sharded the same way.
        mesh = Mesh(LINE.reshape(mesh_shape), ("a", "b")[: len(mesh_shape)])
        xs = jax.device_put(x, NamedSharding(mesh, xspec))
        ws = jax.device_put(w, NamedSharding(mesh, wspec))
        kw = dict(precision="highest", **kw)
        mine = lambda x, w: jaxconv.conv_general_dilated(x, w, padding_mode=mode, **kw)
        if ref is None:
            ref = lambda x, w: lax.conv_general_dilated(x, w, **kw)
        want = ref(x, w)
        ct = np.random.default_rng(1).standard_normal(want.shape).astype(np.float32)
        # A loss whose gradient needs the output (as a network's does; with a linear one
        # XLA reuses its forward halo of x for the kernel gradient, where jaxconv's second
        # op exchanges it again: 2 more permutes per split dim).
        loss = lambda f: (lambda x, w: jnp.sum(jnp.sin(f(x, w)) * ct))
        vg = lambda f: jax.value_and_grad(loss(f), argnums=(0, 1))
        fwd, counts = collectives(mine, xs, ws)
        np.testing.assert_allclose(fwd(xs, ws), want, **TOL, err_msg=label)
        grad, gcounts = collectives(vg(mine), xs, ws)
        (v, (dx, dw)), (v1, (dx1, dw1)) = grad(xs, ws), vg(ref)(x, w)
        for got, exp in ((v, v1), (dx, dx1), (dw, dw1)):
            scale = float(np.max(np.abs(exp)))  # the kernel gradient sums the whole batch
            np.testing.assert_allclose(got, exp, rtol=1e-4, atol=1e-5 * scale, err_msg=label)
        want_dx = xs.sharding if dx_spec is None else NamedSharding(mesh, dx_spec)
        assert dx.sharding.is_equivalent_to(want_dx, x.ndim), (label, dx.sharding)
        if mode == "zeros":
            _, lax_counts = collectives(ref, xs, ws)
            _, lax_gcounts = collectives(vg(ref), xs, ws)
        else:
            lax_counts = lax_gcounts = None
        for mine_c, lax_c in ((counts, lax_counts), (gcounts, lax_gcounts)):
            assert mine_c["all-to-all"] == 0 and mine_c["all-gather"] <= gathers, (label, mine_c)
            if lax_c is not None:
                assert mine_c["collective-permute"] <= lax_c["collective-permute"] + 2, (
                    label, mine_c, lax_c)
        lax_pair = lax_counts and (lax_counts["collective-permute"],
                                   lax_gcounts["collective-permute"])
        print(f"{label}: permutes {counts['collective-permute']} / "
              f"{gcounts['collective-permute']} (lax {lax_pair})", flush=True)
        return counts, gcounts

    rng = np.random.default_rng(0)
    def rand(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    NHWC = ("NHWC", "HWIO", "NHWC"); NCHW = ("NCHW", "OIHW", "NCHW")

    # The issue's cases (smaller arrays), NHWC and NCHW, dense and depthwise: the 3x3 layer
    # in all four; the dilated, 2-D-mesh and 3-D ones each in one layout per grouping.
    for dn, xspec, xspec2 in ((NHWC, P(None, "a"), P(None, "a", "b")),
                              (NCHW, P(None, None, "a"), P(None, None, "a", "b"))):
        for groups in (1, 8):
            cl = dn == NHWC
            x = rand(2, 64, 16, 8) if cl else rand(2, 8, 64, 16)
            k = lambda s: (s, s, 8 // groups, 8) if cl else (8, 8 // groups, s, s)
            tag = f"{dn[0]} groups={groups}"
            c, g = check(f"3x3 SAME {tag}", x, rand(*k(3)), xspec, (8,), window_strides=(1, 1),
                         padding="SAME", dimension_numbers=dn, feature_group_count=groups)
            assert (c["collective-permute"], g["collective-permute"]) == (2, 6), (c, g)
            if cl != (groups == 1):
                check(f"HxW on 2x4 {tag}", x, rand(*k(3)), xspec2, (2, 4),
                      window_strides=(1, 1), padding="SAME", dimension_numbers=dn,
                      feature_group_count=groups)
                continue
            check(f"5x5 dil 2 VALID {tag}", x, rand(*k(5)), xspec, (8,), window_strides=(1, 1),
                  padding="VALID", rhs_dilation=(2, 2), dimension_numbers=dn,
                  feature_group_count=groups)
            d3 = ("NDHWC", "DHWIO", "NDHWC") if cl else ("NCDHW", "OIDHW", "NCDHW")
            x3 = rand(1, 32, 6, 6, 8) if cl else rand(1, 8, 32, 6, 6)
            w3 = rand(3, 3, 3, 8 // groups, 8) if cl else rand(8, 8 // groups, 3, 3, 3)
            check(f"3-D D-sharded {tag}", x3, w3, P(*xspec, None), (8,),
                  window_strides=(1, 1, 1), padding="SAME", dimension_numbers=d3,
                  feature_group_count=groups)

    # Strides, dilation, 1-D, uneven outputs, batch and output features sharded too.
    check("stride 2 dil 2 SAME", rand(2, 64, 6, 4), rand(3, 3, 4, 5), P(None, "a"), (8,),
          window_strides=(2, 1), padding="SAME", rhs_dilation=(2, 1), dimension_numbers=NHWC)
    check("1-D stride 2 pad 1", rand(2, 64, 3), rand(3, 3, 4), P(None, "a"), (8,),
          window_strides=(2,), padding=((1, 1),), dimension_numbers=("NWC", "WIO", "NWC"))
    # 62 output rows on 8 shards: correct, but XLA gathers the uneven output once.
    check("VALID 3x3, 62 rows out", rand(2, 64, 5, 3), rand(3, 3, 3, 4), P(None, "a"), (8,),
          gathers=1, window_strides=(1, 1), padding="VALID", dimension_numbers=NHWC)
    check("batch and H", rand(4, 32, 6, 3), rand(3, 3, 3, 4), P("a", "b"), (2, 4),
          window_strides=(1, 1), padding="SAME", dimension_numbers=NHWC)
    check("H and output features", rand(2, 32, 6, 3), rand(3, 3, 3, 8), P(None, "a"), (2, 4),
          P(None, None, None, "b"), window_strides=(1, 1), padding="SAME", dimension_numbers=NHWC)
    # Sharded input features are gathered (then H is split as before); so is the input
    # gradient's.
    check("channels sharded", rand(2, 32, 6, 8), rand(3, 3, 8, 4), P(None, "b", None, "a"),
          (2, 4), gathers=2, dx_spec=P(None, "b"), window_strides=(1, 1), padding="SAME",
          dimension_numbers=NHWC)

    # Padding modes: circular wraps around the mesh.
    for mode, np_mode in (("circular", "wrap"), ("reflect", "reflect"), ("replicate", "edge")):
        def ref(x, w, np_mode=np_mode):
            xp = jnp.pad(x, ((0, 0), (2, 1), (1, 1), (0, 0)), mode=np_mode)
            return lax.conv_general_dilated(xp, w, (1, 1), "VALID", dimension_numbers=NHWC,
                                            precision="highest")
        check(f"mode {mode}", rand(2, 32, 6, 3), rand(4, 3, 3, 4), P(None, "a"), (8,),
              ref=ref, mode=mode, window_strides=(1, 1), padding=((2, 1), (1, 1)),
              dimension_numbers=NHWC)

    # Unsharded inputs never meet the partitioned op; sharded ones do.
    x, w = rand(2, 32, 6, 3), rand(3, 3, 3, 4)
    f = lambda x, w: jaxconv.conv2d(x, w, padding="SAME")
    assert "jaxconv_sharded_conv" not in str(jax.make_jaxpr(f)(x, w))
    xs = jax.device_put(x, NamedSharding(Mesh(LINE, ("a",)), P(None, "a")))
    assert "jaxconv_sharded_conv" in str(jax.make_jaxpr(f)(xs, w))

    # A shard narrower than the halo: a ValueError that says so, not a wrong answer.
    try:
        jax.jit(lambda x, w: jaxconv.conv2d(x, w, padding="SAME", dilation=4)).lower(
            jax.device_put(rand(1, 16, 4, 2), NamedSharding(Mesh(LINE, ("a",)), P(None, "a"))),
            rand(3, 3, 2, 2)).compile()
    except Exception as e:  # the partitioner's callback re-raises it
        assert "narrower than the halo" in str(e), e
        assert "ValueError" in type(e).__name__ + repr(e), repr(e)
    else:
        raise AssertionError("no error for shards of 2 rows and a halo of 4")

    # Batch-sharded grouped convolution (g = 32): XLA all-gathers it (openxla/xla#47945),
    # jaxconv does not.
    mesh = Mesh(LINE, ("a",))
    x = jax.device_put(rand(8, 8, 8, 128), NamedSharding(mesh, P("a")))
    w = jax.device_put(rand(3, 3, 4, 128), NamedSharding(mesh, P()))
    kw = dict(window_strides=(1, 1), padding="SAME", dimension_numbers=NHWC,
              feature_group_count=32, precision="highest")
    for lib, conv in (("jaxconv", jaxconv.conv_general_dilated), ("lax", lax.conv_general_dilated)):
        f = lambda x, w, conv=conv: conv(x, w, **kw)
        vg = jax.value_and_grad(lambda x, w: jnp.sum(jnp.sin(f(x, w))), argnums=(0, 1))
        gathers = [collectives(g, x, w)[1]["all-gather"] for g in (f, vg)]
        print(f"grouped g=32 batch-sharded, all-gathers fwd/grad, {lib}: {gathers}")
        if lib == "jaxconv":
            assert gathers == [0, 0], gathers
    # A shard holds little beyond its operands: at the issue's sizes, forward and
    # value_and_grad within 2x lax's temporaries + 1 MiB (before: 2.3 MiB forward on the
    # 3x3 layer, 27 MiB value_and_grad on the volume, with all taps materialised).
    def temps(x, w, spec, mesh_shape, **kw):
        mesh = Mesh(LINE.reshape(mesh_shape), ("a", "b")[: len(mesh_shape)])
        x = jax.device_put(x, NamedSharding(mesh, spec))
        w = jax.device_put(w, NamedSharding(mesh, P()))
        out = []
        for conv in (jaxconv.conv_general_dilated, lax.conv_general_dilated):
            f = lambda x, w, conv=conv: conv(x, w, **kw)
            vg = jax.value_and_grad(lambda x, w: jnp.sum(jnp.sin(f(x, w))), argnums=(0, 1))
            out.append([jax.jit(g).lower(x, w).compile().memory_analysis().temp_size_in_bytes
                        for g in (f, vg)])
        return out

    big = [("3x3 NHWC", rand(2, 256, 64, 16), rand(3, 3, 16, 16), P(None, "a"), (8,), NHWC, 1),
           ("3x3 NCHW", rand(2, 16, 256, 64), rand(16, 16, 3, 3), P(None, None, "a"), (8,),
            NCHW, 1),
           ("3x3 depthwise NHWC", rand(2, 256, 64, 16), rand(3, 3, 1, 16), P(None, "a"), (8,),
            NHWC, 16),
           ("3x3 depthwise NCHW", rand(2, 16, 256, 64), rand(16, 1, 3, 3), P(None, None, "a"),
            (8,), NCHW, 16),
           ("HxW 2x4 NHWC", rand(2, 256, 64, 16), rand(3, 3, 16, 16), P(None, "a", "b"), (2, 4),
            NHWC, 1),
           ("3-D NDHWC", rand(2, 64, 32, 32, 8), rand(3, 3, 3, 8, 8), P(None, "a"), (8,),
            ("NDHWC", "DHWIO", "NDHWC"), 1)]
    for label, x, w, spec, mesh_shape, dn, groups in big:
        (fwd, vg), (lax_fwd, lax_vg) = temps(
            x, w, spec, mesh_shape, window_strides=(1,) * (x.ndim - 2), padding="SAME",
            dimension_numbers=dn, feature_group_count=groups)
        print(f"{label} temp MiB, jaxconv / lax: forward {fwd / 2**20:.2f} / "
              f"{lax_fwd / 2**20:.2f}, value_and_grad {vg / 2**20:.2f} / {lax_vg / 2**20:.2f}")
        assert fwd <= 2 * lax_fwd + 2**20 and vg <= 2 * lax_vg + 2**20, label
    print("SHARD OK")
    """
)


TRANSFORMS = textwrap.dedent(
    r"""
    import re
    import jax, jax.numpy as jnp, numpy as np
    from jax import lax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import jaxconv

    assert jax.device_count() == 8, jax.devices()
    LINE = Mesh(np.array(jax.devices()), ("a",))
    GRID = Mesh(np.array(jax.devices()).reshape(2, 4), ("a", "b"))
    TOL = dict(rtol=1e-4, atol=1e-4)
    rng = np.random.default_rng(0)
    def rand(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    NHWC = ("NHWC", "HWIO", "NHWC")
    kw = dict(window_strides=(2, 1), padding="SAME", rhs_dilation=(1, 2), dimension_numbers=NHWC,
              precision="highest")
    mine = lambda x, w: jaxconv.conv_general_dilated(x, w, **kw)
    ref = lambda x, w: lax.conv_general_dilated(x, w, **kw)
    loss = lambda f: (lambda x, w: jnp.sum(jnp.sin(f(x, w))))

    def close(got, want, label, tol=TOL):
        for g, e in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(g, e, **tol, err_msg=label)

    w = rand(3, 3, 3, 4)
    for label, mesh, spec, shape in (("H", LINE, P(None, "a"), (2, 32, 6, 3)),
                                     ("batch", LINE, P("a"), (8, 8, 6, 3)),
                                     ("batch and H", GRID, P("a", "b"), (2, 32, 6, 3))):
        x = rand(*shape)
        xs = jax.device_put(x, NamedSharding(mesh, spec))
        assert "jaxconv_sharded_conv" in str(jax.make_jaxpr(mine)(xs, w)), label
        t = (rand(*shape), rand(*w.shape))
        jvp = lambda f: jax.jit(lambda x, w, tx, tw: jax.jvp(f, (x, w), (tx, tw)))
        close(jvp(mine)(xs, w, *t), jvp(ref)(x, w, *t), f"jvp {label}")
        _, lin = jax.linearize(mine, xs, w)
        close(lin(*t), jax.jvp(ref, (x, w), t)[1], f"linearize {label}")
        # vmap over a leading axis of x, of w, and of both.
        for axes in ((0, None), (None, 0), (0, 0)):
            xb = np.stack([x, 2 * x]) if axes[0] == 0 else x
            wb = np.stack([w, -w]) if axes[1] == 0 else w
            xbs = jax.device_put(xb, NamedSharding(mesh, P(None, *spec) if axes[0] == 0 else spec))
            vm = lambda f: jax.jit(jax.vmap(f, in_axes=axes))
            close(vm(mine)(xbs, wb), vm(ref)(xb, wb), f"vmap {axes} {label}")
        # Second order: grad of grad, a Hessian-vector product (forward over reverse).
        gg = lambda f: jax.jit(jax.grad(
            lambda x, w: jnp.sum(jax.grad(loss(f), argnums=(0, 1))(x, w)[1] ** 2), argnums=(0, 1)))
        close(gg(mine)(xs, w), gg(ref)(x, w), f"grad of grad {label}", dict(rtol=1e-3, atol=1e-3))
        hvp = lambda f: jax.jit(lambda x, w, tx, tw: jax.jvp(
            jax.grad(loss(f), argnums=(0, 1)), (x, w), (tx, tw))[1])
        close(hvp(mine)(xs, w, *t), hvp(ref)(x, w, *t), f"hvp {label}", dict(rtol=1e-3, atol=1e-3))
        # jax.grad of a vmapped convolution, and vmap of its gradient.
        vg = lambda f: jax.jit(jax.grad(lambda x, w: jnp.sum(jax.vmap(loss(f), (None, 0))(x, w))))
        close(vg(mine)(xs, np.stack([w, -w])), vg(ref)(x, np.stack([w, -w])), f"grad vmap {label}")
        gv = lambda f: jax.jit(jax.vmap(jax.grad(loss(f), argnums=1), (None, 0)))
        close(gv(mine)(xs, np.stack([w, -w])), gv(ref)(x, np.stack([w, -w])), f"vmap grad {label}")
        print(label, "ok", flush=True)

    # jacfwd and jacrev on a small case.
    x, w2 = rand(1, 16, 3, 2), rand(3, 3, 2, 2)
    xs = jax.device_put(x, NamedSharding(LINE, P(None, "a")))
    for jac in (jax.jacfwd, jax.jacrev):
        close(jax.jit(jac(mine, argnums=(0, 1)))(xs, w2), jac(ref, argnums=(0, 1))(x, w2),
              jac.__name__)

    # Inside shard_map each call convolves its own block: the ordinary path, per block, in
    # every mode (the replicated kernel's tangent meets the per-block input's).
    x = rand(8, 16, 6, 3)
    t = (rand(*x.shape), rand(*w.shape))
    for mesh, spec in ((LINE, P("a")), (GRID, P("a", "b")), (GRID, P(None, "b"))):
        xs = jax.device_put(x, NamedSharding(mesh, spec))
        def per_block(f):
            return jax.jit(jax.shard_map(f, mesh=mesh, in_specs=(spec, P()), out_specs=spec))
        assert "jaxconv_sharded_conv" not in str(jax.make_jaxpr(per_block(mine))(xs, w))
        close(per_block(mine)(xs, w), per_block(ref)(x, w), f"shard_map {spec}")
        g = lambda f: jax.jit(jax.grad(lambda x, w: jnp.sum(jnp.sin(per_block(f)(x, w))),
                                       argnums=(0, 1)))
        close(g(mine)(xs, w), g(ref)(x, w), f"shard_map grad {spec}")
        jvp = lambda f: jax.jit(lambda x, w: jax.jvp(per_block(f), (x, w), t))
        close(jvp(mine)(xs, w), jvp(ref)(x, w), f"shard_map jvp {spec}")
    # Inside shard_map with spatial_axis_names: each block is one block of the whole image
    # (its padding, its outputs), one halo exchange per neighbour; value, gradients and jvp
    # against lax on the whole image, circular padding wrapping around the mesh.
    NHWC = ("NHWC", "HWIO", "NHWC")
    for mesh, spec, names, mode, pad in (
        (GRID, P(None, "a", "b"), ("a", "b"), "zeros", "SAME"),
        (LINE, P(None, None, "a"), (None, "a"), "zeros", ((2, 0), (1, 1))),
        (GRID, P(None, ("a", "b")), (("a", "b"), None), "circular", ((1, 1), (0, 2))),
    ):
        x, w2 = rand(2, 32, 32, 3), rand(3, 3, 3, 4)
        kw = dict(window_strides=(1, 1), padding=pad, dimension_numbers=NHWC)
        def block(x, w, names=names, mode=mode, kw=kw):
            return jaxconv.conv_general_dilated(x, w, padding_mode=mode,
                                                spatial_axis_names=names, **kw)
        f = jax.jit(jax.shard_map(block, mesh=mesh, in_specs=(spec, P()), out_specs=spec))
        if mode == "zeros":
            whole = lambda x, w, kw=kw: lax.conv_general_dilated(x, w, precision="highest", **kw)
        else:
            def whole(x, w, pad=pad):
                xp = jnp.pad(x, ((0, 0), *pad, (0, 0)), mode="wrap")
                return lax.conv_general_dilated(xp, w, (1, 1), "VALID", dimension_numbers=NHWC,
                                                precision="highest")
        label = f"spatial_axis_names {names} {mode}"
        close(f(x, w2), whole(x, w2), label)
        loss = lambda g: (lambda x, w: jnp.sum(jnp.sin(g(x, w))))
        close(jax.jit(jax.grad(loss(f), argnums=(0, 1)))(x, w2),
              jax.grad(loss(whole), argnums=(0, 1))(x, w2), f"{label} grad")
        t2 = (rand(*x.shape), rand(*w2.shape))
        close(jax.jvp(f, (x, w2), t2), jax.jvp(whole, (x, w2), t2), f"{label} jvp")
        split = sum(n is not None for n in names)
        for g, most in ((f, 2 * split), (jax.value_and_grad(loss(f), argnums=(0, 1)), 4 * split)):
            hlo = jax.jit(g).lower(x, w2).compile().as_text()
            permutes = len(re.findall(r"= [^=\n]*? collective-permute(-start)?\(", hlo))
            assert permutes <= most, (label, permutes)
    # ... and clear errors: one name per spatial dim, names of the enclosing shard_map,
    # outputs the blocks divide.
    for names, spec, pad, match in (
        (("a",), P(None, "a"), "SAME", "one entry per spatial dim"),
        (("q", None), P(None, "a"), "SAME", "mesh axes of an enclosing shard_map"),
        (("a", None), P(None, "a"), ((2, 1), (1, 1)), "do not split"),
    ):
        def bad(x, w, names=names, pad=pad):
            return jaxconv.conv_general_dilated(x, w, (1, 1), pad, dimension_numbers=NHWC,
                                                spatial_axis_names=names)
        try:
            jax.jit(jax.shard_map(bad, mesh=LINE, in_specs=(spec, P()), out_specs=spec))(
                rand(2, 32, 8, 3), rand(3, 3, 3, 4))
        except ValueError as e:
            assert match in str(e), (match, e)
        else:
            raise AssertionError(f"no error for {names} {pad}")
    # With 8 devices and no shardings at all: the ordinary path, lax's answer.
    assert "jaxconv_sharded_conv" not in str(jax.make_jaxpr(mine)(x, w))
    close(jax.jit(mine)(x, w), ref(x, w), "no mesh")
    print("TRANSFORMS OK")
    """
)


def _run(script: str, done: str):
    env = dict(os.environ)
    env["XLA_FLAGS"] = env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    env["JAX_PLATFORMS"] = "cpu"
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    assert done in result.stdout


def test_sharded_convolutions_in_subprocess():
    _run(SCRIPT, "SHARD OK")


def test_transformations_of_sharded_convolutions_in_subprocess():
    # Forward mode, vmap and second order on a sharded input (spatial, batch-only, both),
    # jacfwd/jacrev, and shard_map's per-block convolutions, against lax.
    _run(TRANSFORMS, "TRANSFORMS OK")


# -- the halo arithmetic, on one device ----------------------------------------------------


def test_halo_same_3x3_is_one_row_each_way():
    h = _shard.halo(256, 8, (1, 1), 3, 1, 256, circular=False)
    assert (h.local, h.out_local, h.span, h.left, h.right, h.step) == (32, 32, 34, 1, 1, 0)
    assert (h.pad_lo, h.pad_hi, h.offset) == (0, 0, 0)


def test_halo_valid_dilated_window_slides_per_shard():
    # 5x5 dilation 2 VALID: a window of 9, 248 outputs, 31 a shard: shard j reads from
    # row 31 j, one row further back per shard than its own 32 j.
    h = _shard.halo(256, 8, (0, 0), 9, 1, 248, circular=False)
    assert (h.out_local, h.span, h.step) == (31, 39, -1)
    assert h.left == 7 and h.right == 7  # shard 7 reaches 7 rows back, shard 0 7 ahead


def test_halo_stride_2_same():
    h = _shard.halo(64, 8, (0, 1), 3, 2, 32, circular=False)
    assert (h.out_local, h.span, h.left, h.right, h.step) == (4, 9, 0, 1, 0)


def test_halo_circular_takes_the_wrapped_rows():
    zeros = _shard.halo(32, 4, (2, 1), 4, 1, 32, circular=False)
    wrap = _shard.halo(32, 4, (2, 1), 4, 1, 32, circular=True)
    assert (wrap.left, wrap.right, wrap.pad_lo, wrap.pad_hi) == (2, 1, 0, 0)
    assert (zeros.left, zeros.right) == (2, 1) and (zeros.low, zeros.high) == (2, 1)


@pytest.mark.parametrize("size,shards", [(64, 8), (60, 4), (33, 3)])
def test_halo_windows_cover_exactly_the_outputs(size, shards):
    # Every shard's windows, placed by offset + j * step in its extended block, start where
    # the whole input's would.
    for pads, window, stride in (((1, 1), 3, 1), ((0, 0), 9, 1), ((2, 2), 5, 2), ((0, 3), 4, 3)):
        out = (size + sum(pads) - window) // stride + 1
        h = _shard.halo(size, shards, pads, window, stride, out, circular=False)
        for j in range(shards):
            ext_begin = j * h.local - h.left - h.pad_lo
            begin = ext_begin + h.offset + j * h.step
            assert begin == j * h.out_local * stride - pads[0]
            assert h.offset + j * h.step >= 0
            assert (
                h.offset + j * h.step + h.span <= h.pad_lo + h.left + h.local + h.right + h.pad_hi
            )
