"""The app in a real browser: paint a stroke, generate, segment; screenshots for a human look.

Needs Debian's chromium (``apt-get install chromium``; CI installs it) and the ``playwright``
Python package, which drives it; no browser is downloaded.
"""

import os
import shutil
import socket
from pathlib import Path

import pytest

from conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("SYMMFLOW_TEST_ARTIFACTS", ROOT / "test-artifacts"))

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    from app import demo

    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(app_url, wait_until="networkidle")
        yield page
        browser.close()


def _image_src(page, selector: str) -> str | None:
    img = page.locator(f"{selector} img").first
    return img.get_attribute("src") if img.count() else None


def test_paint_a_stroke_and_generate(page):
    canvas = page.locator("#paint-canvas canvas").first
    canvas.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(1500)  # the example mask loads into the editor
    box = canvas.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.45
    page.mouse.move(x0, y0)
    page.mouse.down()
    for k in range(12):
        page.mouse.move(x0 + 6 * k, y0 + 2 * k)
    page.mouse.up()
    page.screenshot(path=str(ARTIFACTS / "paint_before.png"))
    page.locator("#paint-generate").click()
    page.locator("#paint-gallery img").first.wait_for(state="visible", timeout=120_000)
    assert _image_src(page, "#paint-live")
    page.screenshot(path=str(ARTIFACTS / "paint_after.png"), full_page=True)


def test_segment_an_example(page):
    page.get_by_role("tab", name="Segment a photo").click()
    examples = page.locator("#segment-photo").locator("xpath=ancestor::div[contains(@class,'column')][1]").locator("table tbody tr, .gallery-item, button.example")
    page.wait_for_timeout(500)
    page.get_by_text("example portraits").first.wait_for(timeout=10_000)
    # the first example thumbnail loads the photo
    page.locator(".gallery button, button.gallery-item, tbody tr").filter(has=page.locator("img")).first.click()
    page.locator("#segment-photo img").first.wait_for(state="visible", timeout=30_000)
    page.locator("#segment-run").click()
    page.locator("#segment-final img").first.wait_for(state="visible", timeout=120_000)
    page.screenshot(path=str(ARTIFACTS / "segment_after.png"), full_page=True)
    assert _image_src(page, "#segment-final")
    del examples
