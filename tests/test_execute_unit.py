"""One unit of work: a job that fails is linked to the failed run it stored itself, never to a
failed twin of the same config hash that another process stored in the same second."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from trainlab.config import RunConfig
from trainlab.execute import Job
from trainlab.execute.unit import run_job
from trainlab.track.store import Store
from trainlab.train.callbacks import Callback

TINY = {
    "name": "tiny",
    "data": {"name": "moons", "options": {"n": 100}},
    "model": {"name": "mlp", "options": {"width": 4}},
    "train": {"epochs": 2, "batch_size": 50, "checkpoint": "none"},
}


class OtherProcessFails(Callback):
    """Mid-training, "another process" stores a failed run of the same config; then this one fails."""

    def __init__(self, store: Store, cfg: RunConfig) -> None:
        self.store, self.cfg, self.other = store, cfg, ""

    def on_epoch(self, epoch: int, model: nn.Module, metrics: dict[str, float]) -> None:
        other = self.store.create_run(self.cfg, {})
        self.store.finish_run(other.id, "failed", {}, "RuntimeError: the other one")
        self.other = other.id
        raise RuntimeError("this one")


def _failed(store: Store) -> list[str]:
    return [r.id for r in store.list_runs(status="failed")]


def test_a_failed_job_links_the_run_it_stored_not_a_newer_failed_twin() -> None:
    store = Store()
    study = store.open_study("failing", "grid", {})
    cfg = RunConfig.model_validate(TINY)
    other = OtherProcessFails(store, cfg)
    answer = run_job(store, study.id, Job("v", cfg), extra=[other])
    failed = _failed(store)
    assert len(failed) == 2 and other.other in failed
    ours = next(i for i in failed if i != other.other)
    assert answer == {"run_id": ours, "status": "failed", "error": "RuntimeError: this one"}
    assert [r.id for _, r in store.study_runs(study.id)] == [ours]
    assert store.get_run(ours).error == "RuntimeError: this one"


@pytest.mark.skipif(torch.cuda.is_available(), reason="the job must fail for want of CUDA")
def test_a_job_failing_before_any_run_links_none_not_a_recent_failed_twin() -> None:
    store = Store()
    study = store.open_study("failing", "grid", {})
    cfg = RunConfig.model_validate(TINY).with_overrides({"train.device": "cuda"})
    twin = store.create_run(cfg, {})  # a failed run of the same hash, stored just now elsewhere
    store.finish_run(twin.id, "failed", {}, "RuntimeError: elsewhere")
    answer = run_job(store, study.id, Job("v", cfg))
    assert answer["run_id"] is None and answer["status"] == "failed"
    assert "CUDA is not available" in answer["error"]
    assert store.study_runs(study.id) == [] and _failed(store) == [twin.id]
