"""Which metric a run is chosen on, in which direction, and the keys metrics are stored under
(`val_f1_macro`, `test_rmse`): torch-free, for the studies, the search and the UI alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trainlab.provenance import is_import_path, split_import_path

# The metric each task chooses epochs, runs and variants on, and whether higher is better.
SELECTION: dict[str, tuple[str, bool]] = {
    "classification": ("val_acc", True),
    "regression": ("val_rmse", False),
}
REGRESSION = ("rmse", "mae", "r2")  # always measured for a regression task, in the targets' units
LOWER_IS_BETTER = ("loss", "rmse", "mae", "ece")
PREFIXES = ("best_val_", "train_eval_", "train_", "val_", "test_")


def selection(row: Mapping[str, Any]) -> tuple[str, bool]:
    """The key an epoch row or run summary is chosen on and whether higher is better: val_rmse
    (lower) for a regression run, val_acc (higher) otherwise."""
    regression = "val_rmse" in row and "val_acc" not in row
    return SELECTION["regression" if regression else "classification"]


def metric_name(name: str) -> str:
    """The key part of a `train.metrics` entry: `f1_macro`, or a function's own name."""
    return split_import_path(name)[1].rpartition(".")[2] if is_import_path(name) else name


def higher_is_better(key: str) -> bool:
    """Direction of a metric key (`val_f1_macro`, `test_rmse`, `ece`): lower for losses, errors
    and calibration error, higher for the rest (accuracy, F1, AUROC, R², a user's metric)."""
    base = next((key[len(p) :] for p in PREFIXES if key.startswith(p)), key)
    return base not in LOWER_IS_BETTER
