"""The app in a real browser: paint a stroke, generate, segment; screenshots for a human look.

Needs Debian's chromium (``apt-get install chromium``; CI installs it) and the ``playwright``
Python package, which drives it; no browser is downloaded.
"""

import os
import shutil
from pathlib import Path

import pytest

from conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("SYMMFLOW_TEST_ARTIFACTS", ROOT / "test-artifacts"))

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def page(served_app):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(served_app, wait_until="load", timeout=60_000)
        page.locator("#paint-generate").wait_for(timeout=60_000)
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
    page.locator("#paint-gif a").first.wait_for(timeout=60_000)  # the GIF follows the portrait
    page.screenshot(path=str(ARTIFACTS / "paint_after.png"), full_page=True)


def test_segment_an_uploaded_photo(page):
    page.get_by_role("tab", name="Segment a photo").click()
    page.locator("#segment-photo input[type=file]").set_input_files(str(ROOT / "assets" / "faces" / "image_1.png"))
    page.locator("#segment-photo img").first.wait_for(state="visible", timeout=30_000)
    page.locator("#segment-run").click()
    page.locator("#segment-final img").first.wait_for(state="visible", timeout=120_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "segment_after.png"), full_page=True)
    assert _image_src(page, "#segment-final")
