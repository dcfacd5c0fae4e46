"""How a study runs and where it is stored: the options every `run_*` study shares.

`run_baselines`, `run_optimizers`, `run_regularization` and `run_grid` take what they study as
their own arguments (budget, seeds, variants, base config, data, target) and how to run and store
it as one `StudyOptions`. Torch-free, so the CLI builds one before anything heavy loads.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainlab.track.store import Store

__all__ = ["StudyOptions"]


@dataclass(frozen=True)
class StudyOptions:
    """How to run a study and where to store it (every field's default: the study's own)."""

    workers: int | None = None  # worker processes (None: the pool's default)
    store: Store | None = None  # None: the default store, Store()
    name: str | None = None  # the study's name; rerunning a name resumes it (None: derived)
    progress: bool = True  # a live progress bar on stderr
    record: int | None = None  # flight recorder every N steps in each run trained
    min_effect: float | None = None  # smallest difference that matters: adds a TOST verdict
