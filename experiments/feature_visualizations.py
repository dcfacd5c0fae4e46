"""Feature visualisations with trainlab: probes on your own module, the same module trained and
inspected, then activation histograms, per-layer statistics and feature maps of zoo models with
Dense, Conv, Residual, Inception and Attention blocks.

Run: `python experiments/feature_visualizations.py [--full] [--epochs N]`: by default the quick
budget (3 epochs per model, under a minute on 2 cores), `--full` the paper-size one (20 epochs).
Figures land in the study folders printed as it goes (and in each run's `inspect/features/`).
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from trainlab import Store, load_config
from trainlab.inspect import Probe, from_config, inspect_features
from trainlab.progress import progress_bar

SETUPS = {  # the zoo model and its data, for one kind of block each
    "ConvBlocks (cnn on mnist1d)": ["data.name=mnist1d", "model.name=cnn"],
    "Dense (tanh mlp on mnist1d)": [
        "data.name=mnist1d",
        "model.name=mlp",
        "model.options.activation=tanh",
    ],
    "ResidualBlocks (resnet-8 on digits)": [
        "data.name=digits",
        "model.name=resnet",
        "model.options.depth=8",
    ],
    "Inception (on digits)": ["data.name=digits", "model.name=inception", "model.options.width=8"],
    "TransformerBlocks (on seq_marker)": ["data.name=seq_marker", "model.name=transformer"],
}


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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--full", action="store_true", help="the paper-size budget")
    p.add_argument("--epochs", type=int, default=None, help="epochs per model [budget's]")
    p.add_argument(
        "--store", default=None, help="run store folder [$TRAINLAB_STORE or ./trainlab-runs]"
    )
    a = p.parse_args(argv)
    store = Store(a.store)
    epochs = a.epochs or (20 if a.full else 3)
    budget = "full" if a.full else "quick"
    studies = []
    with progress_bar("features", total=1 + len(SETUPS)) as bar:
        bar.doing("train + inspect a user module")
        print("probe on a user module (untrained):")
        model = own_module()
        probe_own_module(model)
        cfg = load_config(None, ["data.name=mnist1d", f"train.epochs={epochs}"])
        trained = from_config(cfg, store, model=model)  # your module, trained and stored as a run
        result = inspect_features(trained, store, budget=budget, types=(nn.Tanh, nn.GELU))
        print(f"{result.summary.title}: {'; '.join(result.summary.verdicts)}\n  -> {result.dir}")
        studies.append(result.study_id)
        bar.advance()
        for label, items in SETUPS.items():
            bar.doing(f"train + inspect {label}")
            cfg = load_config(None, [*items, f"train.epochs={epochs}"])
            target = from_config(cfg, store, reuse=True)
            result = inspect_features(target, store, budget=budget)
            print(f"{result.summary.title}: {'; '.join(result.summary.verdicts)}")
            print(f"  -> {result.dir}")
            studies.append(result.study_id)
            bar.advance()
    print(f"see them: trainlab report {' '.join(studies)} --store {store.root}")
    print(f"      or: trainlab ui --store {store.root}")


if __name__ == "__main__":
    main()
