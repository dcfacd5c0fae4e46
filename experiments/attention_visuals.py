"""Attention with trainlab: per-head maps, rollout and entropy of a transformer on the synthetic
sequence tasks (with the attention mass on the decisive tokens vs chance), class-token attention
of a ViT over digit patches, and the same maps from a plain nn.TransformerEncoder.

Run: `python experiments/attention_visuals.py [--full] [--epochs N]`: by default the quick budget
(8-10 epochs per model, about a minute on 2 cores), `--full` the paper-size one (30-40 epochs).
Rerunning reuses finished runs of the same configs.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from trainlab import Store, load_config
from trainlab.inspect import attention_maps, from_config, head_entropy, inspect_attention
from trainlab.progress import progress_bar


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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--full", action="store_true", help="the paper-size budget")
    p.add_argument("--epochs", type=int, default=None, help="epochs per model [budget's]")
    p.add_argument(
        "--store", default=None, help="run store folder [$TRAINLAB_STORE or ./trainlab-runs]"
    )
    a = p.parse_args(argv)
    budget = "full" if a.full else "quick"
    seq_epochs, vit_epochs = a.epochs or (30 if a.full else 8), a.epochs or (40 if a.full else 10)
    setups = {
        "transformer on seq_pair": [
            "data.name=seq_pair",
            "model.name=transformer",
            f"train.epochs={seq_epochs}",
        ],
        "transformer on seq_marker": [
            "data.name=seq_marker",
            "model.name=transformer",
            f"train.epochs={seq_epochs}",
        ],
        "vit on digits": [  # a ViT on 1,400 images wants a smaller lr than the defaults give
            "data.name=digits",
            "model.name=vit",
            "optim.lr=0.001",
            "train.batch_size=32",
            f"train.epochs={vit_epochs}",
            *([] if a.full else ["model.options.depth=2"]),
        ],
    }
    store = Store(a.store)
    studies = []
    with progress_bar("attention", total=1 + len(setups)) as bar:
        bar.doing("nn.TransformerEncoder (user model)")
        print("nn.TransformerEncoder (user model):")
        torch_encoder_maps()
        bar.advance()
        for label, items in setups.items():
            bar.doing(f"train + inspect {label}")
            target = from_config(load_config(None, items), store, reuse=True)
            result = inspect_attention(target, store, budget)
            print(f"{result.summary.title}:")
            for line in result.summary.verdicts:
                print(f"  {line}")
            print(f"  -> {result.dir}")
            studies.append(result.study_id)
            bar.advance()
    print(f"see them: trainlab report {' '.join(studies)} --store {store.root}")
    print(f"      or: trainlab ui --store {store.root}")


if __name__ == "__main__":
    main()
