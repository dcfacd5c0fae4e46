"""Residual flow with trainlab: resnet vs plainnet — gradient norms vs depth at initialisation
and after training, training curves, ‖F(x)‖/‖x‖ per block, lesions, loss-landscape slices, and
activation std at initialisation for Xavier vs Kaiming; then the same analysis of your own
residual net (any module whose blocks have a `branch` and a `shortcut`).

Run: `python experiments/residual_flow_visuals.py [--full] [--depth 20] [--epochs N]`: by default
the quick budget (width 8, 6 epochs, your net 3; 1-2 minutes on 2 cores), `--full` the paper-size one
(width 16, 20 epochs, depths 8 and 56 trained too). Rerunning reuses finished runs.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from trainlab import Store, load_config
from trainlab.blocks import ResidualBlock
from trainlab.inspect import from_config, inspect_residual, residual_study
from trainlab.progress import progress_bar


class OwnNet(nn.Module):
    """A user's small residual net for 1-D signals (B, 1, L)."""

    def __init__(self, width: int = 16, blocks: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv1d(1, width, 3, padding=1)
        self.blocks = nn.Sequential(*(ResidualBlock(width, width, dims=1) for _ in range(blocks)))
        self.head = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(width, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--full", action="store_true", help="the paper-size budget")
    p.add_argument("--depth", type=int, default=20, help="6n+2 layers: 8, 20, 56, ...")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run [budget's]")
    p.add_argument(
        "--store", default=None, help="run store folder [$TRAINLAB_STORE or ./trainlab-runs]"
    )
    a = p.parse_args(argv)
    budget = "full" if a.full else "quick"
    epochs = a.epochs or (20 if a.full else 6)
    store = Store(a.store)
    base = load_config(
        None,
        [
            "data.name=mnist1d",
            "model.name=resnet",
            f"model.options.depth={a.depth}",
            f"model.options.width={16 if a.full else 8}",
            f"train.epochs={epochs}",
        ],
    )
    studies = []
    with progress_bar("residual flow", total=2) as bar:
        bar.doing(f"train resnet-{a.depth} and plainnet-{a.depth}, compare their flow")
        results = [residual_study(base, store, budget)]
        bar.advance()
        bar.doing("train + inspect a user's residual net")
        own_cfg = base.with_overrides({"train.epochs": a.epochs or (20 if a.full else 3)})
        own = from_config(own_cfg, store, model=OwnNet(16 if a.full else 8))
        results.append(inspect_residual(own, store, budget))
        bar.advance()
    for result in results:
        print(result.summary.title)
        for line in result.summary.verdicts:
            print(f"  {line}")
        print(f"  -> {result.dir}")
        studies.append(result.study_id)
    print(f"see them: trainlab report {' '.join(studies)} --store {store.root}")
    print(f"      or: trainlab ui --store {store.root}")


if __name__ == "__main__":
    main()
