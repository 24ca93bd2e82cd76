"""Every ```python block of the documentation runs, page by page, so the docs cannot go stale;
and the built site shows what it means to: no raw Sphinx roles, docstring examples as code,
images no wider than they are shown, one H1 per page.

The blocks of one page run in order in one fresh namespace; each page stands on its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))
_BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    return _BLOCK.findall(page.read_text())


def test_docs_have_pages_and_code():
    names = {p.name for p in PAGES}
    assert {"index.md", "math.md", "layouts.md", "padding.md", "porting.md"} <= names
    assert sum(len(python_blocks(p)) for p in PAGES) >= 15


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_code_runs(page, capsys):
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for k, block in enumerate(python_blocks(page)):
        code = compile(block, f"{page.name} (python block {k + 1})", "exec")
        exec(code, namespace)
    capsys.readouterr()


def test_figures_exist():
    """The pictures the pages show are committed (docs/make_figures.py draws them)."""
    for page in PAGES:
        for image in re.findall(r"!\[[^\]]*\]\((img/[^)]+)\)", page.read_text()):
            assert (DOCS / image).is_file(), f"{page.name} shows missing {image}"


# --- the built site -------------------------------------------------------------------------

ROOT = DOCS.parent
# The width of the content column of the built site (Material's theme, both sidebars shown, a
# 1280 px window), measured in Chromium by docs/screenshots.py: an image no wider than this is
# shown at its own size.
CONTENT_PX = 688
_PRE = re.compile(r"<pre\b.*?</pre>", re.S)
_ROLE = re.compile(r":(func|class|meth|attr|mod|data|obj|exc|ref|py:\w+):")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The documentation site, built as ``make docs`` builds it (strict)."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _pages(site: Path) -> list[Path]:
    pages = sorted(p for p in site.rglob("index.html") if "assets" not in p.parts)
    assert len(pages) >= len(PAGES), pages
    return pages


def _prose(html: str) -> str:
    """The page without its code blocks."""
    return _PRE.sub("", html)


def _visible(html: str) -> str:
    """The page's text outside code blocks, without tags or their attributes."""
    return re.sub(r"<[^>]+>", "", _prose(html))


def test_no_raw_sphinx_roles(site):
    for page in _pages(site):
        found = _ROLE.findall(_prose(page.read_text()))
        assert not found, f"{page.relative_to(site)} shows raw roles: {found[:5]}"


def test_docstring_examples_render_as_code(site):
    for page in _pages(site):
        prose = _prose(page.read_text())
        assert "&gt;&gt;&gt;" not in prose, f"{page.relative_to(site)}: an example not in code"
    api = (site / "api" / "index.html").read_text()
    titles = api.count('doc-section-title">Examples:</span>')
    code = r'<div class="highlight"><pre><span></span><code><span class="gp">&gt;&gt;&gt; '
    lead = r"(?:<p>(?:(?!</p>).)*</p>\s*)?"  # an optional sentence before the code
    blocks = len(re.findall(r'doc-section-title">Examples:</span></p>\s*' + lead + code, api, re.S))
    assert titles >= 20 and blocks == titles, (titles, blocks)
    assert 'doc-section-title">Example:</span>' not in api


def _png_width(path: Path) -> int:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return int.from_bytes(data[16:20], "big")


def test_images_are_not_wider_than_shown(site):
    shown = 0
    for page in _pages(site):
        for tag in re.findall(r"<img\b[^>]*>", page.read_text()):
            src = re.search(r'src="([^"]+)"', tag).group(1)
            if src.startswith(("http", "data:")) or "assets/" in src:
                continue
            width = re.search(r'\bwidth="(\d+)', tag)
            display = min(int(width.group(1)), CONTENT_PX) if width else CONTENT_PX
            natural = _png_width((page.parent / src).resolve())
            assert natural <= display, (
                f"{page.relative_to(site)}: {src} is {natural} px wide but shown at {display} px"
            )
            shown += 1
    assert shown >= 6


def test_one_h1_per_page_and_no_private_names(site):
    for page in _pages(site):
        html = page.read_text()
        name = page.relative_to(site)
        assert len(re.findall(r"<h1\b", html)) == 1, f"{name} has {html.count('<h1')} H1s"
        assert "jaxconv._" not in _visible(html), f"{name} points at a private name"


def test_performance_page_has_the_summary_table_chart_and_links(site):
    html = (site / "performance" / "index.html").read_text()
    assert re.search(r"<th[^>]*>NHWC fwd</th>", html) and "<td>resnet50</td>" in html
    assert 'src="../img/bench_summary.png"' in html
    for link in ("../bench/cpu-2core/", "../bench/cpu-2core/results.json",
                 "../bench/cpu-2core/results.png"):  # fmt: skip
        assert f'href="{link}"' in html, link
    assert (site / "bench" / "cpu-2core" / "results.json").is_file()
    table = (site / "bench" / "cpu-2core" / "index.html").read_text()
    assert table.count("<tr>") > 100  # every case
