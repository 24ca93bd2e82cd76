"""Screenshot every page of the built documentation with headless Chromium.

Run ``python docs/screenshots.py --out DIR`` (Debian: ``apt-get install -y chromium``). It
builds the site with ``mkdocs build`` into a temporary folder (or takes ``--site DIR``), then,
for every page, measures the page in the browser and writes PNGs of it from top to bottom,
``DIR/<page>-01.png``, ``DIR/<page>-02.png``, ... at ``--width`` x ``--height`` pixels each.
It also prints, per page, the size at which the browser displays every image of the content
next to the image's own size, so that a figure drawn wider than it is shown stands out.

Chromium's ``--screenshot`` captures one window; to reach further down a page the script
renders a copy of it with the whole document shifted up by a multiple of the window height.
The copies live in a temporary copy of the site: the built site is left untouched.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Chromium without a user profile, sandbox, GPU or any network use of its own.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)

# Written into a page to measure it: the document's height and, for each image of the
# content, its displayed and natural width, stored as JSON in the title for --dump-dom.
_MEASURE = """<script>window.addEventListener("load", () => {
  const images = [...document.querySelectorAll(".md-content img")].map(i => ({
    src: i.getAttribute("src"), shown: i.clientWidth, natural: i.naturalWidth}));
  document.title = "MEASURE" + JSON.stringify(
    {height: document.documentElement.scrollHeight, images: images});
});</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("screenshots: no Chromium found; on Debian: apt-get install -y chromium")


def run_chromium(browser: str, profile: str, *args: str) -> str:
    cmd = [browser, *FLAGS, f"--user-data-dir={profile}", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    return out.stdout


def build_site(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--quiet", "--site-dir", str(dest)],
        cwd=ROOT,
        check=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    return dest


def pages(site: Path) -> list[Path]:
    """Every page of the site (mkdocs writes ``name/index.html``), the home page first."""
    found = sorted(p for p in site.rglob("index.html") if "assets" not in p.parts)
    return sorted(found, key=lambda p: (p.parent != site, str(p)))


def page_name(site: Path, page: Path) -> str:
    rel = page.parent.relative_to(site)
    return "index" if str(rel) == "." else str(rel).replace("/", "-")


def with_injected(page: Path, suffix: str, text: str) -> Path:
    """A copy of ``page`` beside it (so that relative links still resolve) with ``text``
    inserted before ``</body>``."""
    html = page.read_text()
    copy = page.with_name(f"index.{suffix}.html")
    copy.write_text(html.replace("</body>", text + "</body>", 1))
    return copy


def measure(browser: str, profile: str, page: Path, width: int, height: int) -> dict:
    copy = with_injected(page, "measure", _MEASURE)
    dom = run_chromium(
        browser, profile, f"--window-size={width},{height}", "--dump-dom", copy.as_uri()
    )
    match = re.search(r"<title>MEASURE(.*?)</title>", dom, re.S)
    if not match:
        raise RuntimeError(f"could not measure {page}")
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def shoot(
    browser: str, profile: str, page: Path, out: Path, name: str, width: int, height: int
) -> list[Path]:
    info = measure(browser, profile, page, width, height)
    count = max(1, math.ceil(info["height"] / height))
    shots = []
    for k in range(count):
        shift = f"<style>html {{ transform: translateY(-{k * height}px); }}</style>"
        copy = with_injected(page, f"shot{k}", shift)
        path = out / f"{name}-{k + 1:02d}.png"
        run_chromium(
            browser,
            profile,
            f"--window-size={width},{height}",
            f"--screenshot={path}",
            copy.as_uri(),
        )
        shots.append(path)
    images = ", ".join(
        f"{Path(i['src']).name} {i['natural']} px shown at {i['shown']} px" for i in info["images"]
    )
    print(
        f"{name}: {info['height']} px tall, {count} screenshot(s)"
        + (f"; {images}" if images else "")
    )
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs")
    parser.add_argument("--site", type=Path, help="a built site (default: build one)")
    parser.add_argument("--width", type=int, default=1280, help="window width (default 1280)")
    parser.add_argument("--height", type=int, default=1400, help="window height (default 1400)")
    parser.add_argument("--page", action="append", help="only pages with this name (repeatable)")
    args = parser.parse_args(argv)
    browser = chromium()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        if args.site:
            shutil.copytree(args.site, site)
        else:
            build_site(site)
        profile = Path(tmp) / "profile"
        profile.mkdir()
        for page in pages(site):
            name = page_name(site, page)
            if args.page and name not in args.page:
                continue
            shoot(browser, str(profile), page, args.out, name, args.width, args.height)
    return 0


if __name__ == "__main__":
    sys.exit(main())
