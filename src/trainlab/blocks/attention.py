"""Multi-head self-attention that uses the fused kernel unless someone asks for the weights."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def additive_mask(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """Boolean masks (True = may attend) -> 0 / -inf; float masks are already additive."""
    if mask is None or mask.dtype != torch.bool:
        return mask
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, -math.inf)


class MultiHeadSelfAttention(nn.Module):
    """Scaled dot-product self-attention over `heads` heads of size dim // heads.

    Shapes: x (B, T, D) -> (B, T, D); weights (B, H, T, T), each row a distribution over keys.
    `mask` broadcasts to (B, H, T, T): bool (True = may attend) or float, added to the scores.
    Set `keep_weights = True` to store a detached copy of the weights in `last_weights` on every
    forward (probes do this); otherwise, and without `return_weights`, the fused kernel runs.
    Returned/stored weights are before attention dropout.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.dim, self.heads, self.head_dim = dim, heads, dim // heads
        self.dropout = dropout  # on the attention weights, training mode only
        self.qkv = nn.Linear(dim, 3 * dim)  # packed q, k, v projections
        self.proj = nn.Linear(dim, dim)
        self.keep_weights = False
        self.last_weights: torch.Tensor | None = None

    def qkv_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (B, T, D) -> q, k, v, each (B, H, T, D/H)."""
        b, t, _ = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.heads, self.head_dim)  # (B, T, 3, H, Dh)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, T, Dh)
        return q, k, v

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, return_weights: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        b, t, d = x.shape
        q, k, v = self.qkv_heads(x)
        mask = additive_mask(mask, q.dtype)
        p = self.dropout if self.training else 0.0
        if not (return_weights or self.keep_weights):
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            return self.proj(out.transpose(1, 2).reshape(b, t, d))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, H, T, T)
        if mask is not None:
            scores = scores + mask
        weights = scores.softmax(dim=-1)
        if self.keep_weights:
            self.last_weights = weights.detach()
        out = F.dropout(weights, p, self.training) @ v  # (B, H, T, Dh)
        out = self.proj(out.transpose(1, 2).reshape(b, t, d))
        return (out, weights) if return_weights else out
