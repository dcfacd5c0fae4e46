"""Training: the fit loop, optimizers and schedules, regularizers, metrics, seeding, one-run driver.

Imported lazily: `trainlab.train.callbacks` (what the CLI needs at start-up) has no torch import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainlab.train.callbacks import Callback, History, StopTraining
    from trainlab.train.experiment import Result, load_model, prepare, run
    from trainlab.train.loop import fit
    from trainlab.train.metrics import evaluate, expected_calibration_error, reliability_bins

_HOME = {
    "Callback": "callbacks",
    "History": "callbacks",
    "StopTraining": "callbacks",
    "Result": "experiment",
    "load_model": "experiment",
    "prepare": "experiment",
    "run": "experiment",
    "fit": "loop",
    "evaluate": "metrics",
    "expected_calibration_error": "metrics",
    "reliability_bins": "metrics",
}

__all__ = [
    "Callback",
    "History",
    "Result",
    "StopTraining",
    "evaluate",
    "expected_calibration_error",
    "fit",
    "load_model",
    "prepare",
    "reliability_bins",
    "run",
]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"trainlab.train.{_HOME[name]}"), name)
    raise AttributeError(f"module 'trainlab.train' has no attribute {name!r}")
