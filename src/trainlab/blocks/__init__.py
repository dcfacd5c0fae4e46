"""Building blocks of the model zoo; each documents its tensor shapes."""

from trainlab.blocks.activation import ACTIVATIONS, make_activation
from trainlab.blocks.attention import MultiHeadSelfAttention
from trainlab.blocks.conv import ConvBlock
from trainlab.blocks.dense import Dense
from trainlab.blocks.inception import Inception
from trainlab.blocks.patch import PatchEmbed
from trainlab.blocks.residual import BasicBlock, ResidualBlock
from trainlab.blocks.transformer import TransformerBlock

__all__ = [
    "ACTIVATIONS",
    "BasicBlock",
    "ConvBlock",
    "Dense",
    "Inception",
    "MultiHeadSelfAttention",
    "PatchEmbed",
    "ResidualBlock",
    "TransformerBlock",
    "make_activation",
]
