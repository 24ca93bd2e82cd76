"""Every ```python block of the documentation runs, page by page, so the docs cannot go stale.

The blocks of one page run in order in one fresh namespace; each page stands on its own.
"""

from __future__ import annotations

import re
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
