"""Where a study's results go: its folder in the store (figures PNG + SVG, tables CSV + MD,
summary.json) and the study row's Summary for the report. Also the run counts and live progress.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from matplotlib.figure import Figure as MplFigure

from trainlab.errors import ConfigError
from trainlab.execute import Outcome, Progress
from trainlab.plots.style import save_figure
from trainlab.track.store import RunRecord, Store
from trainlab.track.summary import Figure, Summary, Table

BUDGETS = ("quick", "full")


def check_budget(budget: str) -> str:
    if budget not in BUDGETS:
        raise ConfigError(f"--budget {budget!r}: choose one of {', '.join(BUDGETS)}")
    return budget


def check_seeds(seeds: int) -> int:
    if seeds < 1:
        raise ConfigError(f"--seeds {seeds}: must be 1 or more")
    return seeds


class _Sized(Protocol):
    @property
    def seeds(self) -> int: ...


B = TypeVar("B", bound=_Sized)


def resolve_budget(budget: str | B, budgets: dict[str, B], seeds: int | None) -> tuple[B, str, int]:
    """(sizes, label, seeds): a named budget from `budgets` (label = its name) or custom sizes
    (label "custom"); `seeds` overrides the budget's own `seeds`."""
    if isinstance(budget, str):
        b, label = budgets[check_budget(budget)], budget
    else:
        b, label = budget, "custom"
    return b, label, check_seeds(seeds if seeds is not None else b.seeds)


@dataclass
class StudyResult:
    """What a study returns: its Summary, where it is stored, run counts and wall time."""

    summary: Summary
    study_id: str
    name: str
    dir: Path
    counts: dict[str, int]
    seconds: float
    outcomes: list[Outcome] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "study_id": self.study_id,
            "name": self.name,
            "dir": str(self.dir),
            "counts": self.counts,
            "seconds": self.seconds,
            **self.summary.to_json(),
        }


class StudyOutput:
    """One study's folder and record: open (or resume) it, save figures, then `finish`."""

    def __init__(self, store: Store, kind: str, name: str, config: dict[str, Any]) -> None:
        self.store, self.kind, self.name = store, kind, name
        self.study = store.open_study(name, kind, config)
        self.dir = self.study.dir
        self.figures: list[Figure] = []
        self.started = time.perf_counter()

    @property
    def id(self) -> str:
        return self.study.id

    def figure(self, fig: MplFigure, stem: str, title: str, caption: str = "") -> Path:
        png = save_figure(fig, self.dir / stem)
        self.figures.append(Figure(title, png.name, caption))
        return png

    def finish(self, summary: Summary, outcomes: Sequence[Outcome]) -> StudyResult:
        """Add run counts and failures, write tables and summary.json, store the Summary."""
        c = counts(outcomes)
        summary.text.insert(0, count_text(c))
        failed = failure_table(outcomes)
        if failed is not None:
            summary.tables.append(failed)
        summary.figures = self.figures
        summary.run_ids = list(dict.fromkeys(o.run.id for o in outcomes if o.run is not None))
        summary.data["counts"] = c
        summary.write_tables(self.dir)
        text = json.dumps(summary.to_json(), indent=1, default=str)
        (self.dir / "summary.json").write_text(text)
        self.store.finish_study(self.id, summary.to_json())
        seconds = time.perf_counter() - self.started
        return StudyResult(summary, self.id, self.name, self.dir, c, seconds, list(outcomes))


def unique(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """One outcome per config hash (a config shared by two variants ran once)."""
    seen: dict[str, Outcome] = {}
    for o in outcomes:
        seen.setdefault(o.job.hash, o)
    return list(seen.values())


def counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    runs = unique(outcomes)
    out = {"runs": len(runs), "reused": sum(o.reused for o in runs)}
    for status in ("finished", "diverged", "failed", "interrupted"):
        out[status] = sum(o.status == status for o in runs)
    return out


def count_text(c: dict[str, int]) -> str:
    parts = [f"{c[s]} {s}" for s in ("finished", "diverged", "failed", "interrupted") if c[s]]
    reused = f"; {c['reused']} reused from the store, not run again" if c["reused"] else ""
    return f"{c['runs']} runs: {', '.join(parts) or 'none finished'}{reused}."


def failure_table(outcomes: Sequence[Outcome]) -> Table | None:
    bad = [o for o in unique(outcomes) if o.status not in ("finished",)]
    if not bad:
        return None
    rows = [
        [o.job.variant, o.job.config.seed, o.status, o.run.id if o.run else "", o.error[:200]]
        for o in bad
    ]
    cols = ["variant", "seed", "status", "run", "error"]
    return Table(
        "Runs that did not finish", cols, rows, "counted, never fatal; a rerun retries failed ones"
    )


def finished(
    outcomes: Sequence[Outcome], variants: Sequence[str] | None = None
) -> dict[str, list[RunRecord]]:
    """Finished runs per variant (in the order of `variants`, else first appearance), by seed."""
    out: dict[str, list[RunRecord]] = {v: [] for v in variants or []}
    for o in outcomes:
        if variants is not None and o.job.variant not in out:
            continue
        runs = out.setdefault(o.job.variant, [])
        if o.status == "finished" and o.run is not None and all(r.id != o.run.id for r in runs):
            runs.append(o.run)
    for runs in out.values():
        runs.sort(key=lambda r: r.seed)
    return out


def metric(groups: dict[str, list[RunRecord]], key: str) -> dict[str, list[float]]:
    """`key` from each run's summary, per variant (runs without it are left out)."""
    return {
        v: [float(r.summary[key]) for r in runs if r.summary.get(key) is not None]
        for v, runs in groups.items()
    }


def seeds(groups: dict[str, list[RunRecord]], key: str) -> dict[str, list[int]]:
    return {
        v: [r.seed for r in runs if r.summary.get(key) is not None] for v, runs in groups.items()
    }


def series(
    store: Store, groups: dict[str, list[RunRecord]], key: str, x: str = "epoch"
) -> dict[str, list[tuple[list[float], list[float]]]]:
    """Per variant, per run: (x values, `key` values) from the stored epochs. x may be `time`
    (cumulative wall seconds, training and evaluation) or any per-epoch metric."""
    out: dict[str, list[tuple[list[float], list[float]]]] = {}
    for v, runs in groups.items():
        out[v] = []
        for r in runs:
            epochs = store.epochs(r.id)
            if x == "time":
                xs, t = [], 0.0
                for e in epochs:
                    t += e["seconds"]
                    xs.append(t)
            else:
                xs = [float(e[x]) for e in epochs]
            out[v].append((xs, [float(e[key]) for e in epochs]))
    return out


@contextmanager
def live_progress(title: str, enabled: bool = True) -> Iterator[Progress | None]:
    """A Rich progress bar on stderr (runs done / total, ETA, failures) fed by the executor."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress

    bar = RichProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(title, total=None, info="")
    bad: dict[str, int] = {}

    def update(outcome: Outcome | None, done: int, total: int) -> None:
        if outcome is not None and outcome.status != "finished":
            bad[outcome.status] = bad.get(outcome.status, 0) + 1
        info = ", ".join(f"{n} {s}" for s, n in bad.items())
        bar.update(task, completed=done, total=total, info=info)

    bar.start()
    try:
        yield update
    finally:
        bar.live.stop()  # not bar.stop(): that prints an empty line when stderr is not a terminal
