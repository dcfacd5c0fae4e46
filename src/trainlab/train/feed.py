"""Where an epoch's batches come from: views of one permuted gather of resident tensors, or the
prefetched host batches of streamed data (data/stream.py), in the same order; and evaluation of
a split either way. `fit`, `summarize` and the stacked seeds take their batches from here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from trainlab.data.spec import Dataset
from trainlab.data.stream import Batch, Streamed, resident_bytes
from trainlab.train.metrics import Evaluation, evaluate, measure

TrainData = Dataset | Streamed


def device_of(data: TrainData) -> torch.device:
    """The device the batches arrive on."""
    return data.device if isinstance(data, Streamed) else data.x_train.device


def views(xs: torch.Tensor, ys: torch.Tensor, batch_size: int, axis: int = 0) -> Iterator[Batch]:
    """Consecutive batches of (xs, ys) along the batch `axis` (a stack's: 1), as views."""
    n = ys.shape[axis]
    for i in range(0, n, batch_size):
        b = min(batch_size, n - i)
        yield xs.narrow(axis, i, b), ys.narrow(axis, i, b)


def train_batches(data: TrainData, perm: torch.Tensor, batch_size: int) -> Iterator[Batch]:
    """One epoch of training batches in the order `perm` (positions in the training split)."""
    if isinstance(data, Streamed):
        return data.batches("train", batch_size, perm)
    perm = perm.to(data.x_train.device)
    return views(data.x_train[perm], data.y_train[perm], batch_size)  # one gather per epoch


def evaluate_split(
    model: nn.Module, data: TrainData, split: str, batch_size: int, keep_probs: bool = False
) -> Evaluation:
    """`metrics.evaluate` on split `split` ("train", "val" or "test"), resident or streamed."""
    if isinstance(data, Dataset):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        return evaluate(model, x, y, batch_size, keep_probs)
    outputs, labels = streamed_outputs(model, data, split, batch_size)
    return evaluate(nn.Identity(), outputs, labels, max(1, len(labels)), keep_probs)


def measure_split(
    model: nn.Module, data: TrainData, split: str, names: Sequence[str], batch_size: int
) -> dict[str, float]:
    """`metrics.measure` (loss, acc or a regression's scores, and `names`) on split `split`."""
    if isinstance(data, Dataset):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        return measure(model, x, y, data.spec, names, batch_size)
    outputs, labels = streamed_outputs(model, data, split, batch_size)
    return measure(nn.Identity(), outputs, labels, data.spec, names, max(1, len(labels)))


def streamed_outputs(
    model: nn.Module, data: Streamed, split: str, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's outputs (eval mode) and the labels of a streamed split, batch by batch as
    the resident path's `outputs_of`: `evaluate` and `measure` score them through an identity
    model, so every metric is computed alike on both paths."""
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        parts = [(model(xb), yb) for xb, yb in data.batches(split, batch_size)]
    model.train(was_training)
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def feed_record(data: TrainData) -> dict[str, Any]:
    """How the run's data reached the device, for its summary: `data_path` (resident, memmap,
    host or dataset), `data_bytes` (what they take resident) and, streamed, `data_budget`."""
    if isinstance(data, Streamed):
        return {"data_path": data.path, "data_bytes": data.nbytes, "data_budget": data.budget}
    nbytes = resident_bytes(data.spec.input_shape, data.x_train.element_size(), data.sizes)
    return {"data_path": "resident", "data_bytes": nbytes}
