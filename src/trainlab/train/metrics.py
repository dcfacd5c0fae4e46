"""Evaluation metrics: accuracy, loss, expected calibration error and reliability-diagram bins;
the metrics a config asks for beyond accuracy (`train.metrics`, by torchmetrics); regression's
rmse, mae and r2; and which metric a run of each task is chosen on, in which direction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from trainlab.data.spec import DataSpec
from trainlab.provenance import load_object
from trainlab.train.selection import SELECTION, higher_is_better, metric_name, selection

__all__ = ["SELECTION", "higher_is_better", "measure", "metric_name", "scores", "selection"]


@dataclass
class Evaluation:
    loss: float
    acc: float
    probs: torch.Tensor | None  # (N, classes) softmax probabilities on CPU, if asked for
    labels: torch.Tensor  # (N,) int64, on CPU
    correct: torch.Tensor | None = None  # (N,) bool per example on CPU, with probs
    losses: torch.Tensor | None = None  # (N,) float32 cross-entropy per example on CPU, with probs
    logits: torch.Tensor | None = None  # (N, classes) on CPU, with probs


def _classification_metric(name: str) -> Callable[[torch.Tensor, torch.Tensor, int], float]:
    from torchmetrics.functional import classification as tm

    def f1(avg: Literal["macro", "weighted"]) -> Callable[[torch.Tensor, torch.Tensor, int], float]:
        return lambda lg, y, c: float(tm.multiclass_f1_score(lg, y, num_classes=c, average=avg))

    builtin: dict[str, Callable[[torch.Tensor, torch.Tensor, int], float]] = {
        "f1_macro": f1("macro"),
        "f1_weighted": f1("weighted"),
        "precision_macro": lambda lg, y, c: float(
            tm.multiclass_precision(lg, y, num_classes=c, average="macro")
        ),
        "recall_macro": lambda lg, y, c: float(
            tm.multiclass_recall(lg, y, num_classes=c, average="macro")
        ),
        # one-vs-rest, macro over classes, on softmax probabilities (sklearn's multi_class="ovr")
        "auroc": lambda lg, y, c: float(
            tm.multiclass_auroc(lg.softmax(1), y, num_classes=c, average="macro")
        ),
        "mcc": lambda lg, y, c: float(tm.multiclass_matthews_corrcoef(lg, y, num_classes=c)),
    }
    if name in builtin:
        return builtin[name]
    fn = load_object(name, "train.metrics")
    if not callable(fn):
        raise TypeError(f"train.metrics: {name!r} is not a function (outputs, labels) -> float")
    return lambda lg, y, c: float(fn(lg, y))


def scores(
    names: Sequence[str], outputs: torch.Tensor, y: torch.Tensor, spec: DataSpec
) -> dict[str, float]:
    """The `train.metrics` of one set, by key: on (N, classes) logits and (N,) labels, or for
    regression a user's function on predictions and targets in the targets' own units."""
    out, y = outputs.detach().float().cpu(), y.detach().cpu()  # torchmetrics' bincount on CPU
    if spec.task == "regression":
        mean, std = _target_scale(spec, out)
        pred = out.reshape(y.shape) * std + mean
        target = y * std + mean
        return {metric_name(n): float(load_object(n, "train.metrics")(pred, target)) for n in names}
    return {metric_name(n): _classification_metric(n)(out, y, spec.num_classes) for n in names}


def regression_scores(outputs: torch.Tensor, y: torch.Tensor, spec: DataSpec) -> dict[str, float]:
    """loss: mean squared error on the standardised targets (what training minimises); rmse and
    mae in the targets' own units (over every output); r2: 1 - SSE/SST, averaged over outputs."""
    from torchmetrics.functional import r2_score

    pred = outputs.detach().float().cpu().reshape(y.shape)
    target = y.detach().float().cpu()
    _, std = _target_scale(spec, pred)
    err = (pred - target) * std
    r2 = float(r2_score(pred, target)) if len(target) > 1 else float("nan")
    return {
        "loss": float(F.mse_loss(pred, target)),
        "rmse": float(err.pow(2).mean().sqrt()),
        "mae": float(err.abs().mean()),
        "r2": r2,
    }


def _target_scale(spec: DataSpec, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(spec.target_mean or (0.0,), dtype=like.dtype)
    std = torch.tensor(spec.target_std or (1.0,), dtype=like.dtype)
    return (mean.squeeze(0), std.squeeze(0)) if len(mean) == 1 else (mean, std)


@torch.inference_mode()
def outputs_of(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """The model's outputs on x in eval mode, batch by batch; restores the mode after."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    return out


def measure(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    spec: DataSpec,
    names: Sequence[str] = (),
    batch_size: int = 1024,
) -> dict[str, float]:
    """Every metric of one set by key (no prefix): loss and acc of a classifier (exactly as
    `evaluate`), or a regression's loss, rmse, mae and r2; then the config's `names`."""
    out = outputs_of(model, x, batch_size)
    if spec.task == "regression":
        found = regression_scores(out, y, spec)
    else:
        loss, acc, _ = _loss_acc(out, y)
        found = {"loss": loss, "acc": acc}
    return {**found, **scores(names, out, y, spec)} if names else found


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1024,
    keep_probs: bool = False,
) -> Evaluation:
    """Mean cross-entropy and accuracy of `model` on (x, y) in eval mode; restores the mode after."""
    logits = outputs_of(model, x, batch_size)
    loss, acc, hits = _loss_acc(logits, y)
    if not keep_probs:
        return Evaluation(loss, acc, None, y.cpu())
    losses = F.cross_entropy(logits.float(), y, reduction="none").cpu()
    probs = logits.float().softmax(1).cpu()
    return Evaluation(loss, acc, probs, y.cpu(), hits.cpu(), losses, logits.cpu())


def _loss_acc(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float, torch.Tensor]:
    """A classifier's mean cross-entropy, accuracy and per-example hits on one set's logits."""
    hits = logits.argmax(1) == y
    return F.cross_entropy(logits.float(), y).item(), hits.float().mean().item(), hits


def reliability_bins(
    probs: torch.Tensor, labels: torch.Tensor, bins: int = 15
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per equal-width confidence bin: mean confidence, accuracy and count (each shape (bins,))."""
    conf, pred = probs.max(1)
    correct = (pred == labels).float()
    idx = torch.clamp((conf * bins).long(), max=bins - 1)  # conf=1.0 goes in the last bin
    count = torch.bincount(idx, minlength=bins).float()
    conf_sum = torch.bincount(idx, weights=conf, minlength=bins)
    acc_sum = torch.bincount(idx, weights=correct, minlength=bins)
    safe = count.clamp(min=1)
    return conf_sum / safe, acc_sum / safe, count


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = 15) -> float:
    """ECE (Guo et al. 2017): sum over bins of (bin share) * |accuracy - confidence|."""
    conf, acc, count = reliability_bins(probs, labels, bins)
    return float(((count / count.sum()) * (acc - conf).abs()).sum())
