"""Comparison studies: a base config x named variants x seeds, run by a pool of worker processes
(resumable: finished configs are never run twice), compared with statistics over seeds.

`run_baselines`, `run_optimizers`, `run_regularization` and `run_grid` each store a study with
figures, tables and a Summary the report renders: choices on validation, fresh final seeds, every
variant against a declared reference with Holm-corrected verdicts (`verdicts.judge`). Each takes
how to run and store it (workers, store, name, progress, record, min_effect) as one
`StudyOptions`.

Names load on first use: a worker process (`python -m trainlab.execute.worker`) never imports
matplotlib and scipy, so it starts about 3 s sooner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainlab.execute import Job, Outcome, execute, load_reliability
    from trainlab.studies.baselines import PAPER, run_baselines
    from trainlab.studies.grid import expand, parse_vary, product, run_grid
    from trainlab.studies.optimizers import OPTIMIZERS, SCHEDULES, run_optimizers
    from trainlab.studies.options import StudyOptions
    from trainlab.studies.output import StudyResult
    from trainlab.studies.regularization import METHODS, run_regularization
    from trainlab.studies.stats import Spread, describe, holm, stats_table
    from trainlab.studies.verdicts import Arm, Metric, judge

_HOME = {
    "PAPER": "baselines",
    "run_baselines": "baselines",
    "Job": "trainlab.execute",
    "Outcome": "trainlab.execute",
    "execute": "trainlab.execute",
    "load_reliability": "trainlab.execute",
    "expand": "grid",
    "parse_vary": "grid",
    "product": "grid",
    "run_grid": "grid",
    "OPTIMIZERS": "optimizers",
    "SCHEDULES": "optimizers",
    "run_optimizers": "optimizers",
    "StudyOptions": "options",
    "StudyResult": "output",
    "METHODS": "regularization",
    "run_regularization": "regularization",
    "Spread": "stats",
    "describe": "stats",
    "stats_table": "stats",
    "holm": "stats",
    "Arm": "verdicts",
    "Metric": "verdicts",
    "judge": "verdicts",
}

__all__ = [
    "METHODS",
    "OPTIMIZERS",
    "PAPER",
    "SCHEDULES",
    "Arm",
    "Job",
    "Metric",
    "Outcome",
    "Spread",
    "StudyOptions",
    "StudyResult",
    "describe",
    "execute",
    "expand",
    "holm",
    "judge",
    "load_reliability",
    "parse_vary",
    "product",
    "run_baselines",
    "run_grid",
    "run_optimizers",
    "run_regularization",
    "stats_table",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'trainlab.studies' has no attribute {name!r}")
    home = _HOME[name]
    module = home if "." in home else f"trainlab.studies.{home}"
    return getattr(importlib.import_module(module), name)
