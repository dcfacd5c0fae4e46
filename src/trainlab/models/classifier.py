"""The shape every zoo model shares: `features` (input -> (B, F) embedding) then `head` (-> logits)."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


class Head(nn.Sequential):
    """Dropout -> Linear: (B, in_f) -> (B, num_classes). Dropout p=0 keeps names stable across configs."""

    def __init__(self, in_f: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__(OrderedDict(drop=nn.Dropout(dropout), fc=nn.Linear(in_f, num_classes)))


class Classifier(nn.Module):
    """logits = head(features(x)).

    `features` maps a batch of inputs (B, *input_shape) to one vector per sample (B, F), the
    embedding the feature plots use; its named children (`block1`, `stage1`, ...) are where
    probes attach. `head` maps (B, F) -> (B, num_classes).
    """

    def __init__(self, features: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(self.features(x))
        return out
