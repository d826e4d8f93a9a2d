"""The client page in a real headless Chromium: phone and desktop, accessibility, nothing external."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from syncd.serving import AppServer
from syncd.web import create_app

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def demo_pages(tmp_path: Path) -> AsyncIterator[tuple[str, list[str]]]:
    """The demo's pages, published once and served by the built-in server on loopback."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    from syncd.demo import run_demo
    from syncd.settings import Settings

    printed: list[str] = []
    await run_demo(Settings(http_port=0), tmp_path / "demo", once=True, echo=printed.append)
    tokens = [line.rsplit("/c/", 1)[1].strip("/") for line in printed if "/c/" in line]
    async with AppServer(create_app(tmp_path / "demo" / "public")) as server:
        yield server.url, tokens


async def test_page_renders_on_phone_and_desktop_accessible_self_contained_and_scriptless(
    demo_pages: tuple[str, list[str]], tmp_path: Path
) -> None:
    from axe_playwright_python.async_playwright import Axe
    from playwright.async_api import async_playwright

    base, tokens = demo_pages
    assert len(tokens) >= 3
    origin = urlsplit(base).netloc
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for token in tokens:
                for width in (360, 1280):
                    page = await browser.new_page(viewport={"width": width, "height": 900})
                    requested: list[str] = []
                    page.on("request", lambda request: requested.append(request.url))
                    response = await page.goto(f"{base}/c/{token}/")
                    assert response is not None and response.status == 200
                    await page.screenshot(path=str(tmp_path / f"{token[:6]}-{width}.png"), full_page=True)
                    assert await page.locator("script").count() == 0
                    assert await page.locator("h1").count() == 1
                    # Nothing wider than the viewport: the phone layout does not scroll sideways.
                    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                    assert overflow <= 0, f"{width}px page is {overflow}px too wide"
                    results = await Axe().run(page)
                    serious = [v["id"] for v in results.response["violations"]
                               if v.get("impact") in ("serious", "critical")]
                    assert serious == [], serious
                    assert {urlsplit(url).netloc for url in requested} == {origin}
                    await page.close()
        finally:
            await browser.close()
    assert len(list(tmp_path.glob("*.png"))) == 2 * len(tokens)
