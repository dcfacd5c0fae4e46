"""`fit`: the one training loop. Seeded batches from device tensors, no per-step host sync.

Callbacks see `on_step` (after each optimizer step), `on_epoch` (metrics of a finished epoch) and
`on_end`; any of them may raise `StopTraining` to end the run with a status (e.g. `pruned`).
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from trainlab.config import RunConfig
from trainlab.data.spec import Dataset
from trainlab.train.callbacks import Callback, History, StopTraining
from trainlab.train.metrics import evaluate, expected_calibration_error
from trainlab.train.optim import build_optimizer, build_schedule
from trainlab.train.precision import channels_last, mixed_precision
from trainlab.train.regularize import penalized_params, penalizes, penalty_term, weight_norm
from trainlab.train.seed import seed_everything, set_deterministic

RESUME_FILE = "last.pt"  # full training state, written after every epoch when asked
MODEL_FILE = "model.pt"  # final weights (state_dict), loadable with weights_only=True
__all__ = ["MODEL_FILE", "RESUME_FILE", "Callback", "History", "StopTraining", "fit", "summarize"]


def fit(
    model: nn.Module,
    data: Dataset,
    cfg: RunConfig,
    callbacks: Sequence[Callback] = (),
    checkpoint_dir: Path | None = None,
) -> History:
    """Train `model` on `data` as `cfg` says; resume from `checkpoint_dir/last.pt` if it exists."""
    t = cfg.train
    set_deterministic(t.deterministic)
    gen = seed_everything(cfg.seed)
    device = data.x_train.device
    model.to(device)
    layout = channels_last(model, data, t.channels_last)
    forward = torch.compile(model) if t.compile else model  # shares the parameters of `model`
    autocast, scaler = mixed_precision(t.precision, device)
    opt = build_optimizer(model.parameters(), cfg.optim)
    n = len(data.y_train)
    steps_per_epoch = math.ceil(n / t.batch_size)
    sched = build_schedule(opt, cfg.schedule, t.epochs, steps_per_epoch)
    reg_params = penalized_params(model)
    # What a step does is decided once, so the hot loop does no work that does nothing: no
    # autocast or grad scaler in fp32, no penalty, scheduler or callback calls that are no-ops.
    amp, scaled = t.precision != "fp32", scaler.is_enabled()
    penalized = penalizes(reg_params, cfg.regularize)
    per_batch = sched.per_batch and sched.scheduler is not None
    step_callbacks = [cb for cb in callbacks if type(cb).on_step is not Callback.on_step]
    smoothing = cfg.regularize.label_smoothing
    clip = cfg.regularize.grad_clip
    hist = History()
    best_acc, best_state, bad_epochs, step, start = -1.0, None, 0, 0, 0
    resume_path = checkpoint_dir / RESUME_FILE if checkpoint_dir else None
    if checkpoint_dir is not None:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
    if resume_path is not None and resume_path.exists():
        state = torch.load(resume_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        sched.load_state_dict(state["sched"])
        gen.set_state(state["gen"])
        torch.set_rng_state(state["rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])  # dropout masks on the GPU
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        hist.epochs, best_acc, bad_epochs = state["epochs"], state["best_acc"], state["bad_epochs"]
        best_state, step, start = state["best_state"], state["step"], len(state["epochs"])

    try:
        for epoch in range(start + 1, t.epochs + 1):
            model.train()
            t0 = time.perf_counter()
            perm = torch.randperm(n, generator=gen).to(device)
            xs, ys = data.x_train[perm], data.y_train[perm]  # one gather per epoch, then views
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            for i in range(0, n, t.batch_size):
                xb, yb = xs[i : i + t.batch_size], ys[i : i + t.batch_size]
                if layout is not None:
                    xb = xb.contiguous(memory_format=layout)
                if amp:
                    with autocast():
                        logits = forward(xb)
                        loss = F.cross_entropy(logits.float(), yb, label_smoothing=smoothing)
                else:
                    logits = forward(xb)
                    loss = F.cross_entropy(logits, yb, label_smoothing=smoothing)
                total = loss + penalty_term(reg_params, cfg.regularize) if penalized else loss
                opt.zero_grad(set_to_none=True)
                if scaled:
                    scaler.scale(total).backward()
                    if clip is not None:
                        scaler.unscale_(opt)  # clip the true gradients, not the scaled ones
                        nn.utils.clip_grad_norm_(model.parameters(), clip)
                    scaler.step(opt)
                    scaler.update()
                else:
                    total.backward()
                    if clip is not None:
                        nn.utils.clip_grad_norm_(model.parameters(), clip)
                    opt.step()
                if per_batch:
                    sched.step_batch()
                step += 1
                loss_sum += loss.detach() * len(yb)
                correct += (logits.detach().argmax(1) == yb).sum()
                for cb in step_callbacks:
                    cb.on_step(step, model, loss)
            train_loss = loss_sum.item() / n
            train_seconds = time.perf_counter() - t0
            if not math.isfinite(train_loss):
                hist.status, hist.reason = "diverged", f"non-finite train loss at epoch {epoch}"
                break
            val = evaluate(model, data.x_val, data.y_val, t.eval_batch_size)
            lr = opt.param_groups[0]["lr"]
            sched.step_epoch(val.loss)
            metrics = {
                "epoch": epoch,
                "step": step,
                "train_loss": train_loss,
                "train_acc": correct.item() / n,
                "val_loss": val.loss,
                "val_acc": val.acc,
                "lr": lr,
                "seconds": time.perf_counter() - t0,
                "train_seconds": train_seconds,
            }
            hist.epochs.append(metrics)
            improved = val.acc > best_acc
            if improved:
                best_acc, bad_epochs = val.acc, 0
                if t.early_stopping:
                    best_state = copy.deepcopy(model.state_dict())
            else:
                bad_epochs += 1
            if resume_path is not None and t.checkpoint == "every_epoch":
                _save_atomic(
                    {
                        "model": model.state_dict(),
                        "optim": opt.state_dict(),
                        "sched": sched.state_dict(),
                        "gen": gen.get_state(),
                        "rng": torch.get_rng_state(),
                        "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
                        "scaler": scaler.state_dict() if scaler.is_enabled() else {},
                        "epochs": hist.epochs,
                        "best_acc": best_acc,
                        "bad_epochs": bad_epochs,
                        "best_state": best_state,
                        "step": step,
                    },
                    resume_path,
                )
            for cb in callbacks:
                cb.on_epoch(epoch, model, metrics)
            if t.early_stopping and bad_epochs >= t.early_stopping:
                hist.reason = f"early stop: no val_acc gain for {bad_epochs} epochs"
                break
    except StopTraining as stop:
        hist.status, hist.reason = stop.status, stop.reason

    if best_state is not None and hist.status == "finished":
        model.load_state_dict(best_state)  # early stopping keeps the best-validation weights
    hist.summary = summarize(model, data, cfg, hist)
    if checkpoint_dir is not None and t.checkpoint != "none" and hist.status == "finished":
        _save_atomic(model.state_dict(), checkpoint_dir / MODEL_FILE)
    for cb in callbacks:
        cb.on_end(model, hist)
    return hist


def summarize(model: nn.Module, data: Dataset, cfg: RunConfig, hist: History) -> dict[str, Any]:
    """Final numbers of a run: test loss/acc and ECE, clean train accuracy, best val, totals."""
    last = hist.epochs[-1] if hist.epochs else {}
    out: dict[str, Any] = {
        "epochs": len(hist.epochs),
        "steps": int(last.get("step", 0)),
        "train_seconds": sum(e["seconds"] for e in hist.epochs),
        "params": sum(p.numel() for p in model.parameters()),
    }
    if hist.epochs:
        best = max(hist.epochs, key=lambda e: e["val_acc"])
        out.update(
            train_loss=last["train_loss"],
            val_loss=last["val_loss"],
            val_acc=last["val_acc"],
            best_val_acc=best["val_acc"],
            best_epoch=int(best["epoch"]),
        )
    if hist.status != "finished":
        return out
    bs = cfg.train.eval_batch_size
    test = evaluate(model, data.x_test, data.y_test, bs, keep_probs=True)
    assert test.probs is not None
    train = evaluate(model, data.x_train, data.y_train, bs)  # eval mode: no dropout
    out.update(
        test_loss=test.loss,
        test_acc=test.acc,
        ece=expected_calibration_error(test.probs, test.labels),
        train_eval_loss=train.loss,
        train_eval_acc=train.acc,
        gen_gap=train.acc - test.acc,
        weight_norm=weight_norm(model),
    )
    return out


def _save_atomic(obj: Any, path: Path) -> None:
    """Write via a temp file and rename, so a kill mid-write never leaves a broken checkpoint."""
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)
