"""GRU classifier: signals as sequences of L steps with C features, or embedded token ids."""

from __future__ import annotations

import torch
from torch import nn

from trainlab.data.spec import DataSpec
from trainlab.errors import DataError
from trainlab.models.classifier import Classifier, Head
from trainlab.models.registry import check_bool, check_choice, check_int, register_model

READOUTS = ("flatten", "last", "mean")


class RecurrentEncoder(nn.Module):
    """Sequence -> GRU -> one vector per sample.

    Input: signal (B, C, L) read as L steps of C features, or tokens (B, T) int64 embedded to
    `hidden` features. Output (B, F) by `readout`: flatten = every step's state concatenated,
    F = T * hidden * dirs (the MNIST-1D paper's readout); last = the final state of each
    direction, F = hidden * dirs; mean = states averaged over steps, F = hidden * dirs.
    """

    def __init__(
        self,
        spec: DataSpec,
        hidden: int,
        layers: int,
        bidirectional: bool,
        readout: str,
        dropout: float,
    ) -> None:
        super().__init__()
        self.readout = readout
        self.tokens = spec.kind == "tokens"
        if self.tokens:
            steps, in_f = spec.input_shape[0], hidden
            assert spec.vocab_size is not None
            self.embed: nn.Module = nn.Embedding(spec.vocab_size, hidden)
        else:
            in_f, steps = spec.input_shape
            self.embed = nn.Identity()
        # nn.GRU applies dropout between stacked layers only; it warns if there is one layer.
        self.gru = nn.GRU(
            in_f,
            hidden,
            layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        dirs = 2 if bidirectional else 1
        self.out_features = hidden * dirs * (steps if readout == "flatten" else 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # tokens (B, T) -> (B, T, hidden); signal (B, C, L) -> (B, L, C)
        seq = self.embed(x) if self.tokens else x.transpose(1, 2)
        out, h_n = self.gru(seq)  # out (B, T, hidden * dirs); h_n (layers * dirs, B, hidden)
        if self.readout == "flatten":
            return out.flatten(1)
        if self.readout == "mean":
            return out.mean(dim=1)
        dirs = 2 if self.gru.bidirectional else 1
        return h_n[-dirs:].transpose(0, 1).flatten(1)  # last layer, both directions: (B, H*dirs)


@register_model("gru", ("signal", "tokens"), "GRU over the sequence + linear readout")
def gru(
    spec: DataSpec,
    *,
    dropout: float = 0.0,
    hidden: int | None = None,  # units per direction and embedding size; signal 6, tokens 32
    layers: int = 1,
    bidirectional: bool = True,
    readout: str = "flatten",  # flatten | last | mean over the GRU's step outputs
) -> nn.Module:
    """features = RecurrentEncoder (embed, gru); head = dropout -> linear."""
    hidden = check_int(
        "hidden", hidden if hidden is not None else (6 if spec.kind == "signal" else 32)
    )
    layers = check_int("layers", layers)
    bidirectional = check_bool("bidirectional", bidirectional)
    readout = check_choice("readout", readout, READOUTS)
    if spec.kind == "tokens" and not spec.vocab_size:
        raise DataError(f"dataset {spec.name!r}: tokens data must declare vocab_size")
    encoder = RecurrentEncoder(spec, hidden, layers, bidirectional, readout, dropout)
    return Classifier(encoder, Head(encoder.out_features, spec.num_classes, dropout))
