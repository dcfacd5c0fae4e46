"""Plain convnet: the MNIST-1D paper's strided 1-D convnet on signals, conv-pool stacks on images."""

from __future__ import annotations

import math
from collections import OrderedDict

from torch import nn

from trainlab.blocks import ConvBlock
from trainlab.blocks.conv import max_pool
from trainlab.data.spec import DataSpec
from trainlab.models.classifier import Classifier, Head
from trainlab.models.registry import check_bool, check_int, option_error, register_model


@register_model("cnn", ("image", "signal"), "conv blocks + flatten + linear (1-D on signals)")
def cnn(
    spec: DataSpec,
    *,
    dropout: float = 0.0,
    width: int | None = None,  # channels of block1; signal 25 (constant), image 32 (doubling)
    depth: int | None = None,  # conv blocks; signal 3, image 2
    kernel: int | None = None,  # odd kernel size; signal 5, image 3
    norm: bool = True,  # batch norm after each conv (mnist1d: 0.94 with, 0.91-0.92 without)
) -> nn.Module:
    """features = block1..block{depth} -> flatten; head = dropout -> linear.

    signal (B, C, L): each block is a stride-2 ConvBlock with `width` channels (MNIST-1D paper:
      3 × 25 channels, kernel 5: L 40 -> 20 -> 10 -> 5, 125 features).
    image (B, C, H, W): each block is a ConvBlock then 2×2 max-pool, channels doubling from
      `width` (32, 64: 8×8 -> 2×2, 28×28 -> 7×7).
    """
    signal = spec.kind == "signal"
    width = check_int("width", width if width is not None else (25 if signal else 32))
    depth = check_int("depth", depth if depth is not None else (3 if signal else 2))
    kernel = check_int("kernel", kernel if kernel is not None else (5 if signal else 3))
    norm = check_bool("norm", norm)
    if kernel % 2 == 0:
        raise option_error("kernel", kernel, "must be odd (3, 5, 7, ...) so padding keeps the size")
    channels, *size = spec.input_shape
    dims = len(size)
    blocks: OrderedDict[str, nn.Module] = OrderedDict()
    for i in range(1, depth + 1):
        out_ch = width if signal else width * 2 ** (i - 1)
        if signal:
            blocks[f"block{i}"] = ConvBlock(channels, out_ch, kernel, 2, dims, norm)
        else:
            pool = max_pool(dims, 2, 2, ceil_mode=True)  # ceil: 7×7 -> 4×4, not 3×3
            block = OrderedDict(conv=ConvBlock(channels, out_ch, kernel, 1, dims, norm), pool=pool)
            blocks[f"block{i}"] = nn.Sequential(block)
        size = [math.ceil(s / 2) for s in size]  # both designs halve each spatial size
        channels = out_ch
    blocks["flatten"] = nn.Flatten()
    return Classifier(
        nn.Sequential(blocks), Head(channels * math.prod(size), spec.num_classes, dropout)
    )
