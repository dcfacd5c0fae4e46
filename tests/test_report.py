"""`trainlab report`: one self-contained, escaped, byte-reproducible HTML file from a real store
(runs, a grid search and an inspection made by the real commands on tiny budgets)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trainlab
from trainlab.cli import main
from trainlab.config import RunConfig
from trainlab.data import load as load_data
from trainlab.report import build_report, render, select, write_report
from trainlab.search import SearchSettings, parse_space, run_search
from trainlab.track.store import RunRecord, Store
from trainlab.track.summary import Figure, Summary, Table
from trainlab.train.recorder import Recorder

TINY = {
    "data": {"name": "moons"},
    "model": {"name": "mlp", "options": {"width": 8}},
    "train": {"epochs": 2, "batch_size": 128, "checkpoint": "none"},
}
EVIL = "<script>alert(1)</script>"
QUOTES = "\"double\" & 'single'"


def tiny(**over: Any) -> RunConfig:
    return RunConfig.model_validate(TINY).with_overrides(over)


def build_store(root: Path) -> dict[str, Any]:
    """Two runs (one flight-recorded), a 2-trial grid search and a recorder inspection; ~5 s."""
    store = Store(root)
    plain = trainlab.run(tiny(name="plain"), store).record
    recorder = Recorder(every=4)
    recorded = trainlab.run(tiny(name="recorded", seed=1), store, [recorder]).record
    assert plain is not None and recorded is not None
    recorder.save(recorded.dir)
    space = parse_space({"optim.lr": {"choice": [0.01, 0.1]}})
    search = run_search(tiny(name="grid"), space, SearchSettings("grid", trials=2), store)
    code = main(["inspect", "recorder", "--run", recorded.id, "--store", str(root)])
    assert code == 0
    (inspection,) = store.list_studies("inspect-recorder")
    return {
        "store": store,
        "plain": plain,
        "recorded": recorded,
        "search": search.study_id,
        "inspection": inspection.id,
    }


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build_store(tmp_path_factory.mktemp("report") / "store")


class Page(HTMLParser):
    """Every tag with its attributes, ids, in-page links and the text, for assertions."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)

    def all(self, tag: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == tag]

    @property
    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.tags if "id" in a}


def report_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["report", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_is_one_self_contained_file_with_contents_and_sections(
    made: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(made["store"].root)
    out = tmp_path / "r" / "report.html"
    code, stdout, err = report_cli(capsys, "--all", "--store", root, "--out", str(out))
    assert code == 0, err
    assert stdout == f"{out}\n" and out.is_file()
    html = out.read_text(encoding="utf-8")
    page = Page(html)
    # nothing from the network: no external stylesheet, script, font or image; a strict CSP
    assert not page.all("link") and all(not s.get("src") for s in page.all("script"))
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
    assert "@import" not in html and not re.search(r"url\((?!data:)", html)
    csp = next(m["content"] for m in page.all("meta") if m.get("http-equiv"))
    assert "default-src 'none'" in csp and "img-src data:" in csp
    images = page.all("img")
    assert len(images) >= 6 and all(i["src"].startswith("data:image/png;base64,") for i in images)
    # a table of contents whose every link lands on a section
    links = [a["href"] for a in page.all("a") if a.get("href", "").startswith("#")]
    assert links and {h[1:] for h in links} <= page.ids
    s = made["search"]
    sections = {f"study-{s}", f"study-{made['inspection']}", "runs-group-1"}
    assert sections <= page.ids
    assert f"run-{made['plain'].id}" not in page.ids  # --all groups runs: a section only by id
    text = " ".join(page.text)
    assert "Searches" in text and "Inspections" in text and "Runs outside studies" in text
    assert "1 search, 1 inspection, 1 run" in text  # the recorded run belongs to the inspection
    # the configs and environments behind the numbers
    assert "optim.lr" in text and "batch_size: 128" in text
    env = made["plain"].env
    assert env["python"] in text and env["packages"]["torch"] in text
    # numbered through the whole report, as in a paper
    assert "Figure 1." in text and "Table 1." in text and f"Figure {len(images)}." in text


def test_rebuilding_from_the_same_store_gives_the_same_bytes(
    made: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = str(made["store"].root)
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    assert report_cli(capsys, "--all", "--store", root, "--out", str(a))[0] == 0
    # another process (another hash seed, fresh matplotlib) draws the same learning curves
    command = [sys.executable, "-m", "trainlab", "report", "--all", "--store", root]
    env = {**os.environ, "PYTHONHASHSEED": "7"}
    subprocess.run([*command, "--out", str(b)], check=True, env=env, capture_output=True)
    assert a.read_bytes() == b.read_bytes()
    # the default place is the store folder, and writing again keeps the bytes
    code, stdout, _ = report_cli(capsys, "--all", "--store", root)
    default = made["store"].root / "report.html"
    assert code == 0 and stdout.strip() == str(default)
    assert default.read_bytes() == a.read_bytes()


def test_refs_by_id_prefix_and_name_choose_the_sections(made: dict[str, Any]) -> None:
    store = made["store"]
    chosen = select(store, [made["plain"].name, made["search"][:6]])
    assert [r.id for r in chosen.runs] == [made["plain"].id]
    assert [s.id for s in chosen.studies] == [made["search"]]
    latest = select(store, latest=True)
    assert {s.kind for s in latest.studies} == {"search", "inspect-recorder"}
    report = build_report(store, select(store, [made["recorded"].id, made["plain"].id]))
    assert [g.key for g in report.groups] == ["runs"]
    assert report.groups[0].compare is not None  # two runs side by side
    assert [e.label for e in report.environments] == ["A"]  # same process, same environment


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["nope"], "'nope' is not a run or study id, id prefix or name"),
        (["no_such_run"], "'no_such_run' is not a run or study id"),  # `_` is no wildcard
        ([], "give run or study ids or names, --latest or --all"),
    ],
)
def test_bad_refs_are_one_line_errors_exit_2(
    made: dict[str, Any], capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, stdout, err = report_cli(capsys, *args, "--store", str(made["store"].root))
    assert code == 2 and stdout == ""
    assert err.startswith("error: ") and needle in err and err.count("\n") == 1


def test_an_empty_store_says_there_is_nothing_to_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = report_cli(capsys, "--latest", "--store", str(tmp_path / "empty"))
    assert code == 2 and "has no runs or studies yet" in err


def test_user_strings_are_escaped_everywhere(tmp_path: Path) -> None:
    """A run name, a class name, a data file name, a config value and a study name carrying
    markup and quotes come out as text: no raw <script> from the user reaches the page."""
    folder = tmp_path / "<img src=x onerror=alert(2)>"
    folder.mkdir()
    path = folder / "data 'q'.npz"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 2)).astype(np.float32)
    y = np.arange(90) % 3
    np.savez(path, x=x, y=y, class_names=np.array([EVIL, QUOTES, "plain"]))
    store = Store(tmp_path / "store")
    cfg = tiny(**{"name": f"{EVIL} {QUOTES}", "data.name": "npz", "data.options.path": str(path)})
    run = trainlab.run(cfg, store).record
    assert run is not None
    classes = load_data(run.config.data, run.seed).spec.class_names
    assert classes == (EVIL, QUOTES, "plain")  # the npz loader kept the user's class names
    # a study that reports per class, as a study of this dataset would
    study = store.open_study(f"study {EVIL}", "grid", {"note": QUOTES, "path": str(path)})
    store.link(study.id, run.id, EVIL)
    summary = Summary(
        "grid",
        f"Per-class accuracy {EVIL}",
        text=[f"Classes: {', '.join(classes)}"],
        verdicts=[f"{EVIL} vs {QUOTES}: within noise"],
        tables=[Table(f"Classes {QUOTES}", ["class", EVIL], [[c, 0.5] for c in classes])],
        figures=[Figure(f"Figure {EVIL}", f"{EVIL}.png", QUOTES)],  # missing: shown as a problem
        run_ids=[run.id],
        data={"class_names": list(classes)},
    )
    store.finish_study(study.id, summary.to_json())
    report = write_report(store, tmp_path / "r.html", [run.id, study.id])
    html = report.path.read_text(encoding="utf-8") if report.path else ""
    assert report.warnings and EVIL in report.warnings[0]  # the missing figure
    page = Page(html)
    text = " ".join(page.text)
    # every user string arrived, as text ...
    for needle in (EVIL, QUOTES, str(folder), "data 'q'.npz"):
        assert needle in text
    # ... and the only <script> element is the report's own print script
    assert len(page.all("script")) == 1 and "alert" not in "".join(page.scripts)
    assert html.count("<script") == 1 and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "&#34;double&#34; &amp; &#39;single&#39;" in html  # quotes escaped in text ...
    alts = [i["alt"] for i in page.all("img")]  # ... and inside attributes
    assert f"Learning curves of run {run.id}" in alts  # the title of the run's own section
    for a in page.tags:
        for value in a[1].values():
            assert "<" not in value or value.startswith("data:")


def test_a_figure_outside_the_study_folder_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    study = store.open_study("sneaky", "grid", {})
    summary = Summary("grid", "Sneaky", figures=[Figure("x", "../../../secret.png")])
    store.finish_study(study.id, summary.to_json())
    html = render(build_report(store, select(store, ["sneaky"])))
    assert "is outside the study folder" in html and "data:image/png" not in html


def test_a_study_without_summary_is_reported_not_fatal(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    store.open_study("half", "optimizers", {"seeds": 3})
    report = build_report(store, select(store, ["half"]))
    (section,) = report.groups[0].sections
    assert "has no summary yet (status running)" in section.problem
    assert report.warnings == [f"optimizers half ({section.facts[2].value}) has no summary"]


def build_look_alike_studies(store: Store) -> list[str]:
    """Two optimizer studies with one summary title, on different models and data; their names."""
    names = ["opt-moons-mlp", "opt-spirals-logreg-" + "very/long/path/" * 6]
    setups = [("moons", "mlp", {"width": 8}), ("spirals", "logreg", {})]
    for name, (data, model, options) in zip(names, setups, strict=True):
        study = store.open_study(name, "optimizers", {})
        cfg = tiny(name=name, **{"data.name": data, "model.name": model, "model.options": options})
        run = trainlab.run(cfg, store).record
        assert run is not None
        store.link(study.id, run.id, "adam", role="final")
        summary = Summary("optimizers", "Optimizers and learning-rate schedules", ["one run"])
        store.finish_study(study.id, summary.to_json())
    return names


def test_study_titles_name_the_study_its_model_and_data(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    names = build_look_alike_studies(store)
    report = build_report(store, select(store, names))
    titles = sorted(s.title for g in report.groups for s in g.sections)
    assert titles == [
        f"Optimizers and learning-rate schedules: {names[0]} (mlp on moons)",
        f"Optimizers and learning-rate schedules: {names[1]} (logreg on spirals)",
    ]
    text = " ".join(Page(render(report)).text)
    assert all(t in text for t in titles)  # in the contents and on each section


def test_runs_table_lists_only_differing_fields_and_shares_the_rest(
    made: dict[str, Any],
) -> None:
    store: Store = made["store"]
    pairs: list[tuple[str, RunRecord]] = store.study_runs(made["search"])
    report = build_report(store, select(store, [made["search"]]))
    section = report.groups[0].sections[0]
    assert section.runs is not None and len(section.runs.rows) == len(pairs) == 2
    assert "optim.lr" in section.runs.columns and "train.epochs" not in section.runs.columns
    assert "train.epochs: 2" in section.shared_config
    envs = json.dumps([e.facts[0].value for e in report.environments])
    assert made["plain"].env["python"] in envs


def test_headers_wrap_after_names_but_never_inside_a_number() -> None:
    from trainlab.report.builder import breakable

    assert str(breakable("test_acc mean")) == "test_<wbr>acc mean"
    assert str(breakable("optim.lr")) == "optim.<wbr>lr"
    assert str(breakable("lr=0.0001")) == "lr=0.0001"  # phones broke it as "lr=0." / "0001"
    assert str(breakable("<b>.1")) == "&lt;b&gt;.<wbr>1"  # still escaped


def test_tables_are_written_as_latex_with_every_special_character_escaped(tmp_path: Path) -> None:
    table = Table(
        "Grid: test_acc & 50% of {seeds}",
        ["variant", "n", "test_acc mean", "95% CI"],
        [["lr=0.01 #1", 3, 0.6263, "0.59–0.66"], ["a$b~c^d\\e", 2, None, "ρ ≥ τ ± 1"]],
        "mean ± std over seeds",
    )
    Summary("grid", "t", tables=[table]).write_tables(tmp_path)
    tex = (tmp_path / "grid-test-acc-50-of-seeds.tex").read_text()
    assert "\\begin{tabular}{lrrl}" in tex  # numbers right-aligned (a blank cell is no text)
    assert "\\caption{Grid: test\\_acc \\& 50\\% of \\{seeds\\}. mean $\\pm$ std over seeds}" in tex
    assert "    lr=0.01 \\#1 & 3 & 0.6263 & 0.59--0.66 \\\\" in tex
    assert (
        "    a\\$b\\textasciitilde{}c\\textasciicircum{}d\\textbackslash{}e & 2 &  & "
        "$\\rho$ $\\geq$ $\\tau$ $\\pm$ 1 \\\\" in tex
    )
    assert tex.count("\\toprule") == tex.count("\\midrule") == tex.count("\\bottomrule") == 1
    assert "| 2 |  |" in (tmp_path / "grid-test-acc-50-of-seeds.md").read_text()  # None: blank
