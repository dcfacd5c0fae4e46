"""Inception block (Szegedy et al. 2015): four parallel branches concatenated on channels."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from trainlab.blocks.conv import ConvBlock, max_pool


class Inception(nn.Module):
    """Parallel 1×1, 3×3, 5×5-equivalent and pool branches, concatenated in that order.

    branch1x1   : 1×1 conv -> c1
    branch3x3   : 1×1 reduce -> 3×3 conv -> c3
    branch5x5   : 1×1 reduce -> 3×3 -> 3×3 (the receptive field of a 5×5, fewer weights) -> c5
    branch_pool : 3×3 max-pool, stride 1 -> 1×1 projection -> cpool
    Every conv is a ConvBlock (conv -> batch norm -> ReLU). Reductions default to half the branch
    width. Shapes: (B, in_ch, *S) -> (B, c1 + c3 + c5 + cpool, *S), S = (L,) or (H, W).
    """

    def __init__(
        self,
        in_ch: int,
        c1: int,
        c3: int,
        c5: int,
        cpool: int,
        dims: int = 2,
        c3_reduce: int | None = None,
        c5_reduce: int | None = None,
    ) -> None:
        super().__init__()
        r3 = c3_reduce if c3_reduce is not None else max(1, c3 // 2)
        r5 = c5_reduce if c5_reduce is not None else max(1, c5 // 2)
        self.branch_channels: tuple[int, int, int, int] = (c1, c3, c5, cpool)
        self.branch1x1 = ConvBlock(in_ch, c1, 1, dims=dims)
        self.branch3x3 = nn.Sequential(
            OrderedDict(
                reduce=ConvBlock(in_ch, r3, 1, dims=dims), conv=ConvBlock(r3, c3, 3, dims=dims)
            )
        )
        self.branch5x5 = nn.Sequential(
            OrderedDict(
                reduce=ConvBlock(in_ch, r5, 1, dims=dims),
                conv1=ConvBlock(r5, c5, 3, dims=dims),
                conv2=ConvBlock(c5, c5, 3, dims=dims),
            )
        )
        self.branch_pool = nn.Sequential(
            OrderedDict(
                pool=max_pool(dims, 3, stride=1, padding=1),
                proj=ConvBlock(in_ch, cpool, 1, dims=dims),
            )
        )

    @property
    def out_channels(self) -> int:
        return sum(self.branch_channels)

    @property
    def branch_names(self) -> tuple[str, str, str, str]:
        return ("branch1x1", "branch3x3", "branch5x5", "branch_pool")

    @property
    def branch_slices(self) -> dict[str, slice]:
        """Branch name -> its channel slice of the output, in concatenation order."""
        slices: dict[str, slice] = {}
        start = 0
        for name, width in zip(self.branch_names, self.branch_channels, strict=True):
            slices[name] = slice(start, start + width)
            start += width
        return slices

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [getattr(self, name)(x) for name in self.branch_names]
        return torch.cat(outs, dim=1)
