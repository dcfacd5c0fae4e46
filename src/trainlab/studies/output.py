"""Where a study's results go: its record in the store (one plan per name), its folder (figures
as PNG, SVG and PDF, tables as CSV, MD and LaTeX, summary.json) and the study row's Summary for
the report."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure as MplFigure

from trainlab.config import EXECUTION_FIELDS, RunConfig, flatten
from trainlab.execute import Outcome
from trainlab.plots.style import save_figure
from trainlab.studies.inference import floor_paired, seeds_needed
from trainlab.studies.looks import history, next_look, signature, spent
from trainlab.studies.outcomes import count_text, counts, failure_table, unique
from trainlab.studies.stats import ALPHA
from trainlab.track.store import Store
from trainlab.track.strictjson import dumps
from trainlab.track.summary import Figure, Summary, Table

PROMOTED = ("selection_metric", "reference", "correction", "look", "alpha_look", "variants",
            "comparisons")  # fmt: skip
# Not part of a study's plan: the seed count (seeds may be added: a corrected new look) and how
# runs execute (a rerun with `train.checkpoint=every_epoch` resumes the same study).
UNPLANNED = ("seeds", "fingerprint")


def fingerprint(*parts: Any) -> str:
    """8 hex digits of what a plan is made of (JSON, keys sorted)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:8]


def planned(config: dict[str, Any]) -> dict[str, Any]:
    """What a study's `config` plans to train: without the seed count and execution settings."""
    out = {k: v for k, v in config.items() if k not in UNPLANNED}
    if isinstance(out.get("base"), dict):
        base = json.loads(json.dumps(out["base"]))
        for key in EXECUTION_FIELDS:
            section, name = key.split(".")
            base.get(section, {}).pop(name, None)
        if base.get("train", {}).get("metrics") == []:
            del base["train"]["metrics"]  # a study planned before `train.metrics` reopens
        out["base"] = base
    return out


def plan_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The planned fields that differ, e.g. `base.optim.lr: 0.01 -> 0.02` (dotted, sorted)."""
    a, b = flatten(planned(old)), flatten(planned(new))
    return [f"{k}: {_show(a.get(k))} -> {_show(b.get(k))}" for k in sorted(set(a) | set(b))
            if a.get(k) != b.get(k)]  # fmt: skip


def budget_epochs(base: RunConfig, epochs: int, budget: str) -> tuple[RunConfig, str | None]:
    """`base` trained for the budget's `epochs`, and what to say when that replaces the user's."""
    said = None
    if base.train.epochs != epochs:
        said = (f"train.epochs={base.train.epochs} of the base config is replaced by the {budget} "
                f"budget's {epochs} epochs")  # fmt: skip
    return base.with_overrides({"train.epochs": epochs}), said


def _show(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value, default=str)


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
        plan = fingerprint(planned(config))

        def conflict(old: dict[str, Any]) -> str | None:
            if "fingerprint" not in old or fingerprint(planned(old)) == plan:
                return None
            changes = plan_changes(old, config)
            said = "; ".join(changes[:4]) + (
                f"; and {len(changes) - 4} more" if len(changes) > 4 else ""
            )
            return (f"--name {name!r}: a {kind} study of that name exists with a different plan "
                    f"({said}); rerun it with its own settings (more --seeds may be added) or "
                    "choose another --name")  # fmt: skip

        self.store, self.kind, self.name = store, kind, name
        self.study = store.open_study(name, kind, {**config, "fingerprint": plan}, conflict)
        self.looks: list[dict[str, Any]] = list(self.study.summary.get("data", {}).get("looks", []))
        self.this_look: dict[str, Any] | None = None
        self.dir = self.study.dir
        self.figures: list[Figure] = []
        self.notes: list[str] = []  # said on stderr before training and in the study's text
        self.tables: list[Table] = []  # added to the study's tables when it finishes
        self.started = time.perf_counter()

    def note(self, text: str) -> None:
        """Say `text` now (stderr) and keep it in the study's text."""
        print(f"trainlab: {text}", file=sys.stderr)
        self.notes.append(text[0].upper() + text[1:] + ("" if text.endswith(".") else "."))

    def look(self, outcomes: Sequence[Outcome]) -> int:
        """The look these outcomes' final runs are: the last one again if it saw the same runs
        (a rerun that trained nothing new), else the next one."""
        runs: dict[str, list[tuple[int, str, str]]] = {}
        for o in unique(outcomes):
            if o.job.role == "final":
                rid = o.run.id if o.run is not None else ""
                runs.setdefault(o.job.variant, []).append((o.job.config.seed, rid, o.status))
        self.this_look = next_look(self.looks, signature(runs))
        return int(self.this_look["look"])

    def warn_power(self, n: int, comparisons: int, alpha: float = ALPHA) -> None:
        """Before training: say on stderr when `n` seeds cannot reach a verdict at the coming
        look after Holm over `comparisons`, and the n that could."""
        k = len(self.looks) + 1
        level = spent(alpha, k) / max(1, comparisons)
        if floor_paired(n) < level:
            return
        print(f"trainlab: no verdict possible at n={n}: the exact test's smallest p is "
              f"{floor_paired(n):.3g}, and look {k} with Holm over {comparisons} comparisons needs "
              f"p < {level:.2g}; {seeds_needed(level)} seeds per variant could reach it "
              "(effects and intervals are still reported)", file=sys.stderr)  # fmt: skip

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
        summary.text[0:0] = [count_text(c), *self.notes]
        summary.tables += self.tables
        failed = failure_table(outcomes)
        if failed is not None:
            summary.tables.append(failed)
        summary.figures = self.figures
        summary.run_ids = list(dict.fromkeys(o.run.id for o in outcomes if o.run is not None))
        summary.data["counts"] = c
        if self.this_look is not None:
            summary.data["looks"] = history(self.looks, self.this_look)
        summary.write_tables(self.dir)
        text = dumps(summary.to_json(), indent=1, default=str)
        (self.dir / "summary.json").write_text(text)
        self.store.finish_study(self.id, summary.to_json())
        seconds = time.perf_counter() - self.started
        return StudyResult(summary, self.id, self.name, self.dir, c, seconds, list(outcomes))
