"""Inception branches with trainlab: each branch's maps side by side, the concatenated channel
layout, each branch's share of the activation energy, and how the shares move during training;
then the same numbers for an Inception block inside your own module.

Run: `python experiments/inception_visuals.py [--full] [--epochs N] [--data digits|mnist1d]`: by
default the quick budget (6 epochs, well under a minute on 2 cores), `--full` 30 epochs.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from trainlab import Store, load_config
from trainlab import data as data_registry
from trainlab.blocks import Inception
from trainlab.inspect import (
    BranchShares,
    branch_outputs,
    energy_shares,
    from_config,
    inspect_inception,
)
from trainlab.progress import progress_bar


def own_module() -> None:
    """branch_outputs on a user's net: every Inception block is found, its branches captured."""
    torch.manual_seed(0)
    net = nn.Sequential(Inception(1, 4, 8, 2, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    # batch_stats: an untrained net's running batch-norm statistics mean nothing yet
    for b in branch_outputs(net, torch.randn(8, 1, 8, 8), batch_stats=True):
        sizes = {k: v.shape[1] for k, v in b.branches.items()}
        shares = ", ".join(f"{k} {v:.0%}" for k, v in energy_shares(b).items())
        print(f"  block {b.block!r}: output {tuple(b.output.shape)}, branch channels {sizes}")
        print(f"  energy shares (untrained): {shares}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--full", action="store_true", help="the paper-size budget")
    p.add_argument("--epochs", type=int, default=None, help="epochs [budget's]")
    p.add_argument("--data", default="digits", help="digits (2-D maps) or mnist1d (1-D signals)")
    p.add_argument(
        "--store", default=None, help="run store folder [$TRAINLAB_STORE or ./trainlab-runs]"
    )
    a = p.parse_args(argv)
    epochs = a.epochs or (30 if a.full else 6)
    cfg = load_config(
        None,
        [
            f"data.name={a.data}",
            "model.name=inception",
            "model.options.width=8",
            f"train.epochs={epochs}",
        ],
    )
    store = Store(a.store)
    with progress_bar("inception", total=2) as bar:
        bar.doing("an Inception block in a user module")
        print("Inception block in a user module:")
        own_module()
        bar.advance()
        bar.doing(f"train inception on {a.data}, measuring branch shares every epoch")
        # A fixed batch of test inputs whose branch shares are measured after every epoch.
        fixed = data_registry.load(cfg.data, cfg.seed, "cpu").x_test[:256]
        shares = BranchShares(fixed)
        target = from_config(cfg, store, [shares])
        assert target.record is not None
        shares.save(target.record.dir)  # `trainlab inspect inception --run ID` shows them again
        result = inspect_inception(target, store, shares, "full" if a.full else "quick")
        bar.advance()
    print(result.summary.title)
    for row in result.summary.tables[0].rows:
        print(f"  {row[0]:36}: " + ", ".join(f"{v:.0%}" for v in row[1:]))
    print(f"  -> {result.dir}")
    print(f"see them: trainlab report {result.study_id} --store {store.root}")
    print(f"      or: trainlab ui --store {store.root}")


if __name__ == "__main__":
    main()
