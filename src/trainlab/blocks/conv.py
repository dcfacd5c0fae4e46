"""ConvBlock (conv -> norm -> activation) in 1-D or 2-D, and the per-`dims` layer constructors."""

from __future__ import annotations

import torch
from torch import nn

from trainlab.blocks.activation import make_activation


def _check_dims(dims: int) -> None:
    if dims not in (1, 2):
        raise ValueError(f"dims must be 1 (signals, B×C×L) or 2 (images, B×C×H×W), got {dims}")


def conv_layer(
    dims: int, in_ch: int, out_ch: int, kernel: int, stride: int = 1, bias: bool = True
) -> nn.Module:
    """Conv1d/Conv2d with 'same' padding (kernel // 2): output length is ceil(L / stride) for odd kernels."""
    _check_dims(dims)
    cls = nn.Conv1d if dims == 1 else nn.Conv2d
    return cls(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=bias)


def norm_layer(dims: int, channels: int) -> nn.Module:
    """BatchNorm1d/BatchNorm2d over the channel axis."""
    _check_dims(dims)
    return nn.BatchNorm1d(channels) if dims == 1 else nn.BatchNorm2d(channels)


def max_pool(
    dims: int, kernel: int, stride: int, padding: int = 0, ceil_mode: bool = False
) -> nn.Module:
    """MaxPool1d/MaxPool2d; `ceil_mode` keeps a last partial window (size 7 -> 4, never 0)."""
    _check_dims(dims)
    cls = nn.MaxPool1d if dims == 1 else nn.MaxPool2d
    return cls(kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)


def global_avg_pool(dims: int) -> nn.Module:
    """Average over every spatial position: (B, C, *spatial) -> (B, C, 1[, 1])."""
    _check_dims(dims)
    return nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)


class ConvBlock(nn.Module):
    """Conv ('same' padding) -> BatchNorm (if `norm`) -> activation.

    Shapes: dims=1: x (B, in_ch, L) -> (B, out_ch, ceil(L / stride));
            dims=2: x (B, in_ch, H, W) -> (B, out_ch, ceil(H / stride), ceil(W / stride)).
    `kernel` should be odd so that stride 1 keeps the size.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int = 3,
        stride: int = 1,
        dims: int = 2,
        norm: bool = True,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.conv = conv_layer(dims, in_ch, out_ch, kernel, stride, bias=not norm)
        self.norm = norm_layer(dims, out_ch) if norm else nn.Identity()
        self.act = make_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))
