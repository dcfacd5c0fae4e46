"""Where a study's results go: its record in the store (one plan per name), its folder (figures
as PNG, SVG and PDF, tables as CSV, MD and LaTeX, summary.json) and the study row's Summary for
the report."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure as MplFigure

from trainlab.errors import ConfigError
from trainlab.execute import Outcome
from trainlab.plots.style import save_figure
from trainlab.studies.outcomes import count_text, counts, failure_table
from trainlab.track.store import Store
from trainlab.track.summary import Figure, Summary

PROMOTED = ("selection_metric", "reference", "correction", "variants", "comparisons")


def fingerprint(*parts: Any) -> str:
    """8 hex digits of what a plan is made of (JSON, keys sorted)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:8]


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
        comparison = self.summary.data.get("comparison", {})
        return {
            "study_id": self.study_id,
            "name": self.name,
            "dir": str(self.dir),
            "counts": self.counts,
            "seconds": self.seconds,
            **{k: comparison.get(k) for k in PROMOTED},
            **self.summary.to_json(),
        }


class StudyOutput:
    """One study's folder and record: open (or resume) it, save figures, then `finish`.

    A name stands for one plan: reopening it with a different plan is a ConfigError (a rerun of
    the same plan resumes)."""

    def __init__(self, store: Store, kind: str, name: str, config: dict[str, Any]) -> None:
        plan = fingerprint(config)
        for old in store.list_studies(kind):
            if old.name == name and old.config.get("fingerprint") not in (None, plan):
                raise ConfigError(
                    f"--name {name!r}: a {kind} study of that name exists with a different plan "
                    f"(fingerprint {old.config['fingerprint']}, now {plan}); rerun it with its "
                    "own settings or choose another --name"
                )
        self.store, self.kind, self.name = store, kind, name
        self.study = store.open_study(name, kind, {**config, "fingerprint": plan})
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
