"""Dense: the fully connected layer of MLPs — linear, optional batch norm, activation, dropout."""

from __future__ import annotations

import torch
from torch import nn

from trainlab.blocks.activation import make_activation


class Dense(nn.Module):
    """Linear -> BatchNorm1d (if `norm`) -> activation -> dropout.

    Shapes: x (B, in_f) -> (B, out_f).
    """

    def __init__(
        self,
        in_f: int,
        out_f: int,
        norm: bool = False,
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        # A bias right before batch norm is cancelled by its mean subtraction.
        self.linear = nn.Linear(in_f, out_f, bias=not norm)
        self.norm: nn.Module = nn.BatchNorm1d(out_f) if norm else nn.Identity()
        self.act = make_activation(activation)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.act(self.norm(self.linear(x))))
