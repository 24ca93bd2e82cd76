"""mkdocs hooks: the committed benchmark results, shown in the docs without copying them.

- A page line ``<!-- bench-geomeans: benchmarks/results/DIR -->`` becomes a short table of the
  geometric-mean ratio (jaxconv time / lax time) per suite, layout and direction, computed
  from ``DIR/results.json``.
- A page line ``<!-- auto-rules: PLATFORM -->`` becomes the tree of ``auto``'s rules for that
  platform, as ``python -m jaxconv rules`` prints it, from the rules file jaxconv ships.
- Every ``benchmarks/results/DIR`` is published with the site: ``bench/DIR/results.json`` and
  ``bench/DIR/results.png`` as they are, and ``bench/DIR/`` a page of its ``summary.md``
  (every case), so the performance page can link to the full tables.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
_MARKER = re.compile(r"^<!-- bench-geomeans: (\S+) -->$", re.M)
_RULES = re.compile(r"^<!-- auto-rules: (\w+) -->$", re.M)


def rules_text(platform: str) -> str:
    """``auto``'s rules for ``platform`` as a text block (the jaxconv in ``src/``)."""
    import sys

    sys.path.insert(0, str(ROOT / "src"))
    from jaxconv import _rules

    rules = _rules.measured(platform)
    if rules is None:
        return f"*No rules are measured for {platform}.*"
    return "```text\n" + rules.text() + "\n```"


def _geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def geomean_table(results_dir: Path) -> str:
    """Markdown: one row per suite, one column per layout and direction, each cell the
    geometric mean of the ratio over that suite's cases (below 1: jaxconv is faster)."""
    doc = json.loads((results_dir / "results.json").read_text())
    cells: dict[tuple[str, str, str], list[float]] = {}
    for r in doc["records"]:
        if r["num_devices"] == 1 and r["ratio"] is not None:
            cells.setdefault((r["suite"], r["layout"], r["direction"]), []).append(r["ratio"])
    suites = list(dict.fromkeys(k[0] for k in cells))
    columns = sorted({k[1:] for k in cells}, key=lambda c: (c[1], c[0] != "NHWC"))
    counts = {s: max(len(v) for k, v in cells.items() if k[0] == s) for s in suites}
    head = "| suite | cases | " + " | ".join(f"{lay} {d}" for lay, d in columns) + " |"
    rule = "| --- | ---: | " + " | ".join("---:" for _ in columns) + " |"
    rows = [
        f"| {s} | {counts[s]} | "
        + " | ".join(
            f"{_geomean(cells[(s, *c)]):.2f}" if (s, *c) in cells else "–" for c in columns
        )
        + " |"
        for s in suites
    ]
    first = doc["records"][0]
    note = (
        f"\n\n*{first['device_kind']}, {first['dtype']}, jax {first['jax_version']}; "
        f"geometric mean of jaxconv time / lax time over each suite's cases.*"
    )
    return "\n".join([head, rule, *rows]) + note


def on_page_markdown(markdown: str, page, config, files) -> str:
    markdown = _MARKER.sub(lambda m: geomean_table(ROOT / m.group(1)), markdown)
    return _RULES.sub(lambda m: rules_text(m.group(1)), markdown)


def on_files(files, config):
    for results in sorted(p for p in RESULTS.iterdir() if (p / "results.json").is_file()):
        for name in ("results.json", "results.png"):
            if (results / name).is_file():
                uri = f"bench/{results.name}/{name}"
                files.append(File.generated(config, uri, abs_src_path=str(results / name)))
        summary = results / "summary.md"
        if summary.is_file():
            text = summary.read_text()
            title = f"# Benchmarks: every case ({results.name})"
            text = re.sub(r"^# .*$", title, text, count=1, flags=re.M)
            files.append(File.generated(config, f"bench/{results.name}.md", content=text))
    return files
