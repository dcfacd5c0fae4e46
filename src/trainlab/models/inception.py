"""Small Inception net: a conv stem and Inception blocks with pooling between them."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from trainlab.blocks import ConvBlock, Inception
from trainlab.blocks.conv import global_avg_pool, max_pool
from trainlab.data.spec import DataSpec
from trainlab.models.classifier import Classifier, Head
from trainlab.models.registry import check_int, register_model


@register_model("inception", ("image", "signal"), "conv stem + Inception blocks + global pool")
def inception(
    spec: DataSpec,
    *,
    dropout: float = 0.0,
    width: int = 16,  # 1×1-branch channels of block1; block k uses width * 2**(k-1)
    depth: int = 3,  # Inception blocks; 2× max-pool between consecutive blocks
) -> nn.Module:
    """features = stem -> block1 -> pool1 -> block2 -> ... -> pool -> flatten; head = dropout -> linear.

    Block k with w = width * 2**(k-1) has branches (1×1, 3×3, 5×5, pool) = (w, 2w, w/2, w/2),
    so 4w output channels. Shapes for (B, 1, 28, 28), width 16: stem (B, 32, 28, 28),
    block1 (B, 64, 28, 28), block2 (B, 128, 14, 14), block3 (B, 256, 7, 7), features (B, 256).
    """
    width, depth = check_int("width", width, minimum=2), check_int("depth", depth)
    dims = len(spec.input_shape) - 1
    in_ch = 2 * width
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        stem=ConvBlock(spec.input_shape[0], in_ch, 3, dims=dims)
    )
    for k in range(1, depth + 1):
        w = width * 2 ** (k - 1)
        block = Inception(in_ch, w, 2 * w, w // 2, w // 2, dims)
        layers[f"block{k}"] = block
        in_ch = block.out_channels
        if k < depth:
            layers[f"pool{k}"] = max_pool(dims, 2, 2, ceil_mode=True)
    layers["pool"] = global_avg_pool(dims)
    layers["flatten"] = nn.Flatten()
    return Classifier(nn.Sequential(layers), Head(in_ch, spec.num_classes, dropout))
