"""One experiment end to end: config -> data -> model -> fit -> store. The CLI's `run` calls this."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import signal
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import torch
import yaml
from torch import nn

from trainlab import models
from trainlab.config import METRICS, RunConfig
from trainlab.data.stream import Streamed, describe_stream, load_or_stream
from trainlab.errors import ConfigError, StoreError, one_line
from trainlab.models.user import UserModel, adopt_user_model, code_record
from trainlab.track.env import capture_env
from trainlab.track.liveness import Heartbeat
from trainlab.track.store import RunRecord, Store
from trainlab.train.augment import check_augment
from trainlab.train.feed import TrainData
from trainlab.train.loop import MODEL_FILE, RESUME_FILE, Callback, History, fit
from trainlab.train.seed import resolve_device, seed_everything, set_threads

FAILED_RUN_ATTR = "trainlab_failed_run"  # set on an exception `run` raises after storing a run


@dataclass
class Result:
    """What a run leaves in memory: its history, its store record (if stored), model and data."""

    history: History
    record: RunRecord | None
    model: nn.Module
    dataset: TrainData  # resident tensors, or host data streamed to the device

    @property
    def summary(self) -> dict[str, object]:
        return self.history.summary


class _EpochWriter(Callback):
    """Stores each finished epoch while this process holds the run; stops a run that another
    process took over (its heartbeat had gone stale)."""

    def __init__(self, store: Store, run_id: str, heartbeat: Heartbeat) -> None:
        self.store, self.run_id, self.heartbeat = store, run_id, heartbeat

    def on_step(self, step: int, model: nn.Module, loss: torch.Tensor) -> None:
        if self.heartbeat.lost:
            raise StoreError(f"run {self.run_id} was taken over by another process; stopping")

    def on_epoch(self, epoch: int, model: nn.Module, metrics: dict[str, float]) -> None:
        self.store.log_epoch(self.run_id, epoch, metrics, owned=True)


def prepare(
    cfg: RunConfig, model: UserModel | None = None
) -> tuple[RunConfig, nn.Module, TrainData]:
    """Validate the device, load the data and build (or adopt) the model — before anything is stored."""
    set_threads(cfg.train.threads)
    device = resolve_device(cfg.train.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={cfg.train.device!r}: CUDA is not available here; use cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("train.device='mps': MPS is not available here; use cpu")
    dataset = load_or_stream(cfg.data, cfg.seed, device)  # streamed when over data.device_budget
    check_metrics(cfg, dataset.spec.task)
    if isinstance(dataset, Streamed):
        print(f"trainlab: {describe_stream(dataset)}", file=sys.stderr)
    check_augment(cfg, dataset.spec)
    seed_everything(cfg.seed)  # the same seed gives the same initial weights
    if model is None:
        options = dict(cfg.model.options)
        model = models.build(
            cfg.model.name, dataset.spec, dropout=cfg.regularize.dropout, **options
        )
    else:  # a class or factory is built now; an instance is re-initialised (models/user.py)
        cfg, model = adopt_user_model(cfg, model, dataset.spec)
    model = model.to(device)
    check_logits(cfg, model, dataset)
    return cfg, model, dataset


def check_metrics(cfg: RunConfig, task: str) -> None:
    """A classification metric asked of a regression is one line before anything is stored."""
    if task != "regression":
        return
    for name in cfg.train.metrics:
        if name in METRICS:
            raise ConfigError(
                f"train.metrics={name!r}: a classification metric, but data {cfg.data.name!r} is a "
                "regression (it always measures rmse, mae and r2); name a function file.py:fn "
                "(predictions, targets) -> float for more"
            )


def check_logits(cfg: RunConfig, model: nn.Module, dataset: TrainData) -> None:
    """One forward of 2 training samples in eval mode without gradients (no weight, statistic or
    random stream changes): a model that cannot run on this data, or that does not give
    (batch, num_classes) logits, is one line before anything is stored — not a failed run whose
    error is an IndexError from the loss."""
    x = dataset.head(2) if isinstance(dataset, Streamed) else dataset.x_train[:2]
    want = (2, dataset.spec.num_classes)
    where = f"model.name={cfg.model.name!r} on {cfg.data.name} (inputs {tuple(x.shape)})"
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:
        raise ConfigError(f"{where}: its forward fails: {one_line(exc)}") from None
    finally:
        model.train(training)
    got = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
    if got != want:
        what = (
            "a regressor must return (batch, outputs) = {want} predictions"
            if dataset.spec.task == "regression"
            else "a classifier must return (batch, num_classes) = {want} logits"
        )
        raise ConfigError(f"{where}: gives {got}; {what.format(want=want)}")


def describe_user_model(cfg: RunConfig, model: nn.Module) -> RunConfig:
    """Record a user's own module in the config: class name and a digest of its architecture."""
    arch = hashlib.sha256(repr(model).encode()).hexdigest()[:12]
    name = f"user:{type(model).__module__}.{type(model).__qualname__}"
    return cfg.with_overrides({"model.name": name, "model.options": {"arch": arch}})


def run(
    cfg: RunConfig,
    store: Store | None = None,
    callbacks: Sequence[Callback] = (),
    model: UserModel | None = None,
) -> Result:
    """Train and evaluate one config. With a store, record it (resuming an interrupted twin)."""
    cfg, model, dataset = prepare(cfg, model)
    if store is None:
        return Result(fit(model, dataset, cfg, callbacks), None, model, dataset)
    record, ours = _start_or_resume(store, cfg)
    if not ours:  # another process trained it while this one waited: its result is ours too
        return _stored_result(store, record, model, dataset)
    heartbeat = Heartbeat(store.db_path, record.id)
    cbs = [_EpochWriter(store, record.id, heartbeat), *callbacks]
    try:
        (record.dir / "config.yaml").write_text(
            yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
        )
        with heartbeat, sigterm_as_interrupt():
            history = fit(model, dataset, cfg, cbs, checkpoint_dir=record.dir)
    except KeyboardInterrupt as stop:
        with contextlib.suppress(StoreError):
            store.finish_run(
                record.id, "interrupted", {}, "interrupted by the user or a signal", owned=True
            )
        setattr(stop, FAILED_RUN_ATTR, record.id)  # its caller links the interrupted run too
        raise
    except Exception as exc:
        error = "".join(traceback.format_exception_only(exc)).strip()
        with contextlib.suppress(StoreError):
            store.finish_run(record.id, "failed", {}, error, owned=True)
        if _disk_full(exc):
            full = StoreError(
                f"run {record.id}: no space left on the disk of store {str(store.root)!r};"
                " free space and rerun"
            )
            setattr(full, FAILED_RUN_ATTR, record.id)
            raise full from exc
        setattr(exc, FAILED_RUN_ATTR, record.id)
        raise
    summary = {**history.summary, "reason": history.reason} if history.reason else history.summary
    if not store.finish_run(record.id, history.status, summary, owned=True):
        raise StoreError(f"run {record.id} was taken over by another process; result not stored")
    resume_file = record.dir / RESUME_FILE
    if history.status == "finished" and resume_file.exists():
        resume_file.unlink()  # the run is complete; model.pt is what later tools load
    return Result(history, store.get_run(record.id), model, dataset)


def failed_run(exc: BaseException) -> str | None:
    """The id of the stored run that `run` marked failed when it raised `exc` (None: it raised
    before a run was stored). Callers link exactly this run, never a twin of the same hash
    another process failed meanwhile."""
    run_id = getattr(exc, FAILED_RUN_ATTR, None)
    return run_id if isinstance(run_id, str) else None


def load_model(record: RunRecord, device: str = "cpu", model: nn.Module | None = None) -> nn.Module:
    """Rebuild a finished run's model from its config and load its weights (weights_only=True)."""
    path = record.dir / MODEL_FILE
    if not path.exists():
        raise StoreError(f"run {record.id} has no checkpoint ({path}); it ended {record.status}")
    if model is None:
        if record.config.model.name.startswith("user:"):
            raise StoreError(
                f"run {record.id} used a user model; pass an instance of it to load into"
            )
        # the spec alone: data over the budget are opened for streaming, not read
        spec = load_or_stream(record.config.data, record.seed, torch.device("cpu")).spec
        model = models.build(
            record.config.model.name,
            spec,
            dropout=record.config.regularize.dropout,
            **record.config.model.options,
        )
    model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
    return model.to(device).eval()


def _start_or_resume(store: Store, cfg: RunConfig) -> tuple[RunRecord, bool]:
    """The run this process trains, and True; or, when another process won the race to resume
    the same interrupted run, that run once it has ended, and False.

    A checkpointed (`train.checkpoint=every_epoch`) interrupted twin is resumed by compare-and-set:
    exactly one process claims it, and its epoch rows become exactly its checkpoint's epochs. A
    checkpointed twin that another live process is training is waited for, not trained twice.
    """
    while True:
        twin = None
        if cfg.train.checkpoint == "every_epoch":
            twin = store.find_run(cfg.hash(), ("interrupted", "running"))
        if twin is None:
            return store.create_run(cfg, {**capture_env(), **code_record(cfg)}), True
        if twin.status == "interrupted":
            resume = twin.dir / RESUME_FILE
            epochs = torch.load(resume, weights_only=True)["epochs"] if resume.exists() else []
            if store.claim_run(twin.id, epochs):
                _drop_partial_checkpoints(twin.dir)
                return store.get_run(twin.id), True
        status, host, pid = store.holder(twin.id)
        if status != "running":
            continue  # it ended between our look and our claim: look again
        print(
            f"run {twin.id} is being resumed by pid {pid} on {host}; waiting for it to end"
            " instead of training it twice",
            file=sys.stderr,
        )
        ended = _wait_for(store, twin.id)
        if ended.status != "interrupted":
            return ended, False


def _wait_for(store: Store, run_id: str, poll: float = 0.5) -> RunRecord:
    """Block until run `run_id` is no longer `running` (a dead holder is marked `interrupted`)."""
    while store.holder(run_id)[0] == "running":
        time.sleep(poll)
        store.mark_dead_runs()
    return store.get_run(run_id)


def _stored_result(store: Store, record: RunRecord, model: nn.Module, dataset: TrainData) -> Result:
    """A Result for a run another process trained: its stored epochs, summary and weights."""
    summary = dict(record.summary)
    history = History(
        epochs=store.epochs(record.id),
        status=record.status,
        reason=str(summary.get("reason", "")),
        summary=summary,
    )
    weights = record.dir / MODEL_FILE
    if record.status == "finished" and weights.exists():
        device = next(model.parameters()).device
        model.load_state_dict(torch.load(weights, map_location=device, weights_only=True))
    return Result(history, record, model, dataset)


def _drop_partial_checkpoints(folder: Path) -> None:
    """Temp files of a checkpoint write that a kill cut short (the checkpoint itself is whole)."""
    for tmp in folder.glob(f"{RESUME_FILE}.tmp*"):
        tmp.unlink(missing_ok=True)


def _disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, RuntimeError) and "write failed" in str(exc)  # torch.save's wording


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so a killed run is stored `interrupted`, not `running`."""
    if os.name != "posix" or signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
