"""Pre-norm transformer encoder block: x + attn(norm(x)), then x + mlp(norm(x))."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from trainlab.blocks.attention import MultiHeadSelfAttention


class TransformerBlock(nn.Module):
    """Pre-norm encoder block with a GELU MLP of width dim * mlp_ratio.

    Shapes: x (B, T, D) -> (B, T, D). `dropout` applies to the attention weights, inside the MLP
    and on both residual branches. Attention weights: set `block.attn.keep_weights = True`.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            OrderedDict(
                fc1=nn.Linear(dim, hidden),
                act=nn.GELU(),
                drop=nn.Dropout(dropout),
                fc2=nn.Linear(hidden, dim),
            )
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        a = self.attn(self.norm1(x), mask)
        assert isinstance(a, torch.Tensor)  # return_weights is False here
        x = x + self.drop(a)
        return x + self.drop(self.mlp(self.norm2(x)))
