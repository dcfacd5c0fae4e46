"""One training step and one epoch of them, shared by `fit` (one model) and `stacked.Stack` (the
seeds of one config as one model): precision, compile, layout, penalties, clipping, schedules,
the running train metrics and the epoch's row, so a feature added here reaches both.

A lone model's batch is (B, ...) with labels (B,) and a scalar loss; a stack's is (k, B, ...)
with labels (k, B) and a loss per member (k,). The batch axis is the labels' last one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from trainlab.config import RunConfig
from trainlab.train.augment import Augment
from trainlab.train.callbacks import Callback
from trainlab.train.optim import build_optimizer, build_schedule
from trainlab.train.precision import mixed_precision
from trainlab.train.regularize import penalizes, penalty_term

# (logits, labels) -> (the loss to report: scalar or per member, the loss to backpropagate)
LossFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
ClipFn = Callable[[Sequence[torch.Tensor], float], object]


class Step:
    """What one optimizer step does, decided once from the config, so the hot loop does no work
    that does nothing: no autocast or grad scaler in fp32, no penalty or per-batch scheduler call
    that is a no-op. `count` is the number of optimizer steps taken."""

    def __init__(
        self,
        model: nn.Module,
        cfg: RunConfig,
        steps_per_epoch: int,
        loss: LossFn,
        penalized: list[nn.Parameter],
        clip: ClipFn = nn.utils.clip_grad_norm_,
        layout: torch.memory_format | None = None,
        augment: Augment | None = None,
    ) -> None:
        t, device = cfg.train, next(model.parameters()).device
        self.model, self.loss, self.layout, self.count = model, loss, layout, 0
        self.augment = augment  # training batches only; mixup/cutmix give the loss soft targets
        self.forward = torch.compile(model) if t.compile else model  # shares `model`'s parameters
        self.params = list(model.parameters())
        self.autocast, self.scaler = mixed_precision(t.precision, device)
        self.opt = build_optimizer(self.params, cfg.optim)
        self.sched = build_schedule(self.opt, cfg.schedule, t.epochs, steps_per_epoch)
        self.reg, self.penalized = cfg.regularize, penalized
        self.amp, self.scaled = t.precision != "fp32", self.scaler.is_enabled()
        self.penalizes = penalizes(penalized, cfg.regularize)
        self.per_batch = self.sched.per_batch and self.sched.scheduler is not None
        self.clip, self.max_norm = clip, cfg.regularize.grad_clip

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on a batch; its reported loss and its logits (not detached)."""
        target = yb
        if self.augment is not None:
            xb, target = self.augment(xb, yb)
        if self.layout is not None:
            xb = xb.contiguous(memory_format=self.layout)
        if self.amp:
            with self.autocast():
                logits = self.forward(xb)
                loss, total = self.loss(logits.float(), target)
        else:
            logits = self.forward(xb)
            loss, total = self.loss(logits, target)
        if self.penalizes:
            total = total + penalty_term(self.penalized, self.reg)
        self.opt.zero_grad(set_to_none=True)
        if self.scaled:
            self.scaler.scale(total).backward()
            if self.max_norm is not None:
                self.scaler.unscale_(self.opt)  # clip the true gradients, not the scaled ones
                self.clip(self.params, self.max_norm)
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            total.backward()
            if self.max_norm is not None:
                self.clip(self.params, self.max_norm)
            self.opt.step()
        if self.per_batch:
            self.sched.step_batch()
        self.count += 1
        return loss, logits

    def end_epoch(self, val_loss: float) -> float:
        """The learning rate the epoch trained with; then the per-epoch schedule steps."""
        lr = float(self.opt.param_groups[0]["lr"])
        self.sched.step_epoch(val_loss)
        return lr


def train_epoch(
    step: Step,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    callbacks: Sequence[Callback] = (),
    classify: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step through one epoch of shuffled batches (train/feed.py); the summed loss (mean loss x
    batch size) and the count of correct predictions (`classify`; a regression counts none), per
    member for a stack, as device tensors (no host sync: only a grad scaler, fp16's, reads a flag
    back at each of its steps). Regression targets may be (B, d): the batch axis is then not the
    last. The count is on the batch as the model saw it (augmented), against each example's own
    label: under mixup or cutmix that label carries weight λ of the target, the partner's the
    rest."""
    loss_sum: torch.Tensor | float = 0.0
    correct: torch.Tensor | int = 0
    for xb, yb in batches:
        axis = yb.ndim - 1 if classify else 0
        loss, logits = step(xb, yb)
        loss_sum = loss_sum + loss.detach() * yb.shape[axis]
        if classify:
            correct = correct + (logits.detach().argmax(-1) == yb).sum(axis)
        for cb in callbacks:
            cb.on_step(step.count, step.model, loss)
    assert isinstance(loss_sum, torch.Tensor), "an epoch without batches"
    if not isinstance(correct, torch.Tensor):  # a regression: none counted
        correct = torch.zeros_like(loss_sum, dtype=torch.long)
    return loss_sum, correct


def epoch_row(
    epoch: int,
    step: int,
    train: tuple[float, float | None],
    val: tuple[float, float | None],
    lr: float,
    seconds: float,
    train_seconds: float,
    more: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """One epoch's metrics as stored: train and val (loss, acc; a regression has no acc), the
    other validation metrics in `more` (keys without `val_`: rmse, f1_macro, ...), the lr it
    trained with, its wall seconds (training + validation) and `train_seconds` (the training
    part alone)."""
    row: dict[str, float | None] = {
        "epoch": epoch,
        "step": step,
        "train_loss": train[0],
        "train_acc": train[1],
        "val_loss": val[0],
        "val_acc": val[1],
    }
    row.update({f"val_{k}": v for k, v in (more or {}).items() if k not in ("loss", "acc")})
    row.update(lr=lr, seconds=seconds, train_seconds=train_seconds)
    return {k: v for k, v in row.items() if v is not None}
