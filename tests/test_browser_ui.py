"""`trainlab ui` in headless Chromium (Playwright, Debian's chromium): live curves of a run training
in another process, a band over 3 seeds, the filter, an XSS-named run shown as text, a clean
console, no request off the origin; screenshots at 1280 and 390 px go to test-artifacts/."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from test_ui import EVIL, TINY, build_ui_store

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = os.environ.get("TRAINLAB_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BAD_FILTER = "val_acc >> 1"
BAD_FILTER_URL = "q=val_acc+%3E%3E+1"  # its 400 is the one expected "failed to load" in the console
TRAINER = """
import sys, time, trainlab
from trainlab.config import RunConfig
from trainlab.track.store import Store
class Slow(trainlab.Callback):
    def on_epoch(self, epoch, model, metrics):
        print(epoch, flush=True)
        time.sleep(1.0)  # an epoch a second, so the page can watch it arrive
cfg = RunConfig.model_validate(dict(TINY, name="live-run")).with_overrides({"train.epochs": 40})
trainlab.run(cfg, Store(sys.argv[1]), [Slow()])
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: `apt-get install chromium`")
    with sync_api.sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chrome
        chrome.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The store, a run training in another process, and `trainlab ui` serving the store."""
    made = build_ui_store(tmp_path_factory.mktemp("browser") / "store")
    root = str(made["store"].root)
    trainer = subprocess.Popen(
        [sys.executable, "-c", f"TINY = {TINY!r}\n{TRAINER}", root],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert trainer.stdout is not None
    trainer.stdout.readline()  # its first epoch is stored: the run is live
    with serve(Path(root)) as url:
        yield {**made, "url": url}
    trainer.terminate()
    trainer.wait(timeout=30)


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """`trainlab ui` on a free port over `root`; yields its URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "trainlab", "ui", "--store", str(root), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:")
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


class Watched:
    """A page whose console problems and every requested URL are recorded."""

    def __init__(self, browser: Any, width: int, height: int) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.problems.append(f"exception: {e}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

    def _console(self, msg: Any) -> None:
        where = msg.location.get("url", "")
        if msg.type in ("error", "warning") and BAD_FILTER_URL not in where:
            self.problems.append(f"console.{msg.type}: {msg.text} ({where})")

    def rows(self) -> int:
        return int(self.page.locator("#runs tbody tr").count())

    def close(self) -> None:
        self.context.close()


def until(page: Any, expr: str, timeout: float = 10.0) -> float:
    """Poll `expr` in the page until it is true; the seconds it took. (Playwright's own
    wait_for_function evaluates strings with eval, which our CSP rightly forbids.)"""
    t0 = time.monotonic()
    while not page.evaluate(expr):
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not true within {timeout} s: {expr}")
        time.sleep(0.05)
    return time.monotonic() - t0


def group_runs(page: Any, query: str, by: str, groups: int) -> None:
    """Fill the Groups form and wait for its summary table to show `groups` rows."""
    page.fill("#group-filter", query)
    page.fill("#group-by", by)
    page.press("#group-by", "Enter")
    until(page, f"document.querySelectorAll('#group-summary tbody tr').length === {groups}")


def shoot(w: Watched, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    w.page.wait_for_timeout(300)
    w.page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_dashboard_live_curves_groups_filter_and_escaping(
    browser: Any, served: dict[str, Any]
) -> None:
    url = served["url"]
    w = Watched(browser, 1280, 900)
    page = w.page
    page.goto(url + "#/runs")
    page.wait_for_selector("#runs tbody tr")
    assert w.rows() == 6  # 5 finished + the live one
    evil = page.locator(f"tr[data-id='{served['evil']}'] td.name")
    assert evil.text_content() == EVIL  # shown as text, not run
    assert page.evaluate("document.querySelectorAll('script').length") == 6
    assert page.evaluate("document.querySelectorAll('td script, td img').length") == 0

    page.fill("#filter", "optim.name=sgd")
    page.press("#filter", "Enter")
    until(page, "document.querySelectorAll('#runs tbody tr').length === 2")
    page.fill("#filter", BAD_FILTER)
    page.press("#filter", "Enter")
    until(page, "document.getElementById('filter-error').textContent.length > 0")
    assert page.text_content("#filter-error").startswith("filter: ")

    page.fill("#filter", "status=running")
    page.press("#filter", "Enter")
    until(page, "document.querySelectorAll('#runs tbody tr').length === 1")
    page.check("#runs tbody tr input[type=checkbox]")
    until(page, "document.getElementById('curves')?.data?.length === 1")
    before = page.evaluate("document.getElementById('curves').data[0].x.length")
    waited = until(page, f"document.getElementById('curves').data[0].x.length > {before}", 3.0)
    assert waited <= 3.0  # the next epoch is on the chart within 3 s
    assert page.evaluate("document.getElementById('curves').data[0].name").startswith("● live-run")
    page.fill("#filter", "")
    page.press("#filter", "Enter")
    until(page, "document.querySelectorAll('#runs tbody tr').length === 6")
    page.check(f"tr[data-id='{served['seeds'][0]}'] input[type=checkbox]")
    until(page, "document.getElementById('curves')?.data?.length === 2")
    shoot(w, "ui-runs-desktop.png")

    page.goto(url + "#/groups")
    group_runs(page, "optim.name=adam and status=finished", "seed", 1)
    legend = page.evaluate(
        "document.getElementById('group-chart').data.filter(t => t.showlegend !== false).map(t => t.name)"
    )
    assert len(legend) == 1 and legend[0].endswith("(n=3)")
    bands = page.evaluate(
        "document.getElementById('group-chart').data.filter(t => t.fill === 'tonexty').length"
    )
    assert bands == 1
    assert "n=3" in page.text_content("#group-chart .legend")
    page.check("#group-traces")
    until(page, "document.getElementById('group-chart').data.length === 6")
    shoot(w, "ui-groups-desktop.png")

    # two fields: colour follows optim.name, line style train.epochs (the live run has 40)
    page.uncheck("#group-traces")
    group_runs(page, "", "optim.name, train.epochs", 3)
    lines = page.evaluate(
        "Object.fromEntries(document.getElementById('group-chart').data"
        ".filter(t => t.showlegend !== false).map(t => [t.name.split(' (')[0], t.line]))"
    )
    adam2, adam40 = (
        lines["optim.name=adam train.epochs=2"],
        lines["optim.name=adam train.epochs=40"],
    )
    sgd2 = lines["optim.name=sgd train.epochs=2"]
    assert adam2["color"] == adam40["color"] != sgd2["color"]
    assert adam2["dash"] == sgd2["dash"] == "solid" != adam40["dash"]
    shoot(w, "ui-groups-two-fields-desktop.png")

    page.goto(url + f"#/run/{served['seeds'][0]}")
    page.wait_for_selector("#run-loss .main-svg")
    shoot(w, "ui-run-desktop.png")
    w.close()

    phone = Watched(browser, 390, 844)
    phone.page.goto(url + "#/runs")
    phone.page.wait_for_selector("#runs tbody tr")
    sideways = phone.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert sideways <= 0, "the page scrolls sideways on a phone"
    shoot(phone, "ui-runs-phone.png")
    phone.page.goto(url + "#/groups")
    phone.page.wait_for_selector("#group-summary tbody tr")
    shoot(phone, "ui-groups-phone.png")
    phone.close()

    for seen in (w, phone):
        assert seen.problems == []
        assert seen.dialogs == []
        assert [u for u in seen.requests if not u.startswith(url.rstrip("/"))] == []


def test_studies_search_and_inspection_pages(browser: Any, tmp_path: Path) -> None:
    from test_report import build_store

    made = build_store(tmp_path / "store")
    with serve(made["store"].root) as url:
        w = Watched(browser, 1280, 900)
        page = w.page
        page.goto(url + "#/studies")
        page.wait_for_selector("#main table tbody tr")
        assert page.locator("#main table tbody tr").count() == 2  # the search and the inspection
        page.goto(url + f"#/study/{made['search']}")
        page.wait_for_selector("#history .main-svg")
        page.wait_for_selector("svg.parcoords path", state="attached")
        lines = page.evaluate(
            "[...document.querySelectorAll('svg.parcoords path')].map(p => p.dataset.run)"
        )
        assert len(lines) == 2 and all(lines)
        assert page.text_content("#progress").startswith("2 / 2 runs done")
        page.locator("svg.parcoords path").first.click(force=True)
        until(page, "location.hash.startsWith('#/run/')")
        page.wait_for_selector("#run-loss .main-svg")
        page.goto(url + f"#/study/{made['inspection']}")
        page.wait_for_selector("figure img")
        until(page, "[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        shoot(w, "ui-inspection-desktop.png")
        # each table and figure links its files for a paper: LaTeX, CSV, PDF, SVG
        links = page.evaluate(
            "[...document.querySelectorAll('#main a[download]')].map(a => a.href)"
        )
        assert {h.rsplit(".", 1)[-1] for h in links} >= {"csv", "tex", "md", "svg", "pdf"}
        for href in (h for h in links if h.endswith((".tex", ".pdf"))):
            got = page.request.get(href)
            assert got.ok, href
            assert (
                got.body().startswith(b"%PDF-")
                if href.endswith(".pdf")
                else b"\\begin{table}" in got.body()
            )
        page.goto(url + f"#/study/{made['search']}")
        page.wait_for_selector("svg.parcoords path", state="attached")
        shoot(w, "ui-search-desktop.png")
        page.goto(url + f"#/run/{made['recorded'].id}")
        page.wait_for_selector("#main h2 >> text=Flight record")
        shoot(w, "ui-run-recorded-desktop.png")
        w.close()
        assert w.problems == []
        assert [u for u in w.requests if not u.startswith(url.rstrip("/"))] == []


def test_studies_page_loads_on_a_store_with_every_inspection_kind(
    browser: Any, tmp_path: Path
) -> None:
    # The demo's store once broke this page: NaN in the residual and features summaries made
    # SQLite's json_extract fail and /api/studies a 500 ("Unexpected token 'I'").
    from test_ui import build_inspection_store
    from trainlab.inspect.recipes import KINDS

    made = build_inspection_store(tmp_path / "store")
    with serve(made["store"].root) as url:
        w = Watched(browser, 1280, 900)
        page = w.page
        page.goto(url + "#/studies")
        page.wait_for_selector("#main table tbody tr")
        # every inspection kind and the grid study
        assert (
            page.locator("#main table tbody tr").count() == len(made["studies"]) == len(KINDS) + 1
        )
        assert page.locator("#main .error").count() == 0
        for kind, sid in made["studies"].items():
            page.goto(url + f"#/study/{sid}")
            page.wait_for_selector("#main h2", timeout=10_000)
            assert page.locator("#main .error").count() == 0, kind
        page.goto(url + f"#/study/{made['studies']['residual']}")
        page.wait_for_selector("#main table tbody tr")
        cells = page.evaluate("[...document.querySelectorAll('#main td')].map(t => t.textContent)")
        assert "—" in cells  # the lesion of a plain block that changes shape: NaN, stored null
        shoot(w, "ui-studies-every-inspection-desktop.png")
        w.close()
        assert w.problems == []


def test_runs_table_keeps_key_metrics_on_screen_at_1400_px(browser: Any, tmp_path: Path) -> None:
    """The default Runs table shows val_acc and test_acc without scrolling on a 1400 px screen,
    even for a run with a long name and a user model named by its long path; wider tables scroll
    inside their box with the run id kept in view (sticky)."""
    import trainlab
    from test_ui import tiny
    from test_user_code import NET
    from trainlab.track.store import Store

    folder = tmp_path / "home" / "someone" / "projects" / "a-long-project-name" / "models"
    folder.mkdir(parents=True)
    (folder / "mynet.py").write_text(NET)
    store = Store(tmp_path / "store")
    long = "regularization-quick-5c4881ba-dropout-0.5-" + "x" * 60
    over = {"model.name": f"{folder / 'mynet.py'}:Net", "model.options": {}}
    trainlab.run(tiny(name=long, **over), store)
    with serve(store.root) as url:
        w = Watched(browser, 1400, 900)
        w.page.goto(url + "#/runs")
        w.page.wait_for_selector("#runs tbody tr")
        edges = w.page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#runs th')]"
            ".map(th => [th.textContent.replace(/ [↓↑]$/, ''), th.getBoundingClientRect().right]))"
        )
        width = w.page.evaluate("window.innerWidth")
        assert edges["val_acc"] <= width and edges["test_acc"] <= width, (edges, width)
        shoot(w, "ui-runs-1400.png")
        # more columns than fit: the table scrolls in its box, the id column stays in view
        w.page.fill("#cols", ", ".join(f"{f}" for f in COLUMNS_WIDE))
        w.page.press("#cols", "Enter")
        until(w.page, "document.querySelectorAll('#runs th').length > 14")
        box = w.page.locator("#runs-table .scroll")
        assert w.page.evaluate("(() => { const s = document.querySelector('#runs-table .scroll');"
                               " return s.scrollWidth > s.clientWidth; })()")  # fmt: skip
        before = w.page.evaluate(
            "document.querySelector('#runs tbody td.id').getBoundingClientRect().left"
        )
        box.evaluate("s => { s.scrollLeft = s.scrollWidth; }")
        w.page.wait_for_timeout(100)
        after = w.page.evaluate(
            "document.querySelector('#runs tbody td.id').getBoundingClientRect().left"
        )
        assert abs(after - before) < 1, (before, after)
        sideways = w.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert sideways <= 0
        w.close()
        assert w.problems == []


COLUMNS_WIDE = ("model.name", "data.name", "optim.name", "optim.lr", "optim.momentum",
                "optim.weight_decay", "schedule.name", "train.epochs", "train.batch_size",
                "regularize.dropout", "seed", "val_acc", "test_acc", "train_loss", "val_loss")  # fmt: skip
