"""Stored studies and runs -> one self-contained HTML file (figures inline, nothing from the network).

Reads the store only (no training); the same store and selection give a byte-identical file.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment as Jinja
from jinja2 import PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from trainlab.config import flatten
from trainlab.errors import StoreError
from trainlab.report import figures
from trainlab.report.grouping import group_runs
from trainlab.report.select import Selection, select
from trainlab.report.views import (
    Cell,
    Environment,
    Fact,
    FigureView,
    Numbering,
    TableView,
    Verdict,
    as_yaml,
    fmt,
    verdict,
)
from trainlab.track.store import RunRecord, Store, StudyRecord
from trainlab.track.summary import Summary

GROUPS = {"studies": "Studies", "searches": "Searches", "inspections": "Inspections"}
RUN_METRICS = ("best_val_acc", "val_acc", "test_acc", "test_loss", "ece", "epochs", "train_seconds")
MARKS = {"better": "▲", "worse": "▼", "noise": "≈", "info": "●"}  # verdict tone -> marker
MAX_DATA_CHARS = 8000  # a study's raw numbers are shown inline up to this size
REPORT_FILE = "report.html"  # default output: in the store folder, beside trainlab.db
# Opens every <details> for printing (configs belong on paper) and closes them again after.
# The page's one script (allowed by its hash in the CSP): print with every <details> open, and
# under each figure wider than its frame (a phone) say that it scrolls sideways.
PAGE_SCRIPT = (
    "(function(){var shut=[];"
    "addEventListener('beforeprint',function(){document.querySelectorAll('details:not([open])')"
    ".forEach(function(d){d.open=true;shut.push(d);});});"
    "addEventListener('afterprint',function(){shut.forEach(function(d){d.open=false;});shut=[];});"
    "function swipe(){document.querySelectorAll('figure.figure .frame').forEach(function(f){"
    "var s=f.nextElementSibling;if(s&&s.classList.contains('swipe'))"
    "s.hidden=f.scrollWidth<=f.clientWidth+1;});}"
    "addEventListener('load',swipe);addEventListener('resize',swipe);"
    "})();"
)


@dataclass
class Section:
    """One study, search, inspection or run: words, verdicts, tables, figures, configs."""

    anchor: str
    title: str
    kind: str
    facts: list[Fact]
    number: str = ""
    paragraphs: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    answers: list[Verdict] = field(default_factory=list)  # the study's corrected answers
    verdicts_in_findings: bool = False  # an old summary: its verdicts are shown in Findings only
    tables: list[TableView] = field(default_factory=list)
    figures: list[FigureView] = field(default_factory=list)
    runs: TableView | None = None  # the runs behind the numbers, one row each
    shared_config: str = ""  # config fields all those runs share (the rest are table columns)
    config: str = ""  # a run's full config, or a study's settings, as YAML
    data: str = ""  # a study's raw numbers as JSON when small enough
    data_note: str = ""  # why they are not shown (too large)
    problem: str = ""
    seeds: list[SeedsView] = field(default_factory=list)  # across seeds, per variant
    seeds_note: str = ""  # how they were measured, and the variants left out (and why)


@dataclass
class SeedsView:
    """One variant's seeds compared: a plain sentence and its small table."""

    sentence: str
    table: TableView


@dataclass
class Group:
    key: str
    title: str
    number: str = ""
    sections: list[Section] = field(default_factory=list)
    compare: TableView | None = None  # runs group: the chosen runs side by side
    compare_shared: str = ""

    @property
    def anchor(self) -> str:
        return f"group-{self.key}"


@dataclass
class Finding:
    """One study's lines in Findings: its corrected answers (or, for a summary written before
    answers existed, its verdicts, marked as uncorrected)."""

    section: Section
    items: list[Verdict]
    corrected: bool


@dataclass
class Report:
    title: str
    facts: list[Fact]
    findings: list[Finding]
    groups: list[Group]
    environments: list[Environment]
    warnings: list[str]
    path: Path | None = None  # where `write_report` wrote it


def build_report(
    store: Store, selection: Selection, title: str | None = None, group_by: str | None = None
) -> Report:
    """Gather every section of the report from the store (no files are written). Runs chosen by
    id get a section each; runs outside studies chosen by `--all` are grouped (`group_by`: a
    config field; default data + model): one table for all, one figure per group."""
    b = _Builder(store, {r.id for r in selection.runs})
    groups = {key: Group(key, name) for key, name in GROUPS.items()}
    for study in selection.studies:
        groups[_group_of(study.kind)].sections.append(b.study(study))
    run_group = Group("runs", "Runs")
    run_group.sections = [b.run(r) for r in selection.runs]
    if len(selection.runs) > 1:
        run_group.compare, run_group.compare_shared = b.runs_table(
            "The chosen runs side by side", [("", r) for r in selection.runs]
        )
    grouped = b.grouped(selection.grouped, group_by)
    chosen = [g for g in (*groups.values(), run_group, grouped) if g.sections]
    for i, group in enumerate(chosen, start=1):
        group.number = str(i)
        for j, section in enumerate(group.sections, start=1):
            section.number = f"{i}.{j}"
    findings = [_finding(s) for g in chosen for s in g.sections if s.answers or s.verdicts]
    every_run = [*selection.runs, *selection.grouped]
    times = [s.created for s in selection.studies] + [r.created for r in every_run]
    counts = Counter(_group_of(s.kind) for s in selection.studies)
    contents = [
        _plural(counts[key], noun)
        for key, noun in (
            ("studies", "study"),
            ("searches", "search"),
            ("inspections", "inspection"),
        )
        if counts[key]
    ]
    if every_run or not contents:
        contents.append(_plural(len(every_run), "run"))
    facts = [
        Fact("contents", ", ".join(contents)),
        Fact("latest result", _when(max(times))),
        Fact("store", str(store.root)),
        Fact("built with", f"trainlab {_version()}"),
    ]
    envs = list(b.envs.values())
    for env in envs:
        env.runs = [Cell(rid, False, b.link(rid)) for rid in env.run_ids]
    return Report(title or "trainlab report", facts, findings, chosen, envs, b.warnings)


def render(report: Report) -> str:
    """The report as one HTML document (Jinja2, autoescape on)."""
    jinja = Jinja(
        loader=PackageLoader("trainlab.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    jinja.filters["breakable"] = breakable
    digest = base64.b64encode(hashlib.sha256(PAGE_SCRIPT.encode()).digest()).decode()
    csp = (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )
    return jinja.get_template("report.html").render(
        report=report, csp=csp, script=Markup(PAGE_SCRIPT), marks=MARKS
    )


def write_report(
    store: Store,
    out: Path | None = None,
    refs: Sequence[str] = (),
    latest: bool = False,
    everything: bool = False,
    title: str | None = None,
    group_by: str | None = None,
) -> Report:
    """Select (`refs`: run/study ids, id prefixes or names; the `--latest` / `--all` flags), build
    and write the report to `out` (default `<store>/report.html`). Returns it: `report.path` is the
    file, `report.warnings` name what is missing. StoreError for a ref that matches nothing."""
    report = build_report(store, select(store, refs, latest, everything), title, group_by)
    path = Path(out) if out is not None else store.root / REPORT_FILE
    if path.is_dir():
        raise StoreError(f"--out {str(path)!r} is a folder; give a file name such as report.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written whole, then renamed: a browser showing the old report never sees half a file.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(render(report).encode("utf-8"))
    tmp.replace(path)
    report.path = path
    return report


class _Builder:
    def __init__(self, store: Store, own_runs: set[str]) -> None:
        self.store, self.own_runs = store, own_runs
        self.num = Numbering()
        self.envs: dict[str, Environment] = {}
        self.warnings: list[str] = []

    def link(self, run_id: str) -> str:
        """The in-page anchor of a run that has its own section, else no link."""
        return f"#run-{_slug(run_id)}" if run_id in self.own_runs else ""

    def study(self, study: StudyRecord) -> Section:
        facts = [
            Fact("kind", study.kind),
            Fact("name", study.name),
            Fact("id", study.id),
            Fact("status", study.status),
            Fact("created", _when(study.created)),
            Fact("folder", str(study.dir)),
        ]
        section = Section(f"study-{_slug(study.id)}", study.name, study.kind, facts)
        section.config = as_yaml(study.config) if study.config else ""
        summary = _summary(study.summary)
        if summary is None:
            section.problem = f"This {study.kind} has no summary yet (status {study.status})."
            self.warnings.append(f"{study.kind} {study.name} ({study.id}) has no summary")
        else:
            self._fill(section, study, summary)
        pairs = self.store.study_runs(study.id)
        linked = {r.id for _, r in pairs}
        for rid in summary.run_ids if summary else []:
            if rid in linked:
                continue
            try:
                pairs.append(("", self.store.get_run(rid)))
            except StoreError:
                self.warnings.append(f"{study.name}: run {rid} is no longer in the store")
            linked.add(rid)
        if pairs:
            section.runs, section.shared_config = self.runs_table(
                f"Runs behind {study.name}", pairs
            )
        section.title = _study_title(section.title, study.name, [r for _, r in pairs])
        return section

    def _fill(self, section: Section, study: StudyRecord, summary: Summary) -> None:
        section.title = summary.title or study.name
        section.paragraphs = list(summary.text)
        section.verdicts = [verdict(v) for v in summary.verdicts]
        section.answers = [verdict(a) for a in summary.answers]
        # Every verdict is printed once: with answers, Findings shows those and the section the
        # full list; an old summary's verdicts appear in Findings only.
        section.verdicts_in_findings = not section.answers and bool(section.verdicts)
        section.tables = [
            self.num.table(t.title, t.columns, t.rows, t.note) for t in summary.tables
        ]
        self._seeds(section, summary.data.get("across_seeds"))
        for fig in summary.figures:
            try:
                image, problem = figures.load_png(study.dir, fig.file), ""
            except ValueError as exc:
                image, problem = None, f"Figure not shown: {exc}."
                self.warnings.append(f"{study.name}: {exc}")
            section.figures.append(self.num.figure(fig.title, fig.caption, image, problem))
        if summary.data:
            text = json.dumps(summary.data, indent=1, default=str)
            if len(text) <= MAX_DATA_CHARS:
                section.data = text
            else:
                section.data_note = (
                    f"The numbers behind the figures ({len(text) // 1000} kB of JSON) are too many"
                    f" to show here; they are stored with the {study.kind} in {self.store.db_path}."
                )

    def _seeds(self, section: Section, stored: Any) -> None:
        """The study's seeds compared per variant, as stored (`trainlab.inspect.seeds`)."""
        if not isinstance(stored, dict):
            return
        for v in stored.get("variants", []):
            rows = [[r["layer"], r["mean"], r["min"]] for r in v["cka"]]
            maps = v.get("attribution")
            if maps:
                rows.append([f"attribution maps ({maps['method']}, Spearman ρ)", maps["mean"], maps["min"]])  # fmt: skip
            title = f"Across seeds: {v['variant']} (CKA per layer, {len(v['seeds'])} seeds)"
            columns = ["layer", f"mean of {v['pairs']} pairs", "min"]
            section.seeds.append(SeedsView(v["sentence"], self.num.table(title, columns, rows)))
        left = [f"{s['variant']}: {s['reason']}" for s in stored.get("skipped", [])]
        section.seeds_note = str(stored.get("how", "")) + (
            "; not compared: " + "; ".join(left) if left else ""
        )

    def run(self, run: RunRecord) -> Section:
        c, env = run.config, self.env(run)
        seconds = "" if run.seconds is None else f"{run.seconds:.1f} s"
        facts = [
            Fact("id", run.id),
            Fact("status", run.status),
            Fact("data", _named(c.data.name, c.data.options)),
            Fact("model", _named(c.model.name, c.model.options)),
            Fact("optimizer", f"{c.optim.name}, lr {fmt(c.optim.lr)}"),
            Fact("schedule", c.schedule.name),
            Fact("epochs × batch", f"{c.train.epochs} × {c.train.batch_size}"),
            Fact("seed", str(run.seed)),
            Fact("config hash", run.config_hash),
            Fact("created", _when(run.created)),
            Fact("duration", seconds),
            Fact("environment", env.label, f"#{env.anchor}"),
        ]
        section = Section(f"run-{_slug(run.id)}", f"Run {run.name}", "run", facts)
        section.problem = f"Error: {run.error}" if run.error else ""
        section.config = as_yaml(c.model_dump(mode="json"))
        scalars = [[k, v] for k, v in run.summary.items() if isinstance(v, (int, float, str))]
        if scalars:
            section.tables.append(
                self.num.table(f"Final metrics of run {run.id}", ["metric", "value"], scalars)
            )
        image = figures.learning_curves(self.store.epochs(run.id), f"{run.name} ({run.id})")
        if image is not None:
            caption = "Per-epoch loss and accuracy on the training and validation splits, drawn from the stored epochs."
            section.figures.append(
                self.num.figure(f"Learning curves of run {run.id}", caption, image)
            )
        return section

    def grouped(self, runs: list[RunRecord], group_by: str | None) -> Group:
        """Runs outside studies: one table of all of them, then a section per group with its
        curves in one figure (no section per run: those come only when asked for by id)."""
        group = Group("grouped", "Runs outside studies")
        if not runs:
            return group
        parts = group_runs(runs, group_by)
        how = f"by {group_by}" if group_by else "by data and model"
        group.compare, group.compare_shared = self.runs_table(
            f"All {len(runs)} runs outside studies, grouped {how}",
            [(label, r) for label, members in parts for r in members],
            variant_column="group",
        )
        for i, (label, members) in enumerate(parts, start=1):
            statuses = Counter(r.status for r in members)
            facts = [
                Fact("runs", str(len(members))),
                Fact("status", ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))),
                Fact("grouped", how),
            ]
            section = Section(f"runs-group-{i}", label, "runs-group", facts)
            done = [r.summary["test_acc"] for r in members if "test_acc" in r.summary]
            if done:
                section.paragraphs.append(
                    f"test_acc over {len(done)} finished runs: median {fmt(_median(done))}, "
                    f"range {fmt(min(done))} to {fmt(max(done))} (reported, not a comparison)."
                )
            curves = [(r.name, self.store.epochs(r.id)) for r in members]
            image = figures.group_curves(curves, f"{label}: {len(members)} runs")
            if image is not None:
                caption = (
                    "Validation loss and accuracy per epoch of every run in the group"
                    + (
                        "; thin lines: runs, black: their per-epoch median."
                        if len(members) > 8
                        else "."
                    )
                    + " Give a run's id to `trainlab report` for its own section."
                )
                section.figures.append(
                    self.num.figure(f"Learning curves of {label}", caption, image)
                )
            group.sections.append(section)
        return group

    def runs_table(
        self, title: str, pairs: list[tuple[str, RunRecord]], variant_column: str = "variant"
    ) -> tuple[TableView, str]:
        """One row per run: identity, the config fields that differ, final metrics, environment.
        Returns the table and the config fields every run shares (as YAML)."""
        flat = [
            flatten(r.config.model_dump(mode="json", exclude={"name", "seed"})) for _, r in pairs
        ]
        keys = list(dict.fromkeys(k for f in flat for k in f))
        differing = [k for k in keys if len({json.dumps(f.get(k)) for f in flat}) > 1]
        shared = {k: flat[0][k] for k in keys if k not in differing}
        metrics = [m for m in RUN_METRICS if any(m in r.summary for _, r in pairs)]
        with_variant = any(v for v, _ in pairs)
        columns = ["run", "name", *([variant_column] if with_variant else []), "seed", "status"]
        columns += [*differing, *metrics, "env"]
        rows = []
        for (variant, run), config in zip(pairs, flat, strict=True):
            env = self.env(run)
            row: list[Any] = [Cell(run.id, False, self.link(run.id)), run.name]
            row += [variant] if with_variant else []
            row += [run.seed, run.status, *(config.get(k) for k in differing)]
            row += [run.summary.get(m) for m in metrics]
            row.append(Cell(env.label, False, f"#{env.anchor}"))
            rows.append(row)
        note = "Each run's full config: the fields in the table plus the shared fields below it."
        return self.num.table(title, columns, rows, note), as_yaml(shared) if shared else ""

    def env(self, run: RunRecord) -> Environment:
        key = json.dumps(run.env, sort_keys=True, default=str)
        if key not in self.envs:
            label = _label(len(self.envs))
            facts = [Fact(k, fmt(v)) for k, v in run.env.items() if k != "packages"]
            packages = [Fact(k, str(v)) for k, v in dict(run.env.get("packages") or {}).items()]
            self.envs[key] = Environment(f"env-{label.lower()}", label, facts, packages)
        env = self.envs[key]
        if run.id not in env.run_ids:
            env.run_ids.append(run.id)
        return env


def breakable(text: Any) -> Markup:
    """Escaped text that may wrap after `_` and after a `.` that ends a name (long metric and
    config names in headers), never inside a number (`lr=0.0001` stays whole)."""
    parts = re.split(r"([_.])", str(text))
    out = Markup("")
    for i, part in enumerate(parts):
        out += escape(part)
        if part in ("_", ".") and not (
            part == "." and parts[i - 1][-1:].isdigit() and parts[i + 1][:1].isdigit()
        ):
            out += Markup("<wbr>")
    return out


def _finding(section: Section) -> Finding:
    """An inspection's verdicts are measurements, not comparisons: nothing to correct; a
    comparison stored before answers existed is marked as uncorrected."""
    if section.answers:
        return Finding(section, section.answers, True)
    return Finding(section, section.verdicts, section.kind.startswith("inspect"))


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _summary(raw: dict[str, Any]) -> Summary | None:
    """The stored Summary, ignoring fields this version does not know; None if there is none."""
    if not raw or "kind" not in raw:
        return None
    known = {f.name for f in dataclasses.fields(Summary)}
    return Summary.from_json({k: v for k, v in raw.items() if k in known})


def _group_of(kind: str) -> str:
    if kind == "search" or kind.startswith("search-"):
        return "searches"
    return "inspections" if kind.startswith("inspect") else "studies"


def _study_title(title: str, name: str, runs: list[RunRecord]) -> str:
    """A study's heading: its summary's title, its name, and the models and data of its runs
    ("Optimizers and learning-rate schedules: opt-a (mlp on mnist1d)"), so that two studies of
    one kind tell apart in the contents and in Findings."""
    models = ", ".join(dict.fromkeys(r.config.model.name for r in runs))
    data = ", ".join(dict.fromkeys(r.config.data.name for r in runs))
    setup = f" ({models} on {data})" if runs else ""
    head = title if title == name else f"{title}: {name}"
    return head + setup


def _named(name: str, options: dict[str, Any]) -> str:
    opts = ", ".join(f"{k}={fmt(v)}" for k, v in options.items())
    return f"{name} ({opts})" if opts else name


def _plural(n: int, noun: str) -> str:
    plural = {"study": "studies", "search": "searches"}.get(noun, f"{noun}s")
    return f"{n} {noun if n == 1 else plural}"


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


def _label(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"E{i + 1}"


def _version() -> str:
    from trainlab import __version__

    return __version__
