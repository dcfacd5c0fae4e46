"""Feature visualisations with trainlab: probes on your own module, the same module trained and
inspected, then activation histograms, per-layer statistics and feature maps of zoo models with
Dense, Conv, Residual, Inception and Attention blocks.

Run: `.venv/bin/python experiments/feature_visualizations.py [--quick]`. Figures land in the
study folders printed at the end (and in each run's `inspect/features/` folder).
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from trainlab import Store, load_config
from trainlab.inspect import Probe, from_config, inspect_features


def own_module() -> nn.Module:
    """A user's 1-D convnet for MNIST-1D signals (B, 1, 40) with tanh and GELU activations."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(1, 8, 5, padding=2),
        nn.Tanh(),
        nn.Conv1d(8, 8, 5, padding=2),
        nn.GELU(),
        nn.Flatten(),
        nn.Linear(8 * 40, 10),
    )


def probe_own_module(model: nn.Module) -> None:
    """The Python API on a plain nn.Module: modules chosen by type, streaming stats only."""
    with Probe(model, types=(nn.Tanh, nn.GELU), keep=2) as probe, torch.no_grad():
        for _ in range(4):
            model(torch.randn(64, 1, 40))  # four batches stream into the same statistics
    for row in probe.table():
        print(
            f"  {row['layer']:>3} {row['kind']:5} mean {row['mean']:+.3f} std {row['std']:.3f} "
            f"near-0 {row['near_zero']:.2f} saturated {row['saturated']:.2f} "
            f"(range {row['min']:.2f}..{row['max']:.2f})"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer epochs: a few minutes on 2 cores")
    a = p.parse_args()
    store = Store()
    epochs = 3 if a.quick else 20
    budget = "quick" if a.quick else "full"

    print("probe on a user module (untrained):")
    model = own_module()
    probe_own_module(model)
    cfg = load_config(None, ["data.name=mnist1d", f"train.epochs={epochs}"])
    trained = from_config(cfg, store, model=model)  # your module, trained and stored as a run
    result = inspect_features(trained, store, budget=budget, types=(nn.Tanh, nn.GELU))
    print(f"{result.summary.title}: {'; '.join(result.summary.verdicts)}\n  -> {result.dir}")

    setups = [
        ["data.name=mnist1d", "model.name=cnn"],  # ConvBlocks on 1-D signals
        ["data.name=mnist1d", "model.name=mlp", "model.options.activation=tanh"],  # Dense
        ["data.name=digits", "model.name=resnet", "model.options.depth=8"],  # ResidualBlocks
        ["data.name=digits", "model.name=inception", "model.options.width=8"],  # Inception
        ["data.name=seq_marker", "model.name=transformer"],  # TransformerBlocks (attention)
    ]
    for items in setups:
        cfg = load_config(None, [*items, f"train.epochs={epochs}"])
        target = from_config(cfg, store, reuse=True)
        result = inspect_features(target, store, budget=budget)
        print(f"{result.summary.title}: {'; '.join(result.summary.verdicts)}\n  -> {result.dir}")


if __name__ == "__main__":
    main()
