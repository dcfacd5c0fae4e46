"""trainlab: run deep-learning experiments reproducibly and see inside the models.

The public API below is what experiment scripts use; everything else is importable by module.
"""

from __future__ import annotations

from trainlab.config import RunConfig, config_hash, load_config
from trainlab.errors import ConfigError, DataError, StoreError, TrainlabError
from trainlab.track.store import RunRecord, Store
from trainlab.train.experiment import Result, load_model, run
from trainlab.train.loop import Callback, History, StopTraining, fit

__version__ = "0.1.0"

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
    "TrainlabError",
    "__version__",
    "config_hash",
    "fit",
    "load_config",
    "load_model",
    "run",
]
