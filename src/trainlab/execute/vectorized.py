"""The seeds of one config as one vectorized unit in the store: each member is its own run (its
record, config file, heartbeat, epochs, checkpoint and link to the study) while `train.stacked`
trains them as one stacked model. A group that cannot stack raises `Unsupported` before anything
is stored, and the caller runs its seeds alone (execute/unit.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import ExitStack

import torch
import yaml
from torch import nn

from trainlab.errors import StoreError, one_line
from trainlab.execute.jobs import Job
from trainlab.execute.reliability import save_reliability
from trainlab.execute.unit import Answer
from trainlab.track.env import capture_env
from trainlab.track.liveness import Heartbeat
from trainlab.track.store import Store
from trainlab.train.callbacks import Callback
from trainlab.train.loop import MODEL_FILE, summarize
from trainlab.train.stacked import Stack
from trainlab.train.stacking import Unsupported

__all__ = ["Unsupported", "train_group"]


class _Held(Callback):
    """Stops the group when another process took one of its runs over (a heartbeat went stale)."""

    def __init__(self, beats: Sequence[Heartbeat]) -> None:
        self.beats = beats

    def on_step(self, step: int, model: nn.Module, loss: torch.Tensor) -> None:
        lost = [b.run_id for b in self.beats if b.lost]
        if lost:
            raise StoreError(f"runs {', '.join(lost)} were taken over by another process; stopping")


def train_group(store: Store, study_id: str, jobs: Sequence[Job]) -> list[Answer]:
    """Train `jobs` (seeds of one config) as one vectorized model; each stored as its own run."""
    from trainlab.train.experiment import prepare, sigterm_as_interrupt

    try:
        members = [prepare(j.config) for j in jobs]
    except Exception as exc:
        raise Unsupported(f"a seed failed to prepare ({one_line(exc)})") from None
    stack = Stack(members)
    env = {**capture_env(), "vectorized": len(jobs)}
    records = [store.create_run(j.config, env) for j in jobs]
    for rec, job in zip(records, jobs, strict=True):
        (rec.dir / "config.yaml").write_text(
            yaml.safe_dump(job.config.model_dump(mode="json"), sort_keys=False)
        )
    note = f"vectorized: {len(jobs)} seeds as one model"
    try:
        with ExitStack() as alive, sigterm_as_interrupt():
            beats = [alive.enter_context(Heartbeat(store.db_path, r.id)) for r in records]
            hists = stack.fit(
                lambda j, m: store.log_epoch(records[j].id, int(m["epoch"]), m), [_Held(beats)]
            )
    except KeyboardInterrupt:
        for rec, job in zip(records, jobs, strict=True):
            store.finish_run(
                rec.id, "interrupted", {}, "interrupted by the user or a signal", owned=True
            )
            store.link(study_id, rec.id, job.variant, role=job.role)
        raise
    except Exception as exc:  # a failed group never stops the study; its runs are `failed`
        error = one_line(exc)
        for rec, job in zip(records, jobs, strict=True):
            store.finish_run(rec.id, "failed", {}, error, owned=True)  # not a run taken over
            store.link(study_id, rec.id, job.variant, role=job.role)
        return [{"run_id": r.id, "status": "failed", "error": error, "note": note} for r in records]
    answers: list[Answer] = []
    for j, (rec, job, hist) in enumerate(zip(records, jobs, hists, strict=True)):
        cfg, model, data = members[j]
        model = stack.member(j)
        hist.summary = summarize(model, data, cfg, hist)
        summary = {**hist.summary, "reason": hist.reason} if hist.reason else hist.summary
        if hist.status == "finished":
            if cfg.train.checkpoint != "none":
                tmp = rec.dir / f"{MODEL_FILE}.tmp{os.getpid()}"
                torch.save(model.state_dict(), tmp)
                os.replace(tmp, rec.dir / MODEL_FILE)
            save_reliability(rec.dir, model, data)
        store.finish_run(rec.id, hist.status, summary)
        store.link(study_id, rec.id, job.variant, role=job.role)
        answers.append(
            {"run_id": rec.id, "status": hist.status, "error": hist.reason, "note": note}
        )
    return answers
