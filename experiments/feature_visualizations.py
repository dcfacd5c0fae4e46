"""Feature visualisations with trainlab: probes on your own module, then activation histograms,
per-layer statistics and feature maps of zoo models trained on MNIST-1D and digits.

Run: `.venv/bin/python experiments/feature_visualizations.py [--quick]`. Figures land in the
study folders printed at the end (and in each run's `inspect/features/` folder).
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from trainlab import Store, load_config
from trainlab.inspect import Probe, from_config, inspect_features


def probe_own_module() -> None:
    """The Python API on a plain nn.Module: modules chosen by type, streaming stats only."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv1d(1, 8, 5, padding=2),
        nn.Tanh(),
        nn.Conv1d(8, 8, 5, padding=2),
        nn.GELU(),
        nn.Flatten(),
        nn.Linear(8 * 40, 10),
    )
    with Probe(model, types=(nn.Tanh, nn.GELU), keep=2) as probe, torch.no_grad():
        for _ in range(4):
            model(torch.randn(64, 1, 40))  # four batches stream into the same statistics
    for row in probe.table():
        print(
            f"  {row['layer']:>3} {row['kind']:5} mean {row['mean']:+.3f} std {row['std']:.3f} "
            f"near-0 {row['near_zero']:.2f} saturated {row['saturated']:.2f} (range {row['min']:.2f}..{row['max']:.2f})"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer epochs: about a minute on 2 cores")
    a = p.parse_args()
    print("probe on a user module:")
    probe_own_module()
    store = Store()
    epochs = 4 if a.quick else 20
    budget = "quick" if a.quick else "full"
    setups = [
        ["data.name=mnist1d", "model.name=cnn"],
        ["data.name=mnist1d", "model.name=mlp", "model.options.activation=tanh"],
        ["data.name=digits", "model.name=resnet", "model.options.depth=8"],
    ]
    for items in setups:
        cfg = load_config(None, [*items, f"train.epochs={epochs}"])
        target = from_config(cfg, store, reuse=True)
        result = inspect_features(target, store, budget=budget)
        print(f"{result.summary.title}: {'; '.join(result.summary.verdicts)}\n  -> {result.dir}")


if __name__ == "__main__":
    main()
