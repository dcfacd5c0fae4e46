"""Flatten-first models: logistic regression and the multilayer perceptron."""

from __future__ import annotations

import math
from collections import OrderedDict

from torch import nn

from trainlab.blocks import ACTIVATIONS, Dense
from trainlab.data.spec import DataSpec
from trainlab.models.classifier import Classifier, Head
from trainlab.models.registry import check_bool, check_choice, check_int, register_model


@register_model(
    "logreg", ("image", "signal", "vector"), "flatten + one linear layer (softmax regression)"
)
def logreg(spec: DataSpec, *, dropout: float = 0.0) -> nn.Module:
    """features = flatten (B, D); head = dropout on the inputs -> linear."""
    features = nn.Sequential(OrderedDict(flatten=nn.Flatten()))
    return Classifier(features, Head(math.prod(spec.input_shape), spec.num_classes, dropout))


@register_model("mlp", ("image", "signal", "vector"), "flatten + `depth` hidden Dense layers")
def mlp(
    spec: DataSpec,
    *,
    dropout: float = 0.0,
    width: int = 100,  # hidden units per layer; 100 is the MNIST-1D paper's MLP
    depth: int = 2,  # hidden layers
    activation: str = "relu",
    norm: bool = False,  # batch norm after each hidden linear layer
) -> nn.Module:
    """features = flatten -> block1..block{depth} (Dense, dropout after each); head = linear."""
    width, depth = check_int("width", width), check_int("depth", depth)
    activation = check_choice("activation", activation, ACTIVATIONS)
    norm = check_bool("norm", norm)
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    in_f = math.prod(spec.input_shape)
    for i in range(1, depth + 1):
        layers[f"block{i}"] = Dense(in_f, width, norm, activation, dropout)
        in_f = width
    # The last Dense already applied dropout; a second one before the head would double it.
    return Classifier(nn.Sequential(layers), Head(in_f, spec.num_classes))
