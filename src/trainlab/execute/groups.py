"""Which jobs train together: the seeds of one config become one vectorized unit when the model
and the config allow it (`why_alone` says why not); every other job is a unit of its own.
Precision bf16 and `train.compile` apply to a stack as to a lone run (train/step.py)."""

from __future__ import annotations

from collections.abc import Sequence

from trainlab.data.catalog import task_of
from trainlab.execute.jobs import Job

# Models built only from layers `stacked.stack_modules` knows (no RNN kernel, no layer mixing
# samples but batch norm); it checks every layer again, and a dry forward runs, before anything
# is stored.
VECTORIZABLE = ("logreg", "mlp", "cnn")


def why_alone(job: Job) -> str:
    """Why `job` cannot share a vectorized model with its other seeds ('' when it can)."""
    cfg = job.config
    if cfg.model.name not in VECTORIZABLE:
        return f"model {cfg.model.name!r} is not vectorized (only {', '.join(VECTORIZABLE)})"
    if task_of(cfg.data.name, cfg.data.options) == "regression":
        return "regression runs train alone (the stacked loss and metrics are a classifier's)"
    if job.record is not None:
        return "the flight recorder watches one model"
    if cfg.train.early_stopping is not None:
        return "early stopping ends each seed at its own epoch"
    if cfg.schedule.name == "plateau":
        return "the plateau schedule follows each seed's own val_loss"
    if cfg.train.checkpoint == "every_epoch":
        return "per-epoch resume checkpoints are written by lone runs"
    if cfg.train.precision == "fp16":
        return "fp16's grad scaler would skip every seed's step when one seed overflows"
    if cfg.train.channels_last:
        return "train.channels_last is applied to lone runs only (the stack regroups channels)"
    return ""


def plan_units(
    jobs: Sequence[Job], vectorize: str, slots: int
) -> tuple[list[list[Job]], dict[str, str]]:
    """Units of work (lists of jobs) and, per job hash left alone among its seeds, the reason.

    Seeds of one config (same hash once the seed is cleared) form one unit; groups are halved
    while there are fewer units than `slots`, so every slot gets work.
    """
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        key = job.config.with_overrides({"seed": 0}).hash() if vectorize == "auto" else job.hash
        groups.setdefault(f"{key}:{job.record}", []).append(job)
    units: list[list[Job]] = []
    notes: dict[str, str] = {}
    for group in groups.values():
        reason = why_alone(group[0]) if len(group) > 1 else ""
        if reason:
            notes.update({j.hash: f"not vectorized: {reason}" for j in group})
            units.extend([j] for j in group)
        else:
            units.append(group)
    while len(units) < slots:
        big = max(units, key=len, default=[])
        if len(big) < 4:
            break
        units.remove(big)
        half = len(big) // 2
        units.extend([big[:half], big[half:]])
    return units, notes
