"""Take the README's screenshot of a report: `python tests/browser/screenshot.py REPORT PNG`.

It opens the report the way the browser tests do (Debian's chromium, no
network) and captures the top of the page: the key numbers and the first
charts. docs/report.png was made with:

    scoresim run pilot-city --out runs/readme --report
    scoresim run no-system --out runs/readme-none
    scoresim report runs/readme --baseline runs/readme-none
    python tests/browser/screenshot.py runs/readme/report.html docs/report.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).parent))
from conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402


def screenshot(report: Path, png: Path, width: int = 1200, height: int = 1440) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": width, "height": height},
                                  device_scale_factor=1)
        ctx.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:")
                  else r.abort())
        page = ctx.new_page()
        page.goto(report.resolve().as_uri(), wait_until="load")
        page.wait_for_function("() => Array.from(document.querySelectorAll('.plot'))"
                               ".every(d => d.querySelector('.main-svg'))")
        page.screenshot(path=str(png), clip={"x": 0, "y": 0, "width": width, "height": height})
        browser.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    screenshot(Path(sys.argv[1]), Path(sys.argv[2]))
