"""Pre-activation residual block (He et al. 2016, "Identity Mappings in Deep Residual Networks").

With `skip=False` the same layers form a plain block, the twin used in residual-flow comparisons.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from trainlab.blocks.activation import make_activation
from trainlab.blocks.conv import conv_layer, norm_layer


class ResidualBlock(nn.Module):
    """out = shortcut(x) + branch(x), or branch(x) alone when `skip=False`.

    branch   = norm -> act -> conv3 (stride) -> norm -> act -> conv3
    shortcut = identity, or a bias-free 1×1 conv with `stride` when channels or size change.
    Shapes: dims=1: (B, in_ch, L) -> (B, out_ch, ceil(L / stride));
            dims=2: (B, in_ch, H, W) -> (B, out_ch, ceil(H / stride), ceil(W / stride)).
    `zero_init` zeroes the branch's last conv, so a block with an identity shortcut starts as
    exactly the identity (and a plain block starts as exactly zero — don't combine the two).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        stride: int = 1,
        dims: int = 2,
        skip: bool = True,
        zero_init: bool = False,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.skip = skip
        # Convs carry no bias: each feeds a norm, and the sum's bias would be redundant anyway.
        self.branch = nn.Sequential(
            OrderedDict(
                norm1=norm_layer(dims, in_ch),
                act1=make_activation(activation),
                conv1=conv_layer(dims, in_ch, out_ch, 3, stride, bias=False),
                norm2=norm_layer(dims, out_ch),
                act2=make_activation(activation),
                conv2=conv_layer(dims, out_ch, out_ch, 3, 1, bias=False),
            )
        )
        # The plain twin keeps the projection too, so both nets have the same parameters and names;
        # it just isn't used in forward.
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_ch == out_ch and stride == 1
            else conv_layer(dims, in_ch, out_ch, 1, stride, bias=False)
        )
        if zero_init:
            self.zero_branch_()

    def zero_branch_(self) -> None:
        """Zero the last conv of the branch: the block's output becomes shortcut(x)."""
        last = self.branch.conv2
        assert isinstance(last, nn.Conv1d | nn.Conv2d)
        nn.init.zeros_(last.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.branch(x)
        if self.skip:
            out = out + self.shortcut(x)
        return out


class BasicBlock(nn.Module):
    """The original (post-activation) residual block of ResNet-18/34 (He et al. 2016):
    out = relu(branch(x) + shortcut(x)).

    branch   = conv3 (stride) -> norm -> relu -> conv3 -> norm
    shortcut = identity, or a bias-free 1×1 conv with `stride` -> norm when channels or size change.
    Shapes: (B, in_ch, H, W) -> (B, out_ch, ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            OrderedDict(
                conv1=conv_layer(2, in_ch, out_ch, 3, stride, bias=False),
                norm1=norm_layer(2, out_ch),
                act1=nn.ReLU(),
                conv2=conv_layer(2, out_ch, out_ch, 3, 1, bias=False),
                norm2=norm_layer(2, out_ch),
            )
        )
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_ch == out_ch and stride == 1
            else nn.Sequential(
                OrderedDict(
                    conv=conv_layer(2, in_ch, out_ch, 1, stride, bias=False),
                    norm=norm_layer(2, out_ch),
                )
            )
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act(self.branch(x) + self.shortcut(x))
        return out
