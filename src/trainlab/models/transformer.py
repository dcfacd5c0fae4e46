"""Transformer encoders: `transformer` over token ids and `vit` over image patches."""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

from trainlab.blocks import PatchEmbed, TransformerBlock
from trainlab.data.spec import DataSpec
from trainlab.errors import DataError
from trainlab.models.classifier import Classifier, Head
from trainlab.models.registry import (
    check_choice,
    check_float,
    check_int,
    option_error,
    register_model,
)

POOLS = ("cls", "mean")
MAX_PATCHES = 64  # the automatic ViT patch size keeps sequences this short (attention is T²)


class TransformerEncoder(nn.Module):
    """embed -> [CLS] + tokens -> + learned positions -> block1..N -> LayerNorm -> pool.

    Shapes: x -> embed (B, N, D) -> blocks (B, P + N, D), P = `prefix_tokens` (1 with a CLS
    token at position 0, else 0) -> output (B, D): the CLS state, or the mean over positions.
    Attention maps of block k (`blocks.block{k}.attn`) are (B, H, P + N, P + N).
    """

    def __init__(
        self,
        embed: nn.Module,
        num_tokens: int,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float,
        dropout: float,
        pool: str,
    ) -> None:
        super().__init__()
        self.pool = pool
        self.prefix_tokens = 1 if pool == "cls" else 0
        self.embed = embed
        self.cls_token: nn.Parameter | None = (
            nn.Parameter(torch.zeros(1, 1, dim)) if pool == "cls" else None
        )
        # ViT's init: small random positions so that tokens start distinguishable by place.
        self.pos = nn.Parameter(torch.randn(1, self.prefix_tokens + num_tokens, dim) * 0.02)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(
            OrderedDict(
                (f"block{k}", TransformerBlock(dim, heads, mlp_ratio, dropout))
                for k in range(1, depth + 1)
            )
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.embed(x)  # (B, N, D)
        if self.cls_token is not None:
            t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1)  # (B, 1 + N, D)
        t = self.norm(self.blocks(self.drop(t + self.pos)))
        return t[:, 0] if self.cls_token is not None else t.mean(dim=1)


def _check_common(dim: int, depth: int, heads: int, mlp_ratio: float, pool: str) -> None:
    check_int("dim", dim)
    check_int("depth", depth)
    check_int("heads", heads)
    check_float("mlp_ratio", mlp_ratio, 0.0, 16.0)
    check_choice("pool", pool, POOLS)
    if dim % heads:
        divisors = ", ".join(str(h) for h in range(1, dim + 1) if dim % h == 0)
        raise option_error("heads", heads, f"must divide dim={dim}; choose one of {divisors}")


@register_model("transformer", ("tokens",), "token embedding + learned positions + encoder blocks")
def transformer(
    spec: DataSpec,
    *,
    dropout: float = 0.0,
    dim: int = 64,  # embedding width D
    depth: int = 2,  # TransformerBlocks
    heads: int = 4,  # attention heads, each D / heads wide
    mlp_ratio: float = 2.0,  # MLP hidden width = D * mlp_ratio
    pool: str = "cls",  # cls: a learned CLS token at position 0; mean: average over tokens
) -> nn.Module:
    """features = TransformerEncoder over nn.Embedding(vocab, dim); head = dropout -> linear."""
    _check_common(dim, depth, heads, mlp_ratio, pool)
    if not spec.vocab_size:
        raise DataError(f"dataset {spec.name!r}: tokens data must declare vocab_size")
    embed = nn.Embedding(spec.vocab_size, dim)
    encoder = TransformerEncoder(
        embed, spec.input_shape[0], dim, depth, heads, mlp_ratio, dropout, pool
    )
    return Classifier(encoder, Head(dim, spec.num_classes, dropout))


def default_patch(height: int, width: int) -> int:
    """The smallest patch ≥ 2 dividing both sides that gives 4..MAX_PATCHES patches, else 1.

    8×8 -> 2 (16 patches), 28×28 -> 4 (49), 32×32 -> 4 (64).
    """
    for p in range(2, math.gcd(height, width) + 1):
        n = (height // p) * (width // p)
        if height % p == 0 and width % p == 0 and 4 <= n <= MAX_PATCHES:
            return p
    return 1


@register_model("vit", ("image",), "vision transformer: patch embedding + CLS + encoder blocks")
def vit(
    spec: DataSpec,
    *,
    dropout: float = 0.0,
    patch: int | None = None,  # patch side in pixels; must divide H and W (default: automatic)
    dim: int = 64,
    depth: int = 4,
    heads: int = 4,
    mlp_ratio: float = 2.0,
    pool: str = "cls",
) -> nn.Module:
    """features = TransformerEncoder over PatchEmbed; head = dropout -> linear."""
    _check_common(dim, depth, heads, mlp_ratio, pool)
    channels, height, width = spec.input_shape
    patch = check_int("patch", patch if patch is not None else default_patch(height, width))
    if height % patch or width % patch:
        fits = [
            p for p in range(1, math.gcd(height, width) + 1) if math.gcd(height, width) % p == 0
        ]
        raise option_error(
            "patch",
            patch,
            f"must divide the image size {height}×{width}; choose one of {', '.join(map(str, fits))}",
        )
    embed = PatchEmbed(channels, patch, dim, (height, width))
    encoder = TransformerEncoder(
        embed, embed.num_patches, dim, depth, heads, mlp_ratio, dropout, pool
    )
    return Classifier(encoder, Head(dim, spec.num_classes, dropout))


@register_model("vit_tiny", ("image",), "ViT-Tiny for 32×32: patch 4, dim 192, 12 blocks, 3 heads")
def vit_tiny(
    spec: DataSpec,
    *,
    dropout: float = 0.0,
    patch: int | None = None,  # 4 where it divides the image (32×32: 64 patches), else automatic
    dim: int = 192,
    depth: int = 12,
    heads: int = 3,
    mlp_ratio: float = 4.0,  # MLP width 768
    pool: str = "cls",
) -> nn.Module:
    """ViT-Ti (Touvron et al. 2021, DeiT) at CIFAR size: the `vit` with its published widths
    (5.36M parameters for 10 classes on 3×32×32). Smaller ones are options, e.g.
    `model.options.depth=6` halves the cost."""
    if patch is None:
        _, height, width = spec.input_shape
        patch = 4 if height % 4 == 0 and width % 4 == 0 else default_patch(height, width)
    return vit(spec, dropout=dropout, patch=patch, dim=dim, depth=depth, heads=heads,
               mlp_ratio=mlp_ratio, pool=pool)  # fmt: skip
