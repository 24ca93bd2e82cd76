"""Spatially sharded convolutions: one halo exchange per neighbour, then a local convolution.

jaxconv builds a convolution from one slice of the input per kernel tap. Left to itself,
XLA's SPMD partitioner exchanges a halo for every one of those slices when the input is
sharded along a spatial axis (21 collective-permutes for a 3x3 'SAME' layer where XLA's own
convolution needs 2). So on a mesh the convolution is one
`jax.experimental.custom_partitioning` op: the partitioner hands it the shardings it
chose, and its rule runs, per shard,

1. for every sharded spatial dim, one `lax.ppermute` from each neighbour of the border rows
   the windows of this shard's outputs reach into (their width follows from the window,
   the stride, the dilation and the padding; circular padding wraps around the mesh,
   reflect and replicate pad the first and last shard locally, zeros are what a
   `ppermute` gives a shard nobody sends to),
2. the ordinary jaxconv convolution of the extended block (any strategy, any layout).

Batch and output-feature sharding pass through; a sharded input-feature axis is gathered.
The gradients are two more such ops, the input's ``dx(ct, w)`` and the kernel's
``dw(x, ct)``, each the reverse-mode derivative of the per-shard program: the input
gradient's halo goes back the other way (the transpose of each ``ppermute``), the kernel
gradient is summed over the shards. The three are one JAX primitive, bilinear in its two
operands, whose transposes are the other two: so ``jvp``, ``grad`` and any order of either
stay partitioned ops (``custom_partitioning`` alone has no differentiation rules). Under
``vmap`` it is the ordinary unsplit convolution, vmapped (correct; the partitioner then
exchanges a halo per tap).

The op is used only where the input lives on a mesh of several devices and not inside
``shard_map`` (its aval names such a mesh, with no manual axes); everything else runs
exactly the program it ran before, and on one device the op's body is inlined. Inside
``shard_map``, ``spatial_axis_names`` names the mesh axes that split the image, and
:func:`block_conv` runs the same per-shard program on the block directly.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax._src import dispatch as _dispatch
from jax.experimental.custom_partitioning import custom_partitioning
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir
from jax.sharding import NamedSharding, PartitionSpec

from . import _grad, _policy, _strategies
from ._padding import pad_spatial
from ._plan import ConvPlan

# -- when the sharded path applies ---------------------------------------------------------


def on_mesh(x: Any) -> bool:
    """Whether ``x`` (a value being traced) lives on a mesh of more than one device, so that
    the partitioner may shard it: only then does the convolution become a partitioned op.
    Not inside ``shard_map`` (a mesh with manual axes): there each call sees its own block,
    and the convolution is the ordinary one on that block."""
    sharding = getattr(jax.typeof(x), "sharding", None)
    mesh = getattr(sharding, "mesh", None)
    if mesh is None or mesh.empty or mesh.size <= 1:
        return False
    return not getattr(mesh, "manual_axes", ())


def applies(x: Any, plan: ConvPlan) -> bool:
    """Whether :func:`convolve` computes ``plan``: ``x`` on a mesh, no input dilation, no batch
    groups (a transposed convolution's input is dilated; the partitioner handles those)."""
    return (
        on_mesh(x)
        and plan.batch_groups == 1
        and all(d == 1 for d in plan.lhs_dilation)
        and not plan.is_empty
    )


# -- the halo of one spatial dim -----------------------------------------------------------


class Halo(NamedTuple):
    """How one spatial dim of ``size`` rows split into ``shards`` blocks is exchanged.

    Shard ``j`` holds input rows ``[j*local, (j+1)*local)`` and computes outputs
    ``[j*out_local, (j+1)*out_local)``, whose windows read the padded input from
    ``j*out_local*stride - low`` for ``span`` rows. It receives ``left`` rows from shard
    ``j-1`` and ``right`` from ``j+1`` and pads ``pad_lo``/``pad_hi`` zeros beyond them (rows
    outside the input), so that its extended block starts at ``j*local - left - pad_lo``; the
    windows start ``offset + j*step`` rows into it.
    """

    shards: int
    local: int
    out_local: int
    span: int
    left: int
    right: int
    pad_lo: int
    pad_hi: int
    offset: int
    step: int
    low: int  # rows before the input (padding) that the first shard's windows read
    high: int  # rows after it that the last shard's windows read


def halo(size: int, shards: int, pads: tuple[int, int], window: int, stride: int, out: int,
         circular: bool) -> Halo:  # fmt: skip
    """The :class:`Halo` of one dim: ``size`` input rows, ``pads``, a ``window`` (dilated
    kernel extent), ``stride`` and ``out`` outputs, over ``shards`` blocks."""
    lo, _ = pads
    local = size // shards
    out_local = -(-out // shards)
    span = (out_local - 1) * stride + window
    starts = [j * out_local * stride - lo for j in range(shards)]
    ends = [s + span for s in starts]
    begins = [j * local for j in range(shards)]
    # Rows wanted from outside the shard: before and after it.
    before = max(0, max(b - s for b, s in zip(begins, starts, strict=True)))
    after = max(0, max(e - b - local for e, b in zip(ends, begins, strict=True)))
    if circular:
        left, right = before, after
    else:  # rows outside the input are padding, not a neighbour's
        left = max(0, max(b - max(s, 0) for b, s in zip(begins, starts, strict=True)))
        right = max(0, max(min(e, size) - b - local for e, b in zip(ends, begins, strict=True)))
    return Halo(
        shards, local, out_local, span, left, right, before - left, after - right,
        offset=before - lo, step=out_local * stride - local,
        low=max(0, -starts[0]), high=max(0, ends[-1] - size),
    )  # fmt: skip


class Split(NamedTuple):
    """One spatial dim of the canonical input: its axis, the mesh axes it is split over
    (empty: not split) and its :class:`Halo`."""

    axis: int
    names: tuple[str, ...]
    halo: Halo | None


def _names(entry: Any) -> tuple[str, ...]:
    if entry is None:
        return ()
    return tuple(entry) if isinstance(entry, (tuple, list)) else (entry,)


def _size(mesh: Any, names: Sequence[str]) -> int:
    return math.prod(mesh.shape[a] for a in names)


def splits(
    plan: ConvPlan, names: Sequence[tuple[str, ...]], counts: Sequence[int]
) -> tuple[Split, ...]:
    """The split of every spatial dim of ``plan``'s canonical input: dim ``d`` over the mesh
    axes ``names[d]``, ``counts[d]`` shards. A dim whose size the shards do not divide is
    not split (gathered).

    Raises:
        ValueError: a shard narrower than the rows its neighbour needs from it.
    """
    out = []
    for d, axis in enumerate(plan.spatial_axes):
        names_d, n = tuple(names[d]), counts[d]
        size = plan.in_spatial[d]
        if n <= 1 or size % n:
            out.append(Split(axis, (), None))
            continue
        h = halo(size, n, plan.pads[d], plan.window[d], plan.strides[d], plan.out_spatial[d],
                 plan.padding_mode == "circular")  # fmt: skip
        reflect = plan.padding_mode == "reflect"
        if max(h.left, h.right) > h.local or (
            plan.padding_mode in ("reflect", "replicate") and max(h.low, h.high) + reflect > h.local
        ):
            raise ValueError(
                f"spatial dim {d} of the input (size {size}) is split over mesh axes {names_d} "
                f"into {n} shards of {h.local} rows, narrower than the halo its windows need "
                f"from a neighbour ({max(h.left, h.right, h.low, h.high)} rows: window "
                f"{plan.window[d]}, stride {plan.strides[d]}, padding {plan.pads[d]} "
                f"{plan.padding_mode}); shard that dim over fewer devices or not at all."
            )
        out.append(Split(axis, names_d, h))
    return tuple(out)


# -- the per-shard program -----------------------------------------------------------------


def _take(x, axis: int, start: int, stop: int):
    return lax.slice_in_dim(x, start, stop, axis=axis)


def _exchange(x, split: Split, mode: str):
    """The block of ``x`` extended along ``split.axis`` by its neighbours' rows (one
    ``ppermute`` from each side), then cut to the rows this shard's windows read."""
    h, axis, names = split.halo, split.axis, split.names
    n, local = h.shards, h.local
    wrap = mode == "circular"
    idx = lax.axis_index(names)
    parts = []
    if h.pad_lo:
        parts.append(_zeros(x, axis, h.pad_lo))
    if h.left:  # shard j-1's last rows, to j
        perm = [(i, i + 1) for i in range(n - 1)] + ([(n - 1, 0)] if wrap else [])
        parts.append(lax.ppermute(_take(x, axis, local - h.left, local), names, perm))
    parts.append(x)
    if h.right:  # shard j+1's first rows, to j
        perm = [(i + 1, i) for i in range(n - 1)] + ([(0, n - 1)] if wrap else [])
        parts.append(lax.ppermute(_take(x, axis, 0, h.right), names, perm))
    if h.pad_hi:
        parts.append(_zeros(x, axis, h.pad_hi))
    ext = jnp.concatenate(parts, axis=axis) if len(parts) > 1 else x
    start = h.pad_lo + h.left  # where the shard's own rows begin in ext
    if mode in ("reflect", "replicate"):
        # The first and last shard pad their own edge, as the whole input would be padded.
        if h.low:
            edge = _take(pad_spatial(x, (axis,), ((h.low, 0),), padding_mode=mode), axis, 0, h.low)
            ext = _where_rows(ext, axis, start - h.low, edge, idx == 0)
        if h.high:
            padded = pad_spatial(x, (axis,), ((0, h.high),), padding_mode=mode)
            edge = _take(padded, axis, local, local + h.high)
            ext = _where_rows(ext, axis, start + local, edge, idx == n - 1)
    if h.step == 0:
        return _take(ext, axis, h.offset, h.offset + h.span)
    return lax.dynamic_slice_in_dim(ext, h.offset + idx * h.step, h.span, axis=axis)


def _zeros(x, axis: int, rows: int):
    shape = list(x.shape)
    shape[axis] = rows
    return jnp.zeros(shape, x.dtype)


def _where_rows(ext, axis: int, start: int, rows, cond):
    """``ext`` with ``rows`` in place of its rows from ``start`` where ``cond``."""
    stop = start + rows.shape[axis]
    mid = jnp.where(cond, rows, _take(ext, axis, start, stop))
    return jnp.concatenate(
        [_take(ext, axis, 0, start), mid, _take(ext, axis, stop, ext.shape[axis])], axis=axis
    )


def local_plan(plan: ConvPlan, split: Sequence[Split], batch: int, out_features: int) -> ConvPlan:
    """The plan each shard computes: a split dim's windows span the exchanged rows (no
    padding left); the others keep theirs, padded first where a padding mode asks."""
    in_spatial, out_spatial, pads = [], [], []
    for d, s in enumerate(split):
        if s.halo is not None:
            in_spatial.append(s.halo.span)
            out_spatial.append(s.halo.out_local)
            pads.append((0, 0))
        elif plan.padding_mode != "zeros":
            lo, hi = plan.pads[d]
            in_spatial.append(plan.in_spatial[d] + lo + hi)
            out_spatial.append(plan.out_spatial[d])
            pads.append((0, 0))
        else:
            in_spatial.append(plan.in_spatial[d])
            out_spatial.append(plan.out_spatial[d])
            pads.append(plan.pads[d])
    return plan._replace(
        batch=batch, out_features=out_features, in_spatial=tuple(in_spatial),
        out_spatial=tuple(out_spatial), pads=tuple(pads), padding_mode="zeros",
    )  # fmt: skip


def shard_conv(x, w, plan: ConvPlan, split: Sequence[Split], name: str, policy: str):
    """One shard's output: ``x`` (this shard's canonical block) extended by its halos along
    every split dim, padded along the others, convolved locally by strategy ``name``."""
    for s in split:
        if s.halo is not None:
            x = _exchange(x, s, plan.padding_mode)
    if plan.padding_mode != "zeros":
        rest = [(s.axis, plan.pads[d]) for d, s in enumerate(split) if s.halo is None]
        if rest:
            axes, pads = zip(*rest, strict=True)
            x = pad_spatial(x, axes, pads, padding_mode=plan.padding_mode)
    local = local_plan(plan, split, x.shape[0], w.shape[-1])
    # The gradients, too, by strategies holding little beyond their operands ('lean').
    if local.channels_first and local.is_depthwise:
        # Channels-first, XLA fuses the depthwise forward loop into each of its input
        # gradient's taps and holds the input's taps to do so (4.2-8.8 MiB against lax's
        # 0.9 on the shards, value_and_grad); channels-last it holds 1.1-1.6.
        last = local._replace(channels_first=False)
        name = local_strategy(last, name, policy, x.dtype)
        return jnp.moveaxis(_grad.convolve(jnp.moveaxis(x, 1, -1), w, last, name, "lean"), -1, 1)
    return _grad.convolve(x, w, local, local_strategy(local, name, policy, x.dtype), "lean")


def local_strategy(local: ConvPlan, name: str, policy: str, dtype: Any) -> str:
    """The strategy of a shard's convolution: the one named, or for ``'auto'`` (and
    ``'tune'``, which does not time while partitioning) :func:`jaxconv._policy.lean_choice`:
    a sharded convolution is one too large for a device; memory comes first."""
    if policy not in ("auto", "tune"):
        return name if _strategies.accepts(name, local) else "taps"
    return _policy.lean_choice(local, dtype)


def axis_counts(axis_names: Sequence[Any], num_spatial: int) -> list[tuple[tuple[str, ...], int]]:
    """Inside ``shard_map``: per spatial dim, the mesh axes named for it (``None``: not
    split) and how many blocks they make.

    Raises:
        ValueError: not one entry per spatial dim, or a name that is no mesh axis of the
            enclosing ``shard_map``.
    """
    if isinstance(axis_names, str) or len(axis_names) != num_spatial:
        raise ValueError(
            f"`spatial_axis_names` needs one entry per spatial dim ({num_spatial}: a mesh axis "
            f"name, a tuple of them, or None), got {axis_names!r}."
        )
    out = []
    for entry in axis_names:
        names = _names(entry)
        try:
            count = math.prod(lax.axis_size(a) for a in names)
        except NameError as e:
            raise ValueError(
                f"`spatial_axis_names` {axis_names!r}: {e}. They name the mesh axes of an "
                "enclosing shard_map along which the input's spatial dims are split."
            ) from None
        out.append((names, count))
    return out


def whole_shape(shape: Sequence[int], plan: ConvPlan, axis_names: Sequence[Any]) -> tuple:
    """The shape of the whole input whose block of ``shape`` (in the user's layout, of the
    block's ``plan``) this device holds inside ``shard_map``.

    Raises:
        ValueError: as :func:`axis_counts`; or the plan has input dilation or batch groups
            (a transposed convolution's input), which blocks do not support.
    """
    if any(d > 1 for d in plan.lhs_dilation) or plan.batch_groups > 1:
        raise ValueError(
            "`spatial_axis_names` does not support `lhs_dilation` or `batch_group_count` > 1 "
            f"(got {plan.lhs_dilation}, {plan.batch_groups}): convolve the gathered input."
        )
    whole = list(shape)
    for d, (_, count) in enumerate(axis_counts(axis_names, plan.num_spatial)):
        whole[plan.dn.lhs_spec[2 + d]] *= count
    return tuple(whole)


def block_conv(x, w, plan: ConvPlan, axis_names: Sequence[Any], name: str, policy: str):
    """Inside ``shard_map``: ``x`` is this block of the canonical input of ``plan`` (the
    whole input's plan), split along spatial dim ``d`` over the mesh axes
    ``axis_names[d]``; returns this block of the output, after one halo exchange per
    neighbour. Plain JAX differentiates it: the transpose of each ``ppermute`` sends the
    input gradient's halo back.

    Raises:
        ValueError: an output whose rows the blocks do not divide (``shard_map`` blocks are
            equal), or a block narrower than the halo.
    """
    counts = axis_counts(axis_names, plan.num_spatial)
    for d, (names, n) in enumerate(counts):
        if n > 1 and plan.out_spatial[d] % n:
            raise ValueError(
                f"spatial dim {d}: the output's {plan.out_spatial[d]} rows do not split into "
                f"the {n} equal blocks of mesh axes {names} (shard_map's blocks are equal); "
                "choose a padding or stride whose output the blocks divide."
            )
    split = splits(plan, [n for n, _ in counts], [c for _, c in counts])
    return shard_conv(x, w, plan, split, name, policy)


# -- the partitioned ops -------------------------------------------------------------------


class Layout(NamedTuple):
    """The shardings one partitioned call runs with, from the input's spec."""

    x: PartitionSpec
    w: PartitionSpec
    y: PartitionSpec
    split: tuple[Split, ...]
    reduce: tuple[str, ...]  # mesh axes the kernel gradient is summed over
    features: tuple[str, ...]  # mesh axes of the output features: the input gradient's sum


def layout(plan: ConvPlan, mesh: Any, x_spec: Sequence[Any], w_spec: Sequence[Any]) -> Layout:
    """The shardings the op asks for, given the partitioner's: the batch and the spatial
    dims stay split as they are (a spatial dim the shards do not divide is gathered), the
    input features are gathered, the kernel's output features stay split for ungrouped
    layers; the output follows."""
    nd = len(plan.input_shape)
    x_spec = tuple(x_spec) + (None,) * (nd - len(x_spec))
    w_spec = tuple(w_spec) + (None,) * (nd - len(w_spec))
    names = [_names(x_spec[axis]) for axis in plan.spatial_axes]
    split = splits(plan, names, [_size(mesh, n) for n in names])
    batch = x_spec[0]
    o_names = w_spec[-1] if plan.feature_groups == 1 else None
    used = set(_names(batch)) | {a for s in split for a in s.names}
    if used & set(_names(o_names)):
        o_names = None
    xs = [None] * nd
    ys = [None] * nd
    xs[0] = ys[0] = batch
    for s in split:
        xs[s.axis] = ys[s.axis] = s.names or None
    ys[plan.feature_axis] = o_names
    ws = (None,) * (nd - 1) + (o_names,)
    reduce = tuple(a for a in mesh.axis_names if a in used)
    return Layout(
        PartitionSpec(*xs), PartitionSpec(*ws), PartitionSpec(*ys), split, reduce, _names(o_names)
    )


def _local_sizes(plan: ConvPlan, mesh, lay: Layout) -> tuple[int, int]:
    batch = plan.batch // _size(mesh, _names(lay.x[0]))
    return batch, plan.out_features // _size(mesh, _names(lay.w[-1]))


def _rule(plan: ConvPlan, kind: str) -> str:
    """The Shardy rule of ``kind``: the batch shared, each spatial dim of the input with the
    output's (one factor, of the smaller size), the features of input and kernel apart."""
    n = plan.num_spatial
    sp = " ".join(f"s{d}" for d in range(n))
    ks = " ".join(f"k{d}" for d in range(n))
    if plan.channels_first:
        x, y = f"b c {sp}", f"b o {sp}"
    else:
        x, y = f"b {sp} c", f"b {sp} o"
    w = f"{ks} i o"
    return {"y": f"{x}, {w} -> {y}", "dx": f"{y}, {w} -> {x}", "dw": f"{x}, {y} -> {w}"}[kind]


def _policy_in_op(policy: str) -> str:
    return "auto" if policy == "tune" else policy  # no timing while partitioning


def _specs(arg_shapes) -> list[PartitionSpec]:
    return [
        a.sharding.spec if isinstance(a.sharding, NamedSharding) else PartitionSpec()
        for a in arg_shapes
    ]


def _padded(spec: Sequence[Any], nd: int) -> tuple[Any, ...]:
    return tuple(spec) + (None,) * (nd - len(spec))


# The three linear maps of a convolution ``y = conv(x, w)``, each one partitioned op: the
# output ``y(x, w)``, the input's cotangent ``dx(ct, w)`` and the kernel's ``dw(x, ct)``.
# Each is bilinear in its two operands and each one's transposes are the other two, so
# together they are closed under forward mode, reverse mode and any order of either.
KINDS = ("y", "dx", "dw")


def _kind_layout(kind: str, plan: ConvPlan, mesh: Any, arg_shapes) -> Layout:
    """The :class:`Layout` of a call of ``kind`` whose operands the partitioner sharded so:
    from the input's and the kernel's specs, read off the operands that stand for them (an
    output cotangent's spec stands for the input's spatial split and batch, and for the
    kernel's output features)."""
    nd = len(plan.input_shape)
    a, b = (_padded(s, nd) for s in _specs(arg_shapes))
    f = plan.feature_axis
    if kind == "y":
        x_spec, w_spec = a, b
    elif kind == "dx":
        x_spec, w_spec = a[:f] + (None,) + a[f + 1 :], b
    else:
        x_spec, w_spec = a, (None,) * (nd - 1) + (b[f],)
    return layout(plan, mesh, x_spec, w_spec)


def _local_shapes(plan: ConvPlan, mesh: Any, lay: Layout) -> tuple[tuple[int, ...], ...]:
    """One shard's blocks of the canonical input and kernel under ``lay``."""
    batch, out_features = _local_sizes(plan, mesh, lay)
    spatial = [
        s.halo.local if s.halo else n for s, n in zip(lay.split, plan.in_spatial, strict=True)
    ]
    return plan.canonical(batch, plan.in_features, spatial), (
        *plan.kernel, plan.group_in, out_features
    )  # fmt: skip


def _shard_program(kind: str, plan: ConvPlan, name: str, policy: str, mesh: Any, lay: Layout):
    """What one shard runs for ``kind``: the halo-exchanging convolution, or its derivative
    in one operand (at a zero primal, which XLA drops: the map is linear) summed over the
    mesh axes the other operand's shards contribute along."""
    x_shape, w_shape = _local_shapes(plan, mesh, lay)

    def conv(x, w):
        return shard_conv(x, w, plan, lay.split, name, policy)

    if kind == "y":
        return conv
    if kind == "dx":

        def input_cotangent(ct, w):
            _, vjp = jax.vjp(lambda x: conv(x, w), jnp.zeros(x_shape, w.dtype))
            (dx,) = vjp(ct.astype(plan.out_dtype(w.dtype)))
            return lax.psum(dx, lay.features) if lay.features else dx

        return input_cotangent

    def kernel_cotangent(x, ct):
        _, vjp = jax.vjp(lambda w: conv(x, w), jnp.zeros(w_shape, x.dtype))
        (dw,) = vjp(ct.astype(plan.out_dtype(x.dtype)))
        return lax.psum(dw, lay.reduce) if lay.reduce else dw

    return kernel_cotangent


def whole_conv(x, w, plan: ConvPlan, name: str, policy: str):
    """The unsplit convolution, as :func:`jaxconv._conv._execute` runs it: a padding mode
    pads the input first."""
    if plan.padding_mode != "zeros":
        x = pad_spatial(x, plan.spatial_axes, plan.pads, padding_mode=plan.padding_mode)
        plan = plan.mode_padded()
    return _grad.convolve(x, w, plan, name, policy)


def _result(kind: str, plan: ConvPlan, a: Any, b: Any) -> tuple[tuple[int, ...], Any]:
    """The shape and dtype of ``kind``'s result for operands like ``a`` and ``b``."""
    if kind == "y":
        return plan.output_shape, plan.out_dtype(a.dtype)
    if kind == "dx":
        return plan.input_shape, b.dtype
    return plan.kernel_shape, a.dtype


def whole(kind: str, a, b, plan: ConvPlan, name: str, policy: str):
    """``kind`` computed unsplit by the ordinary jaxconv path: the op's body where the
    partitioner does not split it, and what runs under ``vmap``."""
    if kind == "y":
        return whole_conv(a, b, plan, name, policy)
    shape, dtype = _result(kind, plan, a, b)
    if kind == "dx":
        fn, ct = (lambda x: whole_conv(x, b, plan, name, policy)), a
    else:
        fn, ct = (lambda w: whole_conv(a, w, plan, name, policy)), b
    _, vjp = jax.vjp(fn, jnp.zeros(shape, dtype))
    return vjp(ct.astype(plan.out_dtype(dtype)))[0]


def _partitioned(kind: str):
    """The ``custom_partitioning`` op of ``kind``: :func:`whole` where it is not split, the
    shard program where it is."""

    def body(a, b, plan, name, policy):
        # In a jit of its own: a derivative's program may hold constants, which a
        # custom_partitioning body must not.
        return jax.jit(functools.partial(whole, kind, plan=plan, name=name, policy=policy))(a, b)

    op = custom_partitioning(body, static_argnums=(2, 3, 4))

    def partition(plan, name, policy, mesh, arg_shapes, result_shape):
        del result_shape
        lay = _kind_layout(kind, plan, mesh, arg_shapes)
        program = _shard_program(kind, plan, name, _policy_in_op(policy), mesh, lay)
        x, w, y = (NamedSharding(mesh, s) for s in (lay.x, lay.w, lay.y))
        ins, out = {"y": ((x, w), y), "dx": ((y, w), x), "dw": ((x, y), w)}[kind]
        return mesh, program, out, ins

    def infer(plan, name, policy, mesh, arg_shapes, result_shape):
        del name, policy, result_shape
        lay = _kind_layout(kind, plan, mesh, arg_shapes)
        return NamedSharding(mesh, {"y": lay.y, "dx": lay.x, "dw": lay.w}[kind])

    op.def_partition(
        partition=partition,
        infer_sharding_from_operands=infer,
        sharding_rule=lambda plan, name, policy, mesh, ins, outs: _rule(plan, kind),
    )
    return op


_OPS = {kind: _partitioned(kind) for kind in KINDS}


# -- the primitive: forward mode, reverse mode, vmap ---------------------------------------

sharded_conv_p = Primitive("jaxconv_sharded_conv")


def _bind(kind: str, a, b, plan: ConvPlan, name: str, policy: str):
    return sharded_conv_p.bind(a, b, kind=kind, plan=plan, name=name, policy=policy)


def _abstract_eval(a, b, *, kind, plan, name, policy):
    del name, policy
    shape, dtype = _result(kind, plan, a, b)
    mesh = getattr(a.sharding, "mesh", None)
    if mesh is None:
        return jax.core.ShapedArray(shape, dtype)
    return jax.core.ShapedArray(shape, dtype, sharding=NamedSharding(mesh, PartitionSpec()))


def _lower(a, b, *, kind, plan, name, policy):
    return _OPS[kind](a, b, plan, name, policy)


def _batch(args, dims, *, kind, plan, name, policy):
    # Under vmap: the unsplit computation, vmapped. Correct, and split by the partitioner
    # as it splits any jaxconv convolution (a halo exchange per tap).
    fn = functools.partial(whole, kind, plan=plan, name=name, policy=policy)
    return jax.vmap(fn, in_axes=dims)(*args), 0


# The transposes, from <y(x, w), g> = <x, dx(g, w)> = <w, dw(x, g)>: of y(x, w), dx(g, w)
# and dw(x, g); of dx(ct, w) (``g`` input-shaped), y(g, w) and dw(g, ct); of dw(x, ct)
# (``g`` kernel-shaped), dx(ct, g) and y(x, g).
def _transpose_a(g, a, b, *, kind, **params):
    if kind == "y":
        return _bind("dx", g, b, **params)
    if kind == "dx":
        return _bind("y", g, b, **params)
    return _bind("dx", b, g, **params)


def _transpose_b(g, a, b, *, kind, **params):
    if kind == "y":
        return _bind("dw", a, g, **params)
    if kind == "dx":
        return _bind("dw", g, a, **params)
    return _bind("y", a, g, **params)


sharded_conv_p.def_impl(lambda a, b, **params: jax.jit(functools.partial(_lower, **params))(a, b))
sharded_conv_p.def_abstract_eval(_abstract_eval)
mlir.register_lowering(sharded_conv_p, mlir.lower_fun(_lower, multiple_results=False))
ad.defbilinear(sharded_conv_p, _transpose_a, _transpose_b)
batching.primitive_batchers[sharded_conv_p] = _batch
# Its lowering is a custom_partitioning op, which needs the devices (as JAX's own cuDNN
# attention primitive, built the same way, declares). A private set: guarded, so that an
# import never fails on a jax that moved it (the sharded path would then fail to lower).
getattr(_dispatch, "prim_requires_devices_during_lowering", set()).add(sharded_conv_p)


def convolve(x, w, plan: ConvPlan, name: str, policy: str):
    """Strategy ``name`` on the canonical ``x`` and ``w`` of ``plan`` (before any padding
    mode is applied) as one partitioned op, differentiable to any order in forward and
    reverse mode (each derivative another partitioned op) and batched by ``vmap`` (as the
    ordinary, unsplit convolution)."""
    return _bind("y", x, w, plan, name, policy)
