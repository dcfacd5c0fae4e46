"""Residual flow with trainlab: resnet vs plainnet — gradient norms vs depth at initialisation
and after training, training curves, ‖F(x)‖/‖x‖ per block, lesions, loss-landscape slices, and
activation std at initialisation for Xavier vs Kaiming; then the same analysis of your own
residual net (any module whose blocks have a `branch` and a `shortcut`).

Run: `.venv/bin/python experiments/residual_flow_visuals.py [--quick] [--depth 20]`. Rerunning
reuses finished runs of the same configs.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from trainlab import Store, load_config
from trainlab.blocks import ResidualBlock
from trainlab.inspect import from_config, inspect_residual, residual_study


class OwnNet(nn.Module):
    """A user's small residual net for 1-D signals (B, 1, L)."""

    def __init__(self, width: int = 16, blocks: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv1d(1, width, 3, padding=1)
        self.blocks = nn.Sequential(*(ResidualBlock(width, width, dims=1) for _ in range(blocks)))
        self.head = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(width, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="few epochs: about a minute on 2 cores")
    p.add_argument("--depth", type=int, default=20, help="6n+2 layers: 8, 20, 56, ...")
    a = p.parse_args()
    store = Store()
    base = load_config(
        None,
        [
            "data.name=mnist1d",
            "model.name=resnet",
            f"model.options.depth={a.depth}",
            "model.options.width=8" if a.quick else "model.options.width=16",
            f"train.epochs={6 if a.quick else 20}",
        ],
    )
    for result in (
        residual_study(base, store, "quick" if a.quick else "full"),
        inspect_residual(
            from_config(
                base.with_overrides({"train.epochs": 3 if a.quick else 20}), store, model=OwnNet()
            ),
            store,
        ),
    ):
        print(result.summary.title)
        for line in result.summary.verdicts:
            print(f"  {line}")
        print(f"  -> {result.dir}")


if __name__ == "__main__":
    main()
