"""Browser tests: the report as a reader's browser shows it, with the network cut off.

They drive Debian's chromium (`apt-get install chromium`) through Playwright
(`pip install playwright`; no `playwright install`: the system browser is used),
and are skipped cleanly where either is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = chromium_path()
    if path is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Opened:
    """A page opened offline, with every request it tried and every error it raised."""

    page: object
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def open_offline(browser):
    """open_offline(path): the file in a fresh context whose network is blocked."""
    contexts = []

    def opener(path: Path, width: int = 1200, height: int = 900) -> Opened:
        ctx = browser.new_context(viewport={"width": width, "height": height},
                                  service_workers="block")
        contexts.append(ctx)
        opened = Opened(page=None)

        def route(r):
            url = r.request.url
            opened.requests.append(url)
            if url.startswith("file:") or url.startswith("data:") or url.startswith("blob:"):
                r.continue_()
            else:
                opened.blocked.append(url)
                r.abort()

        ctx.route("**/*", route)
        page = ctx.new_page()
        page.on("console", lambda m: opened.errors.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: opened.errors.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: opened.errors.append(f"request failed: {r.url}"))
        opened.page = page
        page.goto(Path(path).resolve().as_uri(), wait_until="load")
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('.plot'))"
            ".every(d => d.data !== undefined && d.querySelector('.main-svg'))",
            timeout=30_000)
        return opened

    yield opener
    for ctx in contexts:
        ctx.close()
