"""Datasets as device tensors: a registry of built-in and user-file loaders. No downloads, ever.

`list_datasets` reads a static catalog (no torch import); `load` and the rest import on first use.
`data.name` may also be the user's own function by import path (`file.py:make`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trainlab.data.catalog import DatasetInfo, list_datasets

if TYPE_CHECKING:
    from trainlab.data.registry import load, register_dataset
    from trainlab.data.spec import Dataset, DataSpec

_HOME = {
    "load": "registry",
    "register_dataset": "registry",
    "Dataset": "spec",
    "DataSpec": "spec",
}

__all__ = ["DataSpec", "Dataset", "DatasetInfo", "list_datasets", "load", "register_dataset"]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"trainlab.data.{_HOME[name]}"), name)
    raise AttributeError(f"module 'trainlab.data' has no attribute {name!r}")
