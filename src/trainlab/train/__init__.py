"""Training: the fit loop, optimizers and schedules, regularizers, metrics, seeding, one-run driver."""

from trainlab.train.experiment import Result, load_model, prepare, run
from trainlab.train.loop import Callback, History, StopTraining, fit
from trainlab.train.metrics import evaluate, expected_calibration_error, reliability_bins

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
