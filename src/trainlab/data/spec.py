"""Dataset and DataSpec: train/val/test tensors on one device, plus what a model builder needs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import torch

Kind = Literal["image", "signal", "tokens", "vector"]
Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class DataSpec:
    """What a model builder needs to know about inputs and labels.

    kind / input_shape (one sample, no batch dim):
      image  -> (C, H, W) float      signal -> (C, L) float
      tokens -> (T,) int64 ids       vector -> (D,) float

    task: classification (labels (N,) int64 class ids; the model gives num_classes logits) or
    regression (targets (N,) float32, or (N, d) for d > 1; the model gives num_classes = d
    outputs, class_names names the targets). A split's regression targets are standardised
    with its training part's mean and std, kept in target_mean / target_std (one per output) so
    rmse and mae are reported in the targets' own units.
    """

    name: str
    kind: Kind
    input_shape: tuple[int, ...]
    num_classes: int
    class_names: tuple[str, ...]
    vocab_size: int | None = None  # tokens only
    token_names: tuple[str, ...] | None = None  # tokens only: label of each id, for attention plots
    # Sequence tasks with a known answer: the positions whose tokens decide the label.
    decisive_positions: tuple[int, ...] | None = None
    description: str = ""
    task: Task = "classification"
    target_mean: tuple[float, ...] | None = None  # regression, per output (set by the split)
    target_std: tuple[float, ...] | None = None


@dataclass
class Dataset:
    """Six tensors on one device. x_*: (N, *spec.input_shape); y_*: (N,) int64 class ids, or
    for regression standardised float32 targets (N,) or (N, d)."""

    spec: DataSpec
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # e.g. per-sample decisive masks
    imputed: int = 0  # missing feature values filled from the train split (data.options.missing)
    dropped: int = 0  # rows left out for missing values (data.options.missing=drop)

    def to(self, device: str | torch.device) -> Dataset:
        move = {
            k: getattr(self, k).to(device)
            for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test")
        }
        return replace(self, **move, extras={k: v.to(device) for k, v in self.extras.items()})

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}
