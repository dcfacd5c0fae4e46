"""Patch embedding for vision transformers: non-overlapping patches -> tokens via a strided conv."""

from __future__ import annotations

import torch
from torch import nn


class PatchEmbed(nn.Module):
    """Cut an image into patch × patch squares and project each to `dim`.

    Shapes: x (B, in_ch, H, W) -> (B, N, dim), N = (H / patch) * (W / patch), row-major over `grid`.
    """

    def __init__(self, in_ch: int, patch: int, dim: int, image_size: int | tuple[int, int]) -> None:
        super().__init__()
        h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
        if h % patch or w % patch:
            raise ValueError(f"patch={patch} must divide the image size {h}×{w}")
        self.patch = patch
        self.grid: tuple[int, int] = (h // patch, w // patch)
        self.proj = nn.Conv2d(in_ch, dim, kernel_size=patch, stride=patch)

    @property
    def num_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, D, gh, gw) -> (B, N, D)
