"""The client page in a real headless Chromium: phone and desktop, light and dark, accessibility,
nothing external and no script."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from syncd.serving import AppServer
from syncd.web import create_app

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
# Screenshots land in the test's temporary folder; SYNCD_SCREENSHOTS=docs refreshes the README's.
SHOTS_ENV = "SYNCD_SCREENSHOTS"
# The demo client whose page the README shows: two pools, an adjustment, work from two sources.
SHOWCASE = "Acme Dental"
WIDTHS = (360, 1280)


@pytest.fixture
async def demo_pages(tmp_path: Path) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """The demo's pages, published once and served by the built-in server on loopback."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    from syncd.demo import run_demo
    from syncd.settings import Settings

    printed: list[str] = []
    await run_demo(Settings(http_port=0), tmp_path / "demo", once=True, echo=printed.append)
    tokens = {line.split(": ", 1)[0]: line.rsplit("/c/", 1)[1].strip("/") for line in printed if "/c/" in line}
    async with AppServer(create_app(tmp_path / "demo" / "public")) as server:
        yield server.url, tokens


def serious(results: Any) -> list[str]:
    return [f"{v['id']}: {v['help']}" for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]


async def test_page_renders_on_phone_and_desktop_accessible_self_contained_and_scriptless(
    demo_pages: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import async_playwright

    base, tokens = demo_pages
    assert len(tokens) >= 3 and SHOWCASE in tokens
    shots = Path(os.environ.get(SHOTS_ENV) or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    origin = urlsplit(base).netloc
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for client, token in tokens.items():
                for width in WIDTHS:
                    for scheme in ("light", "dark"):
                        page = await browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
                        requested: list[str] = []
                        page.on("request", lambda request: requested.append(request.url))
                        response = await page.goto(f"{base}/c/{token}/")
                        assert response is not None and response.status == 200
                        await page.wait_for_load_state("networkidle")
                        if scheme == "light":
                            name = "page" if client == SHOWCASE else client.lower().replace(" ", "-")
                            await page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
                        # No script in the document, and none in the bytes served (not even inert).
                        assert await page.locator("script").count() == 0
                        assert b"<script" not in (await response.body()).lower()
                        assert await page.locator("h1").count() == 1
                        assert await page.locator("svg[role=img] title").count() == 1  # the chart
                        # Nothing wider than the viewport: the phone layout does not scroll sideways.
                        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                        assert overflow <= 0, f"{client} {width}px page is {overflow}px too wide"
                        results = await Axe().run(page)
                        assert serious(results) == [], (client, width, scheme)
                        # The browser's network log: the page itself and nothing else, from its own host.
                        assert requested == [f"{base}/c/{token}/"], requested
                        assert {urlsplit(url).netloc for url in requested} == {origin}
                        await page.close()
        finally:
            await browser.close()
    for width in WIDTHS:
        assert (shots / f"page-{width}.png").stat().st_size > 10_000
    assert {p.name for p in shots.glob("*.png")} >= {
        f"{'page' if c == SHOWCASE else c.lower().replace(' ', '-')}-{w}.png" for c in tokens for w in WIDTHS}
