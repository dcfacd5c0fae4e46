"""Headless Chromium (Playwright driving Debian's chromium) opens a report built from a tiny real
store: every image decodes, the console stays clean, nothing but the file itself is requested, and
a phone-wide window does not scroll sideways. Screenshots and a PDF go to test-artifacts/ for a
person to look at. Run with `pytest -m browser`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from test_browser_ui import Watched, browser  # noqa: F401  (the shared Chromium fixture)
from test_report import build_store
from trainlab.report import write_report

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
PHONE, DESKTOP = (390, 844), (1280, 900)  # CSS pixels


def test_report_renders_in_chromium_on_desktop_phone_and_paper(
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    made = build_store(tmp_path / "store")
    ARTIFACTS.mkdir(exist_ok=True)
    report = write_report(made["store"], ARTIFACTS / "report.html", everything=True, title="tiny")
    assert report.path is not None
    html = report.path.read_text(encoding="utf-8")
    url = report.path.as_uri()

    desk = Watched(browser, *DESKTOP)
    page = desk.page
    page.goto(url, wait_until="load")
    page.evaluate("Promise.all([...document.images].map(i => i.decode().catch(() => 0)))")
    images = page.evaluate(
        "[...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])"
    )
    assert len(images) == html.count("<img ") >= 6
    broken = [alt for alt, complete, w, h in images if not (complete and w > 0 and h > 0)]
    assert broken == []
    dangling = page.evaluate(
        "[...document.querySelectorAll('a[href^=\"#\"]')]"
        ".filter(a => !document.getElementById(a.hash.slice(1))).map(a => a.hash)"
    )
    assert dangling == []
    assert page.evaluate("document.querySelector('nav.toc').getBoundingClientRect().width") > 0
    assert page.evaluate("[...document.querySelectorAll('.swipe')].every(s => s.hidden)")
    page.screenshot(path=str(ARTIFACTS / "report-desktop.png"), full_page=True)
    page.pdf(path=str(ARTIFACTS / "report.pdf"), prefer_css_page_size=True, print_background=True)
    assert (ARTIFACTS / "report.pdf").read_bytes().startswith(b"%PDF")
    desk.close()

    phone = Watched(browser, *PHONE)
    phone.page.goto(url, wait_until="load")
    sideways = phone.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert sideways <= 0, "the page scrolls sideways on a phone"
    # a figure wider than the phone scrolls inside its frame, and says so (only those figures)
    hints = phone.page.evaluate(
        "[...document.querySelectorAll('figure.figure .frame')].map(f => "
        "[f.scrollWidth > f.clientWidth + 1, !f.nextElementSibling.hidden])"
    )
    assert any(wide for wide, _ in hints), "no figure is wider than a phone: the check is empty"
    assert all(wide == shown for wide, shown in hints)
    phone.page.screenshot(path=str(ARTIFACTS / "report-phone.png"), full_page=True)
    phone.close()

    for seen in (desk, phone):
        assert seen.problems == []
        assert {u.split(":", 1)[0] for u in seen.requests} <= {"file", "data", "about"}
        assert [u for u in seen.requests if u.startswith("file:")] == [url]


@pytest.mark.parametrize("width", [1400, 390])
def test_contents_sidebar_keeps_long_names_inside_it(
    tmp_path: Path,
    width: int,
    browser: Any,  # noqa: F811
) -> None:
    """A study named by a long path wraps inside the contents (and its heading inside the page)
    instead of overflowing them, on a wide screen (a sticky sidebar) and on a phone."""
    from test_report import build_look_alike_studies
    from trainlab.track.store import Store

    store = Store(tmp_path / "store")
    build_look_alike_studies(store)
    ARTIFACTS.mkdir(exist_ok=True)
    report = write_report(store, ARTIFACTS / f"report-long-names-{width}.html", everything=True)
    assert report.path is not None
    seen = Watched(browser, width, 900)
    seen.page.goto(report.path.as_uri(), wait_until="load")
    over = seen.page.evaluate(
        "(() => { const toc = document.querySelector('nav.toc'), box = toc.getBoundingClientRect();"
        " return [toc.scrollWidth - toc.clientWidth, ...[...toc.querySelectorAll('a')]"
        ".map(a => a.getBoundingClientRect().right - box.right)]; })()"
    )
    assert max(over) <= 0, f"the contents overflow by {max(over)} px"
    sideways = seen.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert sideways <= 0, "a long name makes the page scroll sideways"
    seen.page.screenshot(path=str(ARTIFACTS / f"report-long-names-{width}.png"))
    seen.close()
    assert seen.problems == []
