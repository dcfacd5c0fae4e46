"""`fit`: the one training loop. Seeded batches from device tensors or a host stream (`feed.py`);
the step itself lives in `step.py`, shared with the stacked seeds (`stacked.py`).

Callbacks see `on_step` (after each optimizer step), `on_epoch` (metrics of a finished epoch) and
`on_end`; any of them may raise `StopTraining` to end the run with a status (e.g. `pruned`).
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from trainlab.config import RunConfig
from trainlab.data.spec import Task
from trainlab.train.augment import augmenter
from trainlab.train.callbacks import Callback, History, StopTraining
from trainlab.train.feed import (
    TrainData,
    device_of,
    evaluate_split,
    feed_record,
    measure_split,
    train_batches,
)
from trainlab.train.metrics import (
    SELECTION,
    expected_calibration_error,
    metric_name,
    scores,
)
from trainlab.train.metrics import selection as selection_of
from trainlab.train.precision import channels_last
from trainlab.train.regularize import penalized_params, weight_norm
from trainlab.train.seed import seed_everything, set_deterministic
from trainlab.train.step import LossFn, Step, epoch_row, train_epoch

RESUME_FILE = "last.pt"  # full training state, written after every epoch when asked
MODEL_FILE = "model.pt"  # final weights (state_dict), loadable with weights_only=True
__all__ = ["MODEL_FILE", "RESUME_FILE", "Callback", "History", "StopTraining", "fit", "summarize"]


@dataclass
class Best:
    """Early stopping's memory: the best value so far of the task's selection metric (val_acc,
    higher; regression: val_rmse, lower), its weights (kept only when early stopping is on), and
    the epochs since it last improved."""

    acc: float = -math.inf  # the best value, by its old name (resume files keep `best_acc`)
    state: dict[str, Any] | None = None
    bad_epochs: int = 0
    higher: bool = True

    def update(self, value: float, model: nn.Module, keep: bool) -> None:
        if (
            value > self.acc if self.higher else value < self.acc
        ):  # strict: the first epoch of the best value is kept
            self.acc, self.bad_epochs = value, 0
            if keep:
                self.state = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1


def fit(
    model: nn.Module,
    data: TrainData,
    cfg: RunConfig,
    callbacks: Sequence[Callback] = (),
    checkpoint_dir: Path | None = None,
) -> History:
    """Train `model` on `data` as `cfg` says; resume from `checkpoint_dir/last.pt` if it exists."""
    t = cfg.train
    set_deterministic(t.deterministic)
    gen = seed_everything(cfg.seed)
    model.to(device_of(data))
    layout = channels_last(model, data.spec, t.channels_last)
    n = data.sizes["train"]
    task = data.spec.task
    key, higher = SELECTION[task]
    step = Step(model, cfg, math.ceil(n / t.batch_size), lone_loss(cfg, task),
                penalized_params(model), layout=layout,
                augment=augmenter([cfg], data.spec))  # fmt: skip
    on_step = [cb for cb in callbacks if type(cb).on_step is not Callback.on_step]
    hist, best = History(), Best(-math.inf if higher else math.inf, higher=higher)
    resume_path = checkpoint_dir / RESUME_FILE if checkpoint_dir else None
    if resume_path is not None and resume_path.exists():
        _resume(resume_path, model, step, gen, hist, best)
    try:
        for epoch in range(len(hist.epochs) + 1, t.epochs + 1):
            model.train()
            t0 = time.perf_counter()
            perm = torch.randperm(n, generator=gen)
            batches = train_batches(data, perm, t.batch_size)
            loss_sum, correct = train_epoch(step, batches, on_step,
                                            classify=task == "classification")  # fmt: skip
            train_loss, train_seconds = loss_sum.item() / n, time.perf_counter() - t0
            if not math.isfinite(train_loss):
                hist.status, hist.reason = "diverged", f"non-finite train loss at epoch {epoch}"
                break
            val = measure_split(model, data, "val", t.metrics, t.eval_batch_size)
            lr = step.end_epoch(val["loss"])
            train_acc = correct.item() / n if task == "classification" else None
            metrics = epoch_row(epoch, step.count, (train_loss, train_acc),
                                (val["loss"], val.get("acc")), lr, time.perf_counter() - t0,
                                train_seconds, val)  # fmt: skip
            hist.epochs.append(metrics)
            best.update(metrics[key], model, keep=bool(t.early_stopping))
            if resume_path is not None and t.checkpoint == "every_epoch":
                _save_atomic(_resume_state(model, step, gen, hist, best), resume_path)
            for cb in callbacks:
                cb.on_epoch(epoch, model, metrics)
            if t.early_stopping and best.bad_epochs >= t.early_stopping:
                hist.reason = f"early stop: no {key} gain for {best.bad_epochs} epochs"
                break
    except StopTraining as stop:
        hist.status, hist.reason = stop.status, stop.reason
    if best.state is not None and hist.status == "finished":
        model.load_state_dict(best.state)  # early stopping keeps the best-validation weights
    hist.summary = summarize(model, data, cfg, hist)
    if checkpoint_dir is not None and t.checkpoint != "none" and hist.status == "finished":
        _save_atomic(model.state_dict(), checkpoint_dir / MODEL_FILE)
    for cb in callbacks:
        cb.on_end(model, hist)
    return hist


def lone_loss(cfg: RunConfig, task: Task = "classification") -> LossFn:
    """Mean cross-entropy of one model's batch (with the config's label smoothing; the targets
    are class ids (B,) or, under mixup/cutmix, probabilities (B, classes)); for a regression, the
    mean squared error of its outputs on the standardised targets."""
    smoothing = cfg.regularize.label_smoothing
    if task == "regression":

        def mse(out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            mean = F.mse_loss(out.reshape(y.shape), y)  # (B, 1) outputs for (B,) targets
            return mean, mean

        return mse

    def loss(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = F.cross_entropy(logits, y, label_smoothing=smoothing)
        return mean, mean

    return loss


def best_epoch(epochs: Sequence[dict[str, float]]) -> dict[str, float]:
    """The first epoch of the best selection metric (highest val_acc; regression: lowest val_rmse)."""
    key, higher = selection_of(epochs[0])
    return max(epochs, key=lambda e: e[key]) if higher else min(epochs, key=lambda e: e[key])


def tested_epoch(cfg: RunConfig, hist: History) -> dict[str, float]:
    """The epoch whose weights the run ends with and is tested on: the last one, or, when early
    stopping restored the best-validation weights (a finished run), the first of the best
    validation value (`best_epoch`)."""
    if cfg.train.early_stopping and hist.status == "finished":
        return best_epoch(hist.epochs)
    return hist.epochs[-1]


def summarize(model: nn.Module, data: TrainData, cfg: RunConfig, hist: History) -> dict[str, Any]:
    """Final numbers of a run: test loss/acc and ECE, clean train accuracy, the tested epoch's
    train/val metrics, the best val, totals. `train_seconds` sums the epochs' training parts,
    `epoch_seconds` their whole wall time (training + validation)."""
    out: dict[str, Any] = {
        "epochs": len(hist.epochs),
        "steps": int(hist.epochs[-1]["step"]) if hist.epochs else 0,
        "train_seconds": sum(e["train_seconds"] for e in hist.epochs),
        "epoch_seconds": sum(e["seconds"] for e in hist.epochs),
        "params": sum(p.numel() for p in model.parameters()),
        **feed_record(data),
    }
    imputed, dropped = getattr(data, "imputed", 0), getattr(data, "dropped", 0)  # Dataset only
    if imputed or dropped:  # what data.options.missing did to this run's data
        out.update(imputed_values=imputed, dropped_rows=dropped)
    spec, names = data.spec, cfg.train.metrics
    if hist.epochs:
        tested, best = tested_epoch(cfg, hist), best_epoch(hist.epochs)
        key = selection_of(tested)[0]
        val_keys = [f"val_{k}" for k in ("loss", "acc", "rmse", "mae", "r2")] + [
            f"val_{metric_name(n)}" for n in names
        ]
        out.update(train_loss=tested["train_loss"])
        out.update({k: tested[k] for k in val_keys if k in tested})
        out.update({"tested_epoch": int(tested["epoch"]), f"best_{key}": best[key],
                    "best_epoch": int(best["epoch"])})  # fmt: skip
    if hist.status != "finished":
        return out
    bs = cfg.train.eval_batch_size
    if spec.task == "regression":
        tested_m = measure_split(model, data, "test", names, bs)
        train_m = measure_split(model, data, "train", (), bs)
        out.update({f"test_{k}": v for k, v in tested_m.items()})
        out.update(train_eval_loss=train_m["loss"], train_eval_rmse=train_m["rmse"],
                   gen_gap=tested_m["rmse"] - train_m["rmse"], weight_norm=weight_norm(model))  # fmt: skip
        return out
    test = evaluate_split(model, data, "test", bs, keep_probs=True)
    assert test.probs is not None
    train = evaluate_split(model, data, "train", bs)  # eval mode: no dropout
    out.update(
        test_loss=test.loss,
        test_acc=test.acc,
        ece=expected_calibration_error(test.probs, test.labels),
        train_eval_loss=train.loss,
        train_eval_acc=train.acc,
        gen_gap=train.acc - test.acc,
        weight_norm=weight_norm(model),
    )
    if names and test.logits is not None:
        out.update(
            {f"test_{k}": v for k, v in scores(names, test.logits, test.labels, spec).items()}
        )
    return out


def _resume_state(
    model: nn.Module, step: Step, gen: torch.Generator, hist: History, best: Best
) -> dict[str, Any]:
    """Everything a resumed run needs to continue exactly where this epoch ended."""
    cuda = next(model.parameters()).device.type == "cuda"
    return {
        "model": model.state_dict(),
        "optim": step.opt.state_dict(),
        "sched": step.sched.state_dict(),
        "gen": gen.get_state(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if cuda else [],  # dropout masks on the GPU
        "scaler": step.scaler.state_dict() if step.scaled else {},
        "augment": step.augment.state() if step.augment is not None else [],
        "epochs": hist.epochs,
        "best_acc": best.acc,
        "bad_epochs": best.bad_epochs,
        "best_state": best.state,
        "step": step.count,
    }


def _resume(
    path: Path, model: nn.Module, step: Step, gen: torch.Generator, hist: History, best: Best
) -> None:
    """Load `_resume_state`'s file back into the model, the step, the generators and the history."""
    state = torch.load(path, map_location=next(model.parameters()).device, weights_only=True)
    model.load_state_dict(state["model"])
    step.opt.load_state_dict(state["optim"])
    step.sched.load_state_dict(state["sched"])
    gen.set_state(state["gen"])
    torch.set_rng_state(state["rng"])
    if state.get("cuda_rng") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    if state.get("scaler"):
        step.scaler.load_state_dict(state["scaler"])
    if state.get("augment") and step.augment is not None:
        step.augment.set_state(state["augment"])
    hist.epochs, step.count = state["epochs"], state["step"]
    best.acc, best.bad_epochs, best.state = (
        state["best_acc"],
        state["bad_epochs"],
        state["best_state"],
    )


def _save_atomic(obj: Any, path: Path) -> None:
    """Write via a temp file and rename, so a kill mid-write never leaves a broken checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)
