"""trainlab: run deep-learning experiments reproducibly and see inside the models.

The public API below is what experiment scripts use; everything else is importable by module.
Names that need torch are imported on first use, so `import trainlab` (and the CLI's start-up)
stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trainlab.config import RunConfig, config_hash, load_config
from trainlab.errors import ConfigError, DataError, StoreError, TrainlabError

if TYPE_CHECKING:
    from trainlab.studies.options import StudyOptions
    from trainlab.track.store import RunRecord, Store
    from trainlab.train.experiment import Result, load_model, run
    from trainlab.train.loop import Callback, History, StopTraining, fit

__version__ = "0.1.0"

_LAZY = {
    "RunRecord": "trainlab.track.store",
    "Store": "trainlab.track.store",
    "StudyOptions": "trainlab.studies.options",
    "Result": "trainlab.train.experiment",
    "load_model": "trainlab.train.experiment",
    "run": "trainlab.train.experiment",
    "Callback": "trainlab.train.loop",
    "History": "trainlab.train.loop",
    "StopTraining": "trainlab.train.loop",
    "fit": "trainlab.train.loop",
}

__all__ = [
    "Callback",
    "ConfigError",
    "DataError",
    "History",
    "Result",
    "RunConfig",
    "RunRecord",
    "StopTraining",
    "Store",
    "StoreError",
    "StudyOptions",
    "TrainlabError",
    "__version__",
    "config_hash",
    "fit",
    "load_config",
    "load_model",
    "run",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trainlab' has no attribute {name!r}")
