"""``strategy='tune'``: time every strategy that accepts a plan on the device, keep the fastest.

Like PyTorch's ``torch.backends.cudnn.benchmark``, the first program that needs a plan pays
for the measurement: every strategy that accepts it is compiled and timed on the device
with random inputs of the plan's shapes and dtype, and the fastest runs. The choice is
remembered in memory and in one JSON file per device kind under ``$JAXCONV_CACHE_DIR``
(default ``~/.cache/jaxconv``), keyed by platform, device kind, jax and jaxlib versions and
the plan, so the next process does not measure again.

The choice is made when the program is *lowered* for a platform, not when it is traced: a
tuned convolution is the primitive ``jaxconv_tuned``, whose lowering rule measures on a
local device of the lowering platform and then lowers the chosen strategy's lax ops. So
abstract evaluation (``jax.eval_shape``) never measures, and where no device of that
platform is here (export, cross-compilation, several platforms at once) the rule lowers
``auto``'s choice instead. The primitive is linear in its first operand; its transpose is
the same primitive marked ``transposed`` (which lowers JAX's transpose of ``auto``'s
strategy), so reverse mode, forward mode and higher orders work as for ``auto``. Under
``vmap`` it runs ``auto``'s strategy.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from . import _strategies
from ._plan import ConvPlan
from ._strategies import Chooser

CACHE_ENV = "JAXCONV_CACHE_DIR"
"""Environment variable naming the tuning cache's folder (default ``~/.cache/jaxconv``)."""

CACHE_SCHEMA = 1
NOTE_SECONDS = 1.0
"""Tuning a plan for longer than this prints a one-line note to stderr."""


# ---------------------------------------------------------------------------------------
# The strategies a plan may tune over


def candidates(plan: ConvPlan) -> list[str]:
    """The strategies ``'tune'`` times for ``plan``: those that accept it and are not
    hopeless (see `jaxconv._strategies.feasible`)."""
    return [n for n in _strategies.STRATEGIES if _strategies.feasible(n, plan)]


def plan_key(plan: ConvPlan, dtype: Any) -> str:
    """A stable text key for ``plan`` (its layout-free fields and settings) and dtype."""
    fields = plan._asdict()
    del fields["dn"]  # strategies see canonical arrays; the user's layout is not theirs,
    # except where im2col reads the user's kernel in place
    fields["kernel_order"] = _strategies.reads_kernel_in_place(plan)
    precision, preferred = fields.pop("precision"), fields.pop("preferred")
    fields.update(
        dtype=jnp.dtype(dtype).name,
        precision=str(precision),
        preferred=None if preferred is None else jnp.dtype(preferred).name,
    )
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------
# Measurement


def _random(shape: Sequence[int], dtype: Any, rng: np.random.Generator) -> np.ndarray:
    dtype = jnp.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.integer):
        return rng.integers(-3, 4, size=shape).astype(dtype)
    return np.asarray(jnp.asarray(rng.standard_normal(shape, np.float32), dtype))


def time_strategies(
    plan: ConvPlan,
    dtype: Any,
    names: Sequence[str],
    *,
    device: Any = None,
    choose: Chooser | None = None,
    rounds: int = 15,
    budget_s: float = 2.0,
    fn: Callable[[str], Callable] | None = None,
) -> dict[str, float]:
    """Median milliseconds of each strategy in ``names`` on ``plan``, timed on ``device``.

    Each strategy is compiled ahead of time and called once untimed; then rounds call
    every strategy once, the first one rotating, until ``rounds`` rounds or ``budget_s``
    seconds have passed (at least 3 rounds). A strategy whose median after 3 rounds is
    more than 4 times the best stops being timed. ``fn(name)`` builds the function of
    ``(x, w)`` to time (default: the strategy on canonical arrays, ``choose`` picking the
    strategies of its sub-convolutions).
    """
    device = device or jax.devices()[0]
    rng = np.random.default_rng(0)
    x = jax.device_put(_random(plan.input_shape, dtype, rng), device)
    w = _random(plan.kernel_shape, dtype, rng)
    if fn is None:
        # Where im2col reads the user's kernel in place, the kernel as the user holds it,
        # moved to the canonical layout in the program (as jaxconv._conv does), so that XLA
        # cancels the moves there as it will in the user's program.
        order = _strategies.reads_kernel_in_place(plan)
        to_user = (
            tuple(range(w.ndim))
            if order is None
            else _strategies.output_major_axes(order, plan.num_spatial)
        )
        w = np.transpose(w, to_user)
        back = tuple(np.argsort(to_user))

        def fn(name):
            return lambda x, w: _strategies.run(name, x, jnp.transpose(w, back), plan, choose)

    w = jax.device_put(w, device)

    compiled = {}
    for name in names:
        compiled[name] = jax.jit(fn(name)).lower(x, w).compile()
        jax.block_until_ready(compiled[name](x, w))
    times: dict[str, list[float]] = {n: [] for n in names}
    active = list(names)
    start = time.perf_counter()
    for r in range(rounds):
        for k in range(len(active)):
            name = active[(r + k) % len(active)]
            t0 = time.perf_counter()
            jax.block_until_ready(compiled[name](x, w))
            times[name].append(time.perf_counter() - t0)
        if r >= 2:
            medians = {n: float(np.median(times[n])) for n in active}
            best = min(medians.values())
            active = [n for n in active if medians[n] <= 4 * best]
            if time.perf_counter() - start > budget_s:
                break
    return {n: float(np.median(t)) * 1e3 for n, t in times.items()}


# ---------------------------------------------------------------------------------------
# The cache


def _device_id(device: Any) -> dict[str, str]:
    return {
        "platform": device.platform,
        "device_kind": device.device_kind,
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
    }


@dataclasses.dataclass
class TuneCache:
    """The tuning results: in memory, and one JSON file per device kind on disk.

    ``JAXCONV_CACHE_DIR`` (read when the cache is created) names the folder. A file is
    ``{"jaxconv_tune_cache": 1, "platform", "device_kind", "jax", "jaxlib", "entries":
    {key: {"best": name, "ms": {name: milliseconds}}}}``; one whose header does not match
    this process (another jax, another device) or that does not parse is ignored with a
    warning and replaced on the next write. Writes go to a temporary file renamed over the
    old one, so a reader never sees half a file.
    """

    directory: Path
    _memory: dict[tuple[str, ...], dict[str, dict[str, Any]]] = dataclasses.field(
        default_factory=dict
    )
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def path(self, device: Any) -> Path:
        """The file holding ``device``'s entries."""
        ident = _device_id(device)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{ident['platform']}-{ident['device_kind']}")
        return self.directory / f"tune-{slug}.json"

    def _read(self, device: Any) -> dict[str, dict[str, Any]]:
        path = self.path(device)
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text())
            header_ok = isinstance(data, dict) and data.get("jaxconv_tune_cache") == CACHE_SCHEMA
            entries = data.get("entries") if header_ok else None
            if not isinstance(entries, dict):
                raise ValueError("not a jaxconv tuning cache")
        except (OSError, ValueError) as e:
            warnings.warn(
                f"jaxconv: ignoring the unreadable tuning cache {path}: {e}", stacklevel=3
            )
            return {}
        ident = _device_id(device)
        if any(data.get(k) != v for k, v in ident.items()):
            theirs = {k: data.get(k) for k in ident}
            warnings.warn(
                f"jaxconv: ignoring the tuning cache {path}, written for {theirs}, not {ident}.",
                stacklevel=2,
            )
            return {}
        return {k: v for k, v in entries.items() if isinstance(v, dict) and "best" in v}

    def _entries(self, device: Any) -> dict[str, dict[str, Any]]:
        ident = tuple(_device_id(device).values())
        if ident not in self._memory:
            self._memory[ident] = self._read(device)
        return self._memory[ident]

    def get(self, device: Any, key: str) -> dict[str, Any] | None:
        """The entry for ``key`` on ``device``'s kind, or ``None``."""
        with self._lock:
            return self._entries(device).get(key)

    def put(self, device: Any, key: str, entry: dict[str, Any]) -> None:
        """Remember ``entry`` in memory and write it to disk (merged with what is there)."""
        with self._lock:
            entries = self._entries(device)
            entries[key] = entry
            merged = {**self._read_quietly(device), **entries}
            self._write(device, merged)

    def _read_quietly(self, device: Any) -> dict[str, dict[str, Any]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._read(device)

    def _write(self, device: Any, entries: dict[str, dict[str, Any]]) -> None:
        path = self.path(device)
        data = {"jaxconv_tune_cache": CACHE_SCHEMA, **_device_id(device), "entries": entries}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=1, sort_keys=True)
            os.replace(tmp, path)
        except OSError as e:
            warnings.warn(f"jaxconv: could not write the tuning cache {path}: {e}", stacklevel=3)

    def entries(self) -> list[dict[str, Any]]:
        """Every entry on disk and in memory: one dict per plan with ``platform``,
        ``device_kind``, ``plan`` (the key's fields), ``best`` and ``ms``."""
        out = []
        with self._lock:
            files = {}
            for path in sorted(self.directory.glob("tune-*.json")):
                try:
                    data = json.loads(path.read_text())
                    files[(data["platform"], data["device_kind"])] = data["entries"]
                except (OSError, ValueError, KeyError, TypeError):
                    continue
            for ident, entries in self._memory.items():
                files.setdefault(ident[:2], {}).update(entries)
            for (platform, kind), entries in files.items():
                for key, entry in entries.items():
                    out.append(
                        {"platform": platform, "device_kind": kind, "plan": json.loads(key),
                         "best": entry.get("best"), "ms": entry.get("ms", {})}
                    )  # fmt: skip
        return out

    def clear(self) -> None:
        """Forget every entry, in memory and on disk (the cache files are removed)."""
        with self._lock:
            self._memory.clear()
            for path in self.directory.glob("tune-*.json"):
                path.unlink(missing_ok=True)


_CACHE: TuneCache | None = None


def tune_cache() -> TuneCache:
    """The process's tuning cache (see [`TuneCache`][jaxconv.TuneCache]), created on first use from
    ``$JAXCONV_CACHE_DIR`` (default ``~/.cache/jaxconv``).

    Examples:
        >>> import jaxconv
        >>> cache = jaxconv.tune_cache()
        >>> isinstance(cache.entries(), list)
        True
    """
    global _CACHE
    directory = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "jaxconv")
    if _CACHE is None or _CACHE.directory != directory:
        _CACHE = TuneCache(directory)
    return _CACHE


def cached_choice(plan: ConvPlan, dtype: Any, device: Any) -> str | None:
    """The cached choice for ``plan`` on ``device``'s kind, or ``None`` (never measures)."""
    entry = tune_cache().get(device, plan_key(plan, dtype))
    return None if entry is None else entry["best"]


def tuned_choice(plan: ConvPlan, dtype: Any, device: Any, choose: Chooser) -> str:
    """The fastest strategy for ``plan`` on ``device``'s kind: from the cache, or measured
    now (and cached). ``choose`` picks the strategies of sub-convolutions."""
    names = [n for n in candidates(plan) if _strategies.accepts(n, plan, dtype)]
    if len(names) == 1:
        return names[0]
    cache = tune_cache()
    key = plan_key(plan, dtype)
    entry = cache.get(device, key)
    if entry is not None and entry["best"] in names:
        return entry["best"]
    t0 = time.perf_counter()
    ms = time_strategies(plan, dtype, names, device=device, choose=choose)
    best = min(ms, key=ms.get)
    cache.put(device, key, {"best": best, "ms": ms})
    seconds = time.perf_counter() - t0
    if seconds > NOTE_SECONDS:
        others = ", ".join(f"{n} {t:.3g}" for n, t in sorted(ms.items(), key=lambda i: i[1]))
        print(
            f"jaxconv: tuned a convolution ({describe(plan)}, {jnp.dtype(dtype).name}) on "
            f"{device.device_kind} in {seconds:.1f} s: {best} (ms: {others})",
            file=sys.stderr,
        )
    return best


def describe(plan: ConvPlan) -> str:
    """A short text for ``plan``: shapes, kernel, strides and groups."""
    parts = [f"in {plan.input_shape}", f"kernel {plan.kernel_shape}"]
    if any(s > 1 for s in plan.strides):
        parts.append(f"strides {plan.strides}")
    if any(d > 1 for d in plan.lhs_dilation):
        parts.append(f"lhs_dilation {plan.lhs_dilation}")
    if any(d > 1 for d in plan.rhs_dilation):
        parts.append(f"rhs_dilation {plan.rhs_dilation}")
    if plan.feature_groups > 1:
        parts.append(f"groups {plan.feature_groups}")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------
# The primitive: the choice is made when lowering


class Tuned(NamedTuple):
    """The static parameters of a tuned convolution (hashable, a primitive's param)."""

    plan: ConvPlan
    fallback: str  # auto's choice: where no device can be measured, and under transforms
    choose: Chooser  # the policy's choice for sub-convolutions (polyphase's phases)
    transposed: bool = False  # the linear transpose in the first operand (ct -> x)


def _strategy_fn(op: Tuned, name: str) -> Callable:
    """``(x, w) -> y`` for strategy ``name``; for a transposed ``op``, ``(ct, w) -> x``."""

    def forward(x, w):
        return _strategies.run(name, x, w, op.plan, op.choose)

    if not op.transposed:
        return forward

    def transposed(ct, w):
        x = jax.ShapeDtypeStruct(op.plan.input_shape, w.dtype)
        return jax.linear_transpose(lambda x: forward(x, w), x)(ct)[0]

    return transposed


tuned_p = Primitive("jaxconv_tuned")


def tuned_conv(x: jax.Array, w: jax.Array, op: Tuned) -> jax.Array:
    """The convolution of ``op.plan`` on canonical ``x`` and ``w``, by the strategy tuned
    for the platform it is lowered for."""
    return tuned_p.bind(x, w, op=op)


def _abstract_eval(a, b, *, op: Tuned):
    out = jax.eval_shape(_strategy_fn(op, op.fallback), a, b)
    return jax.core.ShapedArray(out.shape, out.dtype)


_tuned_jit = jax.jit(tuned_conv, static_argnames="op")


def _impl(a, b, *, op: Tuned):
    return _tuned_jit(a, b, op=op)


def _local_device(ctx) -> Any:
    """The local device to measure on for this lowering, or ``None``."""
    module = ctx.module_context
    if len(module.platforms) != 1 or getattr(module.lowering_parameters, "for_export", False):
        return None
    platform = module.platforms[0]
    for device in jax.local_devices():
        names = {device.platform, device.client.platform if hasattr(device, "client") else ""}
        if platform in names or (platform in ("cuda", "rocm") and device.platform == "gpu"):
            return device
    return None


def _lowering(ctx, a, b, *, op: Tuned):
    name = op.fallback
    device = None if op.transposed else _local_device(ctx)
    if device is not None:
        a_aval, _ = ctx.avals_in
        name = tuned_choice(op.plan, a_aval.dtype, device, op.choose)
    return mlir.lower_fun(_strategy_fn(op, name), multiple_results=False)(ctx, a, b)


def _transpose(ct, a, b, *, op: Tuned):
    if ad.is_undefined_primal(b):  # not used by jaxconv's own rules; correct, untuned
        fn = _strategy_fn(op, op.fallback)
        b_struct = jax.ShapeDtypeStruct(b.aval.shape, b.aval.dtype)
        return [None, jax.linear_transpose(lambda b: fn(a, b), b_struct)(ct)[0]]
    if type(ct) is ad.Zero:
        return [ad.Zero(a.aval), None]
    return [tuned_p.bind(ct, b, op=op._replace(transposed=not op.transposed)), None]


def _jvp(primals, tangents, *, op: Tuned):
    a, b = primals
    da, db = tangents
    y = tuned_p.bind(a, b, op=op)
    terms = []
    if type(da) is not ad.Zero:
        terms.append(tuned_p.bind(da, b, op=op))
    if type(db) is not ad.Zero:
        terms.append(_strategy_fn(op, op.fallback)(a, db))  # bilinear: linear in b too
    if not terms:
        return y, ad.Zero.from_primal_value(y)
    return y, functools.reduce(jnp.add, terms)


def _batch(args, dims, *, op: Tuned):
    return jax.vmap(_strategy_fn(op, op.fallback), in_axes=tuple(dims))(*args), 0


tuned_p.def_impl(_impl)
tuned_p.def_abstract_eval(_abstract_eval)
mlir.register_lowering(tuned_p, _lowering)
ad.primitive_jvps[tuned_p] = _jvp
ad.primitive_transposes[tuned_p] = _transpose
batching.primitive_batchers[tuned_p] = _batch
