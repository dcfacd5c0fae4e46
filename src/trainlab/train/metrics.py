"""Evaluation metrics: accuracy, loss, expected calibration error and reliability-diagram bins."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class Evaluation:
    loss: float
    acc: float
    probs: torch.Tensor | None  # (N, classes) softmax probabilities on CPU, if asked for
    labels: torch.Tensor  # (N,) int64, on CPU
    correct: torch.Tensor | None = None  # (N,) bool per example on CPU, with probs
    losses: torch.Tensor | None = None  # (N,) float32 cross-entropy per example on CPU, with probs


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1024,
    keep_probs: bool = False,
) -> Evaluation:
    """Mean cross-entropy and accuracy of `model` on (x, y) in eval mode; restores the mode after."""
    was_training = model.training
    model.eval()
    logits = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    model.train(was_training)
    hits = logits.argmax(1) == y
    acc = hits.float().mean().item()
    loss = F.cross_entropy(logits.float(), y).item()
    if not keep_probs:
        return Evaluation(loss, acc, None, y.cpu())
    losses = F.cross_entropy(logits.float(), y, reduction="none").cpu()
    probs = logits.float().softmax(1).cpu()
    return Evaluation(loss, acc, probs, y.cpu(), hits.cpu(), losses)


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
