"""What ``python -m jaxconv bench`` shows and writes: the table, ``results.json``,
``results.png`` and ``summary.md``.

``DIR/results.json`` is one object::

    {"schema_version": 3, "created": "<ISO time>", "command": "<argv>", "auto_rules": "<text>",
     "peaks": [{"device", "device_kind", "dtype", "gflops"}, ...],
     "records": [<record>, ...],
     "models": [<model record>, ...]}

with one record per case, device (or device mesh), dtype, layout and direction. Every
record has exactly the keys of :data:`SCHEMA`, below, with the types given there (``None``
where a value does not apply). The model suites (a training step of a whole network, Flax's
layers against jaxconv's) write one model record per network, device and dtype, with the
keys of :data:`MODEL_SCHEMA` (the list is empty when no model suite ran).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

SCHEMA_VERSION = 3

_NUM = (int, float)
_OPT_NUM = (int, float, type(None))

SCHEMA: dict[str, tuple[tuple[type, ...], str]] = {
    # Where it ran.
    "device": ((str,), "'cpu:0', 'gpu:1', or 'cpu:mesh[4]' for the data-parallel case"),
    "platform": ((str,), "'cpu', 'gpu' or 'tpu'"),
    "device_kind": ((str,), "jax.Device.device_kind, e.g. 'cpu' or 'NVIDIA H100 80GB HBM3'"),
    "num_devices": ((int,), "1, or the number of devices the batch is sharded over"),
    "num_processes": ((int,), "jax.process_count() (> 1 under jax.distributed)"),
    "jax_version": ((str,), "jax.__version__"),
    "jaxconv_version": ((str,), "jaxconv.__version__"),
    # What ran.
    "suite": ((str,), "suite name, or 'data-parallel'"),
    "case": ((str,), "case name within the suite"),
    "kind": ((str,), "'dense', 'depthwise', 'grouped', 'dilated' or 'transposed'"),
    "rank": ((int,), "number of spatial dims (1, 2 or 3)"),
    "batch": ((int,), "N"),
    "in_spatial": ((list,), "input spatial sizes, in the kernel layout's order (e.g. [H, W])"),
    "out_spatial": ((list,), "output spatial sizes"),
    "in_channels": ((int,), "C"),
    "out_channels": ((int,), "O"),
    "kernel": ((list,), "kernel spatial sizes"),
    "strides": ((list,), "window strides (transposed: the upsampling factors)"),
    "padding": ((str, list), "'SAME'/'VALID' or [[lo, hi], ...] per spatial dim"),
    "dilation": ((list,), "kernel (rhs) dilation per spatial dim"),
    "lhs_dilation": ((list,), "input dilation per spatial dim (1s unless a gradient case)"),
    "groups": ((int,), "feature_group_count"),
    "transposed": ((bool,), "lax.conv_transpose semantics"),
    "dtype": ((str,), "'float32', 'bfloat16', ..."),
    "layout": ((str,), "'NHWC': channels-last (NHWC/HWIO of the rank); 'NCHW': channels-first"),
    "direction": ((str,), "'fwd' or 'fwd+bwd' (output and both gradients)"),
    "strategy": ((str,), "the jaxconv strategy that ran (auto's choice or the forced one)"),
    "auto_strategy": (
        (str,),
        "the strategy 'auto' picks for this case (fwd+bwd: the one it runs differentiated)",
    ),
    # Time: medians over `reps` interleaved rounds, warm-up excluded, milliseconds (null in
    # compile-only suites such as `large`, which report memory alone).
    "jaxconv_ms": (_OPT_NUM, "median time of jaxconv"),
    "jaxconv_min_ms": (_OPT_NUM, "fastest jaxconv round"),
    "jaxconv_max_ms": (_OPT_NUM, "slowest jaxconv round"),
    "lax_ms": (_OPT_NUM, "median time of lax"),
    "lax_min_ms": (_OPT_NUM, "fastest lax round"),
    "lax_max_ms": (_OPT_NUM, "slowest lax round"),
    "reps": ((int,), "timed rounds"),
    "ratio": (_OPT_NUM, "jaxconv_ms / lax_ms: below 1 jaxconv is faster"),
    "min_ratio": (_OPT_NUM, "jaxconv_min_ms / lax_min_ms: the ratio of the fastest rounds"),
    "spread": (_OPT_NUM, "interquartile range / median of the times, the larger of the two"),
    "flops": ((int,), "floating-point operations of the direct algorithm (fwd+bwd: 3x fwd)"),
    "gflops": (_OPT_NUM, "flops / jaxconv time, GFLOP/s"),
    "lax_gflops": (_OPT_NUM, "flops / lax time, GFLOP/s"),
    "peak_gflops": (
        _OPT_NUM,
        "one device's best matmul GFLOP/s, measured before and after the cases",
    ),
    "peak_fraction": (_OPT_NUM, "gflops / (peak_gflops * num_devices)"),
    "lax_peak_fraction": (_OPT_NUM, "lax_gflops / (peak_gflops * num_devices)"),
    # Memory and compilation.
    "jaxconv_temp_bytes": (_OPT_NUM, "XLA temp buffer bytes of jaxconv's compiled program"),
    "lax_temp_bytes": (_OPT_NUM, "XLA temp buffer bytes of lax's compiled program"),
    "output_bytes": ((int,), "bytes of the program's outputs (y, and dx, dw for fwd+bwd)"),
    "padded_input_bytes": ((int,), "bytes of the input as padded (and dilated) for the window"),
    "temp_bound_bytes": (_OPT_NUM, "2 * lax_temp_bytes + output_bytes + padded_input_bytes"),
    "within_bound": ((bool, type(None)), "jaxconv_temp_bytes <= temp_bound_bytes"),
    "jaxconv_compile_s": (_NUM, "seconds to trace, lower and compile jaxconv's program"),
    "lax_compile_s": (_NUM, "seconds to trace, lower and compile lax's program"),
    # Verification against lax.
    "max_abs_error": (_OPT_NUM, "max |jaxconv - lax| over all outputs"),
    "max_rel_error": (_OPT_NUM, "max over outputs of max|jaxconv - lax| / max|lax|"),
    "tolerance": (_OPT_NUM, "the largest max_rel_error accepted for this dtype and platform"),
    # Data-parallel and spatially sharded records only (None elsewhere).
    "sharded": (
        (str, type(None)),
        "'batch' (data parallel) or 'spatial' (the input's first "
        "spatial dim split over the devices: --spatial-shard)",
    ),
    "single_jaxconv_ms": (_OPT_NUM, "jaxconv on one device, same global arrays"),
    "single_lax_ms": (_OPT_NUM, "lax on one device, same global arrays"),
    "scaling": (_OPT_NUM, "single_jaxconv_ms / jaxconv_ms"),
    "lax_scaling": (_OPT_NUM, "single_lax_ms / lax_ms"),
    "collectives": (
        (dict, type(None)),
        "collective ops in the compiled programs, "
        "{'jaxconv': {op: count}, 'lax': {op: count}} for collective-permute, "
        "all-gather, all-to-all, all-reduce",
    ),
}
"""Every key of a ``results.json`` record: ``key -> (accepted types, meaning)``."""

MODEL_SCHEMA: dict[str, tuple[tuple[type, ...], str]] = {
    # Where it ran.
    "device": ((str,), "'cpu:0', 'gpu:0', ..."),
    "platform": ((str,), "'cpu', 'gpu' or 'tpu'"),
    "device_kind": ((str,), "jax.Device.device_kind"),
    "jax_version": ((str,), "jax.__version__"),
    "jaxconv_version": ((str,), "jaxconv.__version__"),
    "flax_version": ((str,), "flax.__version__"),
    # What ran.
    "suite": ((str,), "'models' or 'models-smoke'"),
    "case": ((str,), "the network's name, e.g. 'resnet20'"),
    "arch": ((str,), "'resnet', 'mobilenetv2' or 'unet'"),
    "description": ((str,), "the network in one line: blocks, widths, shortcuts, loss"),
    "batch": ((int,), "images per step"),
    "in_h": ((int,), "image height"),
    "in_w": ((int,), "image width"),
    "in_channels": ((int,), "image channels"),
    "classes": ((int,), "classes (per image, or per pixel for the U-Net)"),
    "params": ((int,), "trainable parameters"),
    "convs": ((int,), "convolution layers run per forward pass (transposed ones included)"),
    "strategies": ((dict,), "jaxconv strategy -> how many of the convs run it (forward)"),
    "dtype": ((str,), "computation dtype (parameters are float32)"),
    "layout": ((str,), "'NHWC'"),
    "strategy": ((str,), "the --strategy the jaxconv layers were given"),
    # Time of one training step (forward, backward, SGD update): medians over `reps`
    # interleaved rounds, warm-up excluded, milliseconds.
    "flax_ms": (_NUM, "median step time with flax.nnx's layers (XLA's convolution)"),
    "flax_min_ms": (_NUM, "fastest Flax round"),
    "flax_max_ms": (_NUM, "slowest Flax round"),
    "jaxconv_ms": (_NUM, "median step time with jaxconv.nnx's layers"),
    "jaxconv_min_ms": (_NUM, "fastest jaxconv round"),
    "jaxconv_max_ms": (_NUM, "slowest jaxconv round"),
    "reps": ((int,), "timed rounds"),
    "ratio": (_NUM, "jaxconv_ms / flax_ms: below 1 jaxconv is faster"),
    "min_ratio": (_NUM, "jaxconv_min_ms / flax_min_ms: the ratio of the fastest rounds"),
    "spread": (_NUM, "interquartile range / median of the step times, the larger of the two"),
    "flax_temp_bytes": (_OPT_NUM, "XLA temp buffer bytes of Flax's compiled step"),
    "jaxconv_temp_bytes": (_OPT_NUM, "XLA temp buffer bytes of jaxconv's compiled step"),
    "flax_compile_s": (_NUM, "seconds to trace, lower and compile Flax's step"),
    "jaxconv_compile_s": (_NUM, "seconds to trace, lower and compile jaxconv's step"),
    # Verification: same initial parameters (checked equal), same batch; the reference for
    # the state after the step is Flax's step computed in float64 on the CPU.
    "loss_flax": (_NUM, "the loss before the step, Flax's layers"),
    "loss_jaxconv": (_NUM, "the loss before the step, jaxconv's layers"),
    "loss_rel_diff": (_NUM, "abs(loss_jaxconv - loss_flax) / abs(loss_flax)"),
    "update_max_abs_error": (
        _NUM,
        "after jaxconv's step, the worst layer's max abs(new - reference) over its arrays",
    ),
    "update_max_rel_error": (
        _NUM,
        "after jaxconv's step, max over layers (batch norm statistics apart from its "
        "parameters) of max abs(new - reference) / max abs(reference)",
    ),
    "flax_update_max_rel_error": (
        _NUM,
        "the same for Flax's step (XLA's convolution in the computation dtype)",
    ),
    "tolerance": (_NUM, "the largest loss_rel_diff accepted"),
    "update_tolerance": (
        _NUM,
        "the largest update_max_rel_error accepted: tolerance or twice "
        "flax_update_max_rel_error, whichever is larger",
    ),
}
"""Every key of a ``results.json`` model record: ``key -> (accepted types, meaning)``."""


def schema_markdown(schema: dict[str, tuple[tuple[type, ...], str]] = SCHEMA) -> str:
    """``schema`` (:data:`SCHEMA` or :data:`MODEL_SCHEMA`) as a markdown table (for the
    docs)."""
    lines = ["| key | type | meaning |", "| --- | --- | --- |"]
    for key, (types, meaning) in schema.items():
        names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
        lines.append(f"| `{key}` | {names} | {meaning} |")
    return "\n".join(lines)


def validate_record(
    record: dict[str, Any], schema: dict[str, tuple[tuple[type, ...], str]] = SCHEMA
) -> list[str]:
    """The ways ``record`` departs from ``schema`` (:data:`SCHEMA`, or :data:`MODEL_SCHEMA`
    for a model record); empty when it conforms."""
    problems = [f"missing key {k!r}" for k in schema if k not in record]
    problems += [f"unexpected key {k!r}" for k in record if k not in schema]
    for key, (types, _) in schema.items():
        if key in record:
            value = record[key]
            ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
            if not ok:
                problems.append(f"{key!r} = {value!r} is not {types}")
    return problems


def geomean(values: Iterable[float]) -> float:
    values = [v for v in values if v and v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


# ---------------------------------------------------------------------------------------
# Terminal


def _bytes(b: Any) -> str:
    """``1536 -> '1.5K'``; ``None -> '-'``."""
    if b is None:
        return "-"
    for unit, scale in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if b >= scale:
            return f"{b / scale:.1f}{unit}"
    return str(int(b))


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _row(r: dict[str, Any]) -> list[str]:
    pf = r["peak_fraction"]
    dp = f" x{r['scaling']:.2f}" if r.get("scaling") else ""
    return [
        f"{r['suite']}/{r['case']}", r["device"], r["dtype"], r["layout"], r["direction"],
        r["strategy"], f"{r['jaxconv_ms']:.2f}", f"{r['lax_ms']:.2f}", f"{r['ratio']:.2f}{dp}",
        f"{r['gflops']:.1f}", "-" if pf is None else f"{100 * pf:.0f}%",
        f"{_bytes(r['jaxconv_temp_bytes'])}/{_bytes(r['lax_temp_bytes'])}",
        f"{r['max_rel_error']:.1e}",
    ]  # fmt: skip


HEADERS = [
    "case", "device", "dtype", "layout", "dir", "strategy", "jaxconv ms", "lax ms", "ratio",
    "GFLOP/s", "peak", "temp j/l", "rel err",
]  # fmt: skip


LEGEND: dict[str, str] = {
    "case": "suite/case (`python -m jaxconv bench --list` gives the shapes)",
    "layout": "NHWC: NHWC/HWIO/NHWC arrays; NCHW: NCHW/OIHW/NCHW",
    "dir": "fwd: the convolution; fwd+bwd: it and both gradients",
    "strategy": "the jaxconv strategy that ran",
    "jaxconv ms": "median time per call, milliseconds (lax ms: the same for lax)",
    "ratio": "jaxconv ms / lax ms: below 1 (green) jaxconv is faster; xN: data-parallel scaling",
    "GFLOP/s": "jaxconv's rate on the direct algorithm's floating-point operations",
    "peak": "that rate as a fraction of the device's matmul peak, measured in this run",
    "temp j/l": "XLA's compiled temp memory, jaxconv/lax (K, M, G = 2^10, 2^20, 2^30 bytes)",
    "rel err": "max|jaxconv - lax| / max|lax| (against float64 where lax is wrong)",
}
"""What each column of the table means (printed under it)."""

# Dropped first when the terminal is narrow; case, dir, layout, strategy and ratio stay.
_DROP_ORDER = ("GFLOP/s", "lax ms", "rel err", "device", "dtype", "peak", "temp j/l", "jaxconv ms")
_KEEP_SHORT = {"layout", "dir"}  # shown while they vary, else named in the title
_CASE_FOLD = 24


def _columns(rows: Sequence[list[str]], width: int | None) -> tuple[list[int], dict[str, str]]:
    """The columns to show within ``width`` characters (all for ``None``) and the ones
    dropped because every row has the same value, with that value."""
    shown = list(range(len(HEADERS)))
    constant: dict[str, str] = {}

    def needed() -> int:  # rich's default box: a bar and a space either side of each cell
        widths = [max(len(HEADERS[i]), *(len(r[i]) for r in rows)) for i in shown]
        # The case column folds long names onto a second line rather than lose a column.
        widths[0] = min(widths[0], _CASE_FOLD)
        return 1 + sum(3 + w for w in widths)

    if width is None or not rows or needed() <= width:
        return shown, constant
    for i, h in enumerate(HEADERS):
        if h in ("device", "dtype", *_KEEP_SHORT) and len({r[i] for r in rows}) == 1:
            constant[h] = rows[0][i]
            shown.remove(i)
    for h in _DROP_ORDER:
        if needed() <= width:
            break
        i = HEADERS.index(h)
        if i in shown:
            shown.remove(i)
    return shown, constant


def table(
    records: Sequence[dict[str, Any]], title: str = "jaxconv vs lax", width: int | None = None
) -> Any:
    """A ``rich.table.Table`` of ``records``; ratios below 1 in green, above 1.5 in red.

    With ``width`` (the terminal's) columns are dropped until the table fits, least useful
    first: a column whose value is the same in every row moves into the title, then
    GFLOP/s, lax ms, rel err, ... The case, strategy and ratio always stay; the table's
    caption names what was dropped (the JSON and summary.md keep everything).
    """
    from rich.table import Table

    rows = [_row(r) for r in records]
    shown, constant = _columns(rows, width)
    if constant:
        title += " (" + ", ".join(constant.values()) + ")"
    dropped = [h for i, h in enumerate(HEADERS) if i not in shown and h not in constant]
    caption = f"not shown at this width: {', '.join(dropped)}" if dropped else None
    t = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    ratio = HEADERS.index("ratio")
    for i in shown:
        t.add_column(HEADERS[i], justify="right" if i >= 6 else "left", overflow="fold")
    for r, row in zip(records, rows, strict=True):
        style = "green" if r["ratio"] < 1 else "red" if r["ratio"] > 1.5 else ""
        row[ratio] = f"[{style}]{row[ratio]}[/]" if style else row[ratio]
        t.add_row(*(row[i] for i in shown))
    return t


def legend(shown: Sequence[str] = tuple(LEGEND)) -> Any:
    """What the columns in ``shown`` mean, one row each: a ``rich`` grid that wraps the
    meanings beside the names in a narrow terminal."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(justify="right", no_wrap=True, style="bold")
    grid.add_column()
    for h in LEGEND:
        if h in shown:
            grid.add_row(h, LEGEND[h])
    return grid


def shown_columns(t: Any) -> list[str]:
    """The headers of a table made by :func:`table`."""
    return [str(c.header) for c in t.columns]


# Fits 80 columns with the models suite's names.
MODEL_HEADERS = ["model", "dtype", "flax ms", "jaxconv ms", "ratio", "loss diff", "upd err"]


def _model_row(m: dict[str, Any]) -> list[str]:
    return [
        m["case"], m["dtype"], f"{m['flax_ms']:.1f}", f"{m['jaxconv_ms']:.1f}",
        f"{m['ratio']:.2f}", f"{m['loss_rel_diff']:.1e}", f"{m['update_max_rel_error']:.1e}",
    ]  # fmt: skip


def model_table(
    models: Sequence[dict[str, Any]], title: str = "training step: jaxconv vs Flax"
) -> Any:
    """A ``rich.table.Table`` of model records; ratios below 1 in green, above 1.5 in red.
    The loss difference and update error are relative (see :data:`MODEL_SCHEMA`)."""
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for i, h in enumerate(MODEL_HEADERS):
        t.add_column(h, justify="right" if i >= 2 else "left", no_wrap=i == 0)
    for m in models:
        row = _model_row(m)
        style = "green" if m["ratio"] < 1 else "red" if m["ratio"] > 1.5 else ""
        row[4] = f"[{style}]{row[4]}[/]" if style else row[4]
        t.add_row(*row)
    return t


def progress(console: Any = None) -> Any:
    """A ``rich.progress.Progress`` with a bar, count, elapsed and remaining time."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]bench[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), TextColumn("{task.description}"), console=console,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------
# Files


def memory_table(records: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines: XLA temp bytes of jaxconv and lax against the bound, per record."""
    lines = ["| case | layout | dir | strategy | temp jaxconv | temp lax | output | padded input "
             "| bound | within |", "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | "
             "--- |"]  # fmt: skip
    for r in records:
        lines.append(
            f"| {r['suite']}/{r['case']} | {r['layout']} | {r['direction']} | {r['strategy']} | "
            f"{_bytes(r['jaxconv_temp_bytes'])} | {_bytes(r['lax_temp_bytes'])} | "
            f"{_bytes(r['output_bytes'])} | {_bytes(r['padded_input_bytes'])} | "
            f"{_bytes(r['temp_bound_bytes'])} | {'yes' if r['within_bound'] else 'NO'} |"
        )
    return lines


def _groups(records: Sequence[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    out: dict[tuple, list[dict[str, Any]]] = {}
    for r in records:
        key = (r["suite"], r["device"], r["dtype"], r["layout"], r["direction"])
        out.setdefault(key, []).append(r)
    return out


def network_totals(records: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines: per network of ``--suite models-layers`` (cases named
    ``<network>_<layer>_x<count>``), device, dtype and direction, the time of all its
    convolutions in one pass, each layer's median times ``count``, jaxconv's and lax's."""
    totals: dict[tuple, list[float]] = {}
    for r in records:
        if r["suite"] != "models-layers" or r["ratio"] is None:
            continue
        network, _, count = r["case"].rpartition("_x")
        key = (network.split("_")[0], r["device"], r["dtype"], r["direction"])
        sums = totals.setdefault(key, [0.0, 0.0, 0])
        sums[0] += int(count) * r["jaxconv_ms"]
        sums[1] += int(count) * r["lax_ms"]
        sums[2] += 1
    if not totals:
        return []
    lines = ["", "## The model networks' convolutions, layer by layer", "",
             "Each distinct layer's median time times the number of times one forward pass "
             "runs it, summed: the convolutions of one step, not the step itself (`--suite "
             "models` times that).", "",
             "| network | device | dtype | direction | layers | jaxconv ms | lax ms | ratio |",
             "| --- | --- | --- | --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for (network, dev, dtype, direction), (jc, lx, n) in totals.items():
        lines.append(f"| {network} | {dev} | {dtype} | {direction} | {n} | {jc:.1f} | {lx:.1f} "
                     f"| {jc / lx:.2f} |")  # fmt: skip
    return lines


def summary_markdown(
    records: Sequence[dict[str, Any]], peaks: Sequence[dict[str, Any]], rules: str = ""
) -> str:
    """The summary: per-suite geometric means of the ratio, then every record, then the
    memory bound."""
    every = list(records)
    records = [r for r in every if r["ratio"] is not None]
    lines = ["# jaxconv vs lax", ""]
    if records:
        r0 = records[0]
        lines += [f"jax {r0['jax_version']}, jaxconv {r0['jaxconv_version']}. ratio = jaxconv "
                  "time / lax time (median; below 1: jaxconv is faster). Temp: XLA's compiled "
                  "temp memory in bytes (K, M, G: 2^10, 2^20, 2^30), jaxconv/lax. peak: "
                  "fraction of the device's matmul GFLOP/s.", ""]  # fmt: skip
    if rules:
        lines += [rules + ".", ""]
    if peaks:
        lines += ["Matmul peak measured in the same run: " + ", ".join(
            f"{p['device']} ({p['device_kind']}) {p['dtype']} {p['gflops']:.1f} GFLOP/s"
            for p in peaks) + ".", ""]  # fmt: skip
    lines += [
        "## Geometric mean ratio per suite", "",
        "| suite | device | dtype | layout | direction | cases | geomean ratio | worst |",
        "| --- | --- | --- | --- | --- | ---: | ---: | ---: |",
    ]  # fmt: skip
    for (suite, dev, dtype, layout, direction), rs in _groups(records).items():
        worst = max(rs, key=lambda r: r["ratio"])
        lines.append(
            f"| {suite} | {dev} | {dtype} | {layout} | {direction} | {len(rs)} | "
            f"{geomean(r['ratio'] for r in rs):.2f} | {worst['ratio']:.2f} ({worst['case']}) |"
        )
    lines += [
        "",
        "## All cases",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "| " + " | ".join("---" if i < 6 else "---:" for i in range(len(HEADERS))) + " |",
    ]
    lines += ["| " + " | ".join(_row(r)) + " |" for r in records]
    lines += network_totals(records)
    titles = {
        "batch": "Data parallel (batch sharded over devices)",
        "spatial": "Spatially sharded (the first spatial dim split over devices)",
    }
    for kind, title in titles.items():
        sharded = [r for r in records if r["sharded"] == kind]
        if not sharded:
            continue
        lines += ["", f"## {title}", "",
                  "| case | devices | processes | dir | layout | jaxconv ms | 1-device ms | "
                  "scaling | lax ms | lax scaling | permutes | gathers |",
                  "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | "
                  "---: |"]  # fmt: skip
        for r in sharded:
            c = r["collectives"] or {}
            counts = ["/".join(str(c.get(lib, {}).get(op, "-")) for lib in ("jaxconv", "lax"))
                      for op in ("collective-permute", "all-gather")]  # fmt: skip
            ms = [_num(r[k]) for k in ("jaxconv_ms", "single_jaxconv_ms", "scaling", "lax_ms",
                                       "lax_scaling")]  # fmt: skip
            lines.append(
                f"| {r['case']} | {r['num_devices']} | {r['num_processes']} | {r['direction']} | "
                f"{r['layout']} | " + " | ".join(ms + counts) + " |"
            )
    if every:
        over = [r for r in every if r["within_bound"] is False]
        lines += [
            "",
            "## Memory: temp <= 2 * lax temp + output + padded input",
            "",
            f"{len(every) - len(over)} of {len(every)} records within the bound.",
            "",
        ]
        lines += memory_table([r for r in every if r["ratio"] is None] + over)
    return "\n".join(lines) + "\n"


def models_markdown(models: Sequence[dict[str, Any]]) -> str:
    """The model records as a markdown section: one row per network, device and dtype."""
    m0 = models[0]
    lines = [
        "# Models: one training step, jaxconv.nnx vs flax.nnx", "",
        f"jax {m0['jax_version']}, flax {m0['flax_version']}, jaxconv {m0['jaxconv_version']}. "
        "One jitted step (forward, backward, SGD update) of each network built with "
        "flax.nnx.Conv/ConvTranspose and with jaxconv.nnx's from the same parameters; ratio = "
        "jaxconv time / Flax time (medians; min in brackets; min ratio: of the fastest "
        "rounds). Loss diff: relative difference of the losses; update err: the worst layer's "
        "relative distance, after the step, from a float64 step's parameters (jaxconv's, "
        "checked; and Flax's), on the network's smooth twin (softplus for ReLU, mean for "
        "max pooling).", "",
        "| model | device | dtype | strategy | flax ms | jaxconv ms | ratio | min ratio | rounds "
        "| loss diff | update err | flax update err | jaxconv strategies (convs) |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]  # fmt: skip
    for m in models:
        strategies = ", ".join(f"{k} {v}" for k, v in m["strategies"].items())
        lines.append(
            f"| {m['suite']}/{m['case']} | {m['device']} | {m['dtype']} | {m['strategy']} | "
            f"{m['flax_ms']:.1f} ({m['flax_min_ms']:.1f}) | "
            f"{m['jaxconv_ms']:.1f} ({m['jaxconv_min_ms']:.1f}) | {m['ratio']:.2f} | "
            f"{m['min_ratio']:.2f} | {m['reps']} | {m['loss_rel_diff']:.1e} | "
            f"{m['update_max_rel_error']:.1e} | {m['flax_update_max_rel_error']:.1e} | "
            f"{strategies} |"
        )
    lines += ["", "Networks:", ""]
    lines += [f"- {c}: {d}" for c, d in
              dict.fromkeys((m["case"], m["description"]) for m in models)]  # fmt: skip
    return "\n".join(lines) + "\n"


def chart(records: Sequence[dict[str, Any]], path: str) -> None:
    """Save a dot plot of the ratio per case to ``path``: one row per case, device, dtype
    and layout; one colour per direction; log-scale x with 1.0 (parity with lax) marked
    and the faster side shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    rows: dict[str, dict[str, float]] = {}
    records = [r for r in records if r["ratio"] is not None]
    for r in records:
        label = f"{r['suite']}/{r['case']}  {r['layout']} {r['dtype']}"
        if r["num_devices"] > 1 or len({x["device"] for x in records}) > 1:
            label += f" {r['device']}"
        rows.setdefault(label, {})[r["direction"]] = r["ratio"]
    labels = list(rows)[::-1]
    directions = sorted({d for v in rows.values() for d in v})
    colours = {"fwd": "tab:blue", "fwd+bwd": "tab:orange"}
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.24 * max(len(labels), 8)))
    ratios = [v for row in rows.values() for v in row.values()] or [1.0]
    lo, hi = min(min(ratios), 1.0) / 1.5, max(max(ratios), 1.0) * 1.5
    ax.axvspan(lo, 1.0, color="tab:green", alpha=0.07, lw=0)
    ax.axvline(1.0, color="black", lw=1.2)
    for i, d in enumerate(directions):
        ys = [k for k, lab in enumerate(labels) if d in rows[lab]]
        xs = [rows[labels[k]][d] for k in ys]
        offset = (i - (len(directions) - 1) / 2) * 0.18
        ax.scatter(xs, [y + offset for y in ys], s=28, zorder=3, label=d,
                   color=colours.get(d, f"C{i + 2}"))  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ticks = [m * 10.0**e for e in range(-3, 4) for m in (1, 2, 5) if lo <= m * 10.0**e <= hi]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.text(
        0.99,
        1.0,
        "slower than lax →",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=7,
        color="dimgray",
    )
    ax.text(
        0.01,
        1.0,
        "← faster than lax",
        transform=ax.transAxes,
        ha="left",
        va="bottom",
        fontsize=7,
        color="dimgray",
    )
    for k in range(len(labels)):
        ax.axhline(k, color="lightgray", lw=0.5, zorder=1)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.set_xlabel("jaxconv time / lax time (log scale; < 1: jaxconv faster)")
    title = "jaxconv vs lax.conv_general_dilated"
    if records:
        title += f" — {records[0]['device_kind']}, jax {records[0]['jax_version']}"
    ax.set_title(title, fontsize=10, pad=14)
    if directions:
        ax.legend(title="direction", loc="best", fontsize=8)
    else:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no results", transform=ax.transAxes, ha="center", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(
    out_dir: str,
    records: Sequence[dict[str, Any]],
    peaks: Sequence[dict[str, Any]],
    command: str,
    rules: str = "",
    models: Sequence[dict[str, Any]] = (),
) -> dict[str, str]:
    """Write ``results.json``, ``results.png`` and ``summary.md`` into ``out_dir``;
    ``rules`` says where ``auto``'s rules came from. The model records (``models``) go to
    their own list, summary section and chart rows.

    Returns:
        ``{'json': path, 'png': path, 'md': path}``.
    """
    import datetime

    os.makedirs(out_dir, exist_ok=True)
    paths = {k: os.path.join(out_dir, f) for k, f in
             (("json", "results.json"), ("png", "results.png"), ("md", "summary.md"))}  # fmt: skip
    doc = {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": command,
        "auto_rules": rules,
        "peaks": list(peaks),
        "records": list(records),
        "models": list(models),
    }
    with open(paths["json"], "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    sections = [summary_markdown(records, peaks, rules)] if records or not models else []
    sections += [models_markdown(models)] if models else []
    with open(paths["md"], "w") as f:
        f.write("\n".join(sections))
    steps = [{**m, "direction": "train step", "num_devices": 1} for m in models]
    chart([*records, *steps], paths["png"])
    return paths
