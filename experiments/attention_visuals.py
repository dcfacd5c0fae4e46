"""Attention with trainlab: per-head maps, rollout and entropy of a transformer on the synthetic
sequence tasks (with the attention mass on the decisive tokens vs chance), class-token attention
of a ViT over digit patches, and the same maps from a plain nn.TransformerEncoder.

Run: `.venv/bin/python experiments/attention_visuals.py [--quick]`.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from trainlab import Store, load_config
from trainlab.inspect import attention_maps, from_config, head_entropy, inspect_attention


def torch_encoder_maps() -> None:
    """A user model on nn.TransformerEncoder: per-head weights even on the fused fast path."""
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    maps = attention_maps(encoder, torch.randn(8, 10, 32))
    for m in maps:
        print(
            f"  {m.name}: weights {tuple(m.weights.shape)}, rows sum to 1 within "
            f"{float((m.weights.sum(-1) - 1).abs().max()):.1e}, output check {m.error:.1e}, "
            f"head entropy {[round(v, 2) for v in head_entropy(m.weights).tolist()]}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer epochs: about a minute on 2 cores")
    a = p.parse_args()
    print("nn.TransformerEncoder (user model):")
    torch_encoder_maps()
    store = Store()
    budget = "quick" if a.quick else "full"
    setups = [
        [
            "data.name=seq_pair",
            "model.name=transformer",
            "train.epochs=8" if a.quick else "train.epochs=30",
        ],
        [
            "data.name=seq_marker",
            "model.name=transformer",
            "train.epochs=8" if a.quick else "train.epochs=30",
        ],
        [  # a ViT on 1,400 images wants a smaller lr and more steps than the defaults give
            "data.name=digits",
            "model.name=vit",
            "optim.lr=0.001",
            "train.batch_size=32",
            *(["model.options.depth=2", "train.epochs=10"] if a.quick else ["train.epochs=40"]),
        ],
    ]
    for items in setups:
        target = from_config(load_config(None, items), store, reuse=True)
        result = inspect_attention(target, store, budget)
        print(f"{result.summary.title}:")
        for line in result.summary.verdicts:
            print(f"  {line}")
        print(f"  -> {result.dir}")


if __name__ == "__main__":
    main()
