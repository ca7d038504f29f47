"""The HTML report in a real browser (headless Chromium): it draws, it is not blank, it logs no
error, and hostile names and sources show as text while nothing in them runs."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _extras import need
from _hostile import EVIL_NAME, EVIL_SOURCE

need("matplotlib")  # the HTML report's plots: the report extra
REQUIRED = os.environ.get("VLMPLANNER_REQUIRE_BROWSER") == "1"  # .ci/run: a missing browser is a failure


def _chromium() -> str | None:
    for candidate in (os.environ.get("VLMPLANNER_TEST_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        executable = None
    if executable is None:
        if REQUIRED:
            pytest.fail("no Chromium (apt-get install chromium) or no playwright to drive it")
        pytest.skip("needs a Chromium binary (apt-get install chromium; or VLMPLANNER_TEST_CHROMIUM) and playwright")
    with sync_playwright() as driver:
        instance = driver.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield instance
        instance.close()


class Page:
    """A page opened from a file, with every console message, page error and dialog it raised."""

    def __init__(self, browser: Any, path: Path) -> None:
        self.events: list[tuple[str, str]] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.page.on("console", lambda m: self.events.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.events.append(("pageerror", str(e))))
        self.page.on("dialog", lambda d: (self.events.append(("dialog", d.message)), d.dismiss()))
        self.page.on("request", lambda r: self.events.append(("request", r.url)) if not r.url.startswith(
            ("file:", "data:")) else None)
        self.page.goto(path.as_uri())

    def errors(self) -> list[tuple[str, str]]:
        return [e for e in self.events if e[0] in ("error", "pageerror", "dialog", "request", "warning")]

    def close(self) -> None:
        self.page.close()


def _not_blank(png: bytes) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    low, high = image.getextrema()
    assert high - low > 100, "the screenshot is blank"
    histogram = image.histogram()
    assert sum(histogram[:200]) > 0.01 * sum(histogram), "the screenshot is almost all white"


def test_the_report_draws_without_errors(browser: Any, shipped_url: str, tmp_path: Path) -> None:
    from vlmplanner.planner import Planner

    with Planner(shipped_url) as planner:
        report = planner.report(task="visual-reasoning", budget="3000 GFLOPs", hardware=["h100-sxm", "l4", None])
    path = report.write(tmp_path / "report.html")
    page = Page(browser, path)
    try:
        drawn = page.page.evaluate(
            "Array.from(document.querySelectorAll('figure.plot svg')).map(s => s.querySelectorAll("
            "'path, use, rect, line, polyline').length)")
        # per profile: four axes (latency and money missing without hardware) and a breakdown; the laws
        assert len(drawn) == 3 * 5 - 2 + len(report.laws)
        assert min(drawn) > 20, drawn
        assert page.errors() == []
        _not_blank(page.page.screenshot(full_page=True))
        # the axis tabs switch panels: the money panel shows once chosen
        section = page.page.locator("section.hardware-section").first
        section.locator("label", has_text="money").click()
        assert section.locator(".panel").nth(3).is_visible()
        assert not section.locator(".panel").nth(0).is_visible()
    finally:
        page.close()


def test_hostile_names_and_sources_are_text(browser: Any, evil_url: str, tmp_path: Path) -> None:
    from markdown_it import MarkdownIt

    from vlmplanner.planner import Planner

    with Planner(evil_url) as planner:
        report = planner.report(task="GQA", budget="20000 GFLOPs", include="all", hardware=["h100-sxm"])
    assert report.sections[0].recommendation is not None
    assert report.sections[0].recommendation.model.checkpoint == EVIL_NAME
    html_path = report.write(tmp_path / "report.html")
    # the Markdown as a wiki would show it: a renderer that lets raw HTML through, as GitHub's does
    markdown = report.render("md")
    md_path = tmp_path / "report-md.html"
    md_path.write_text("<!DOCTYPE html><html><body>" + MarkdownIt("commonmark", {"html": True}).enable(
        "table").render(markdown) + "</body></html>")
    for path in (html_path, md_path):
        page = Page(browser, path)
        try:
            text = page.page.evaluate("document.body.innerText")
            assert EVIL_NAME in text, path.name
            assert EVIL_SOURCE in text, path.name
            assert page.page.evaluate("document.querySelectorAll('script, img').length") == 0
            assert page.errors() == [], path.name
        finally:
            page.close()


def test_the_catalog_report_opens_cleanly(browser: Any, evil_url: str, tmp_path: Path) -> None:
    from vlmplanner.report import summarise_catalog
    from vlmplanner.store import open_catalog

    with open_catalog(evil_url) as store:
        summary = summarise_catalog(store)
    path = tmp_path / "catalog.html"
    path.write_text(summary.render("html"))
    page = Page(browser, path)
    try:
        assert page.errors() == []
        text = page.page.evaluate("document.body.innerText")
        assert "Quality coverage per benchmark" in text and EVIL_NAME in text
        assert page.page.evaluate("document.querySelectorAll('script, img').length") == 0
    finally:
        page.close()
