"""Epoch time of `train.fit` vs a minimal hand-written PyTorch loop, measured in one process.

Both loops do the same work per epoch: a seeded permutation, forward/backward/step per batch,
running train loss and accuracy, and a validation pass. They alternate, several repeats each, and
the script prints median seconds per epoch and the ratio (target: fit / hand <= 1.05).
Run: `.venv/bin/python benchmarks/loop_overhead.py [--epochs 10] [--repeats 3]`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.nn import functional as F

from trainlab import data, models
from trainlab.config import RunConfig
from trainlab.train import fit
from trainlab.train.seed import set_threads


def hand_loop(model: torch.nn.Module, ds: data.Dataset, epochs: int, bs: int, fused: bool) -> float:
    """The loop a careful user writes by hand; returns mean seconds per epoch."""
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused or None)
    n = len(ds.y_train)
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=gen)
        xs, ys = ds.x_train[perm], ds.y_train[perm]
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        for i in range(0, n, bs):
            xb, yb = xs[i : i + bs], ys[i : i + bs]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(yb)
            correct += (logits.detach().argmax(1) == yb).sum()
        _ = loss_sum.item(), correct.item()
        model.eval()
        with torch.inference_mode():
            val_logits = model(ds.x_val)
            _ = (
                F.cross_entropy(val_logits, ds.y_val).item(),
                (val_logits.argmax(1) == ds.y_val).float().mean().item(),
            )
    return (time.perf_counter() - t0) / epochs


def fit_loop(model: torch.nn.Module, ds: data.Dataset, cfg: RunConfig) -> float:
    hist = fit(model, ds, cfg)
    return sum(e["seconds"] for e in hist.epochs) / len(hist.epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    threads = set_threads(None)
    print(
        f"torch {torch.__version__}, {threads} threads, {args.epochs} epochs x {args.repeats} repeats"
    )
    print(
        f"{'model':8} {'fit s/ep':>10} {'hand(fused) s/ep':>17} {'ratio':>7} {'hand(default) s/ep':>19} {'ratio':>7}"
    )
    for name in ("mlp", "cnn"):
        cfg = RunConfig.model_validate(
            {
                "data": {"name": "mnist1d"},
                "model": {"name": name},
                "schedule": {"name": "constant"},  # the hand loop has no scheduler either
                "train": {
                    "epochs": args.epochs,
                    "batch_size": args.batch_size,
                    "checkpoint": "none",
                },
            }
        )
        ds = data.load(cfg.data, cfg.seed)
        times: dict[str, list[float]] = {"fit": [], "fused": [], "default": []}
        for _ in range(args.repeats):
            for kind in times:
                torch.manual_seed(0)
                model = models.build(name, ds.spec)
                if kind == "fit":
                    times[kind].append(fit_loop(model, ds, cfg))
                else:
                    times[kind].append(
                        hand_loop(model, ds, args.epochs, args.batch_size, kind == "fused")
                    )
        med = {k: statistics.median(v) for k, v in times.items()}
        print(
            f"{name:8} {med['fit']:10.4f} {med['fused']:17.4f} {med['fit'] / med['fused']:7.3f}"
            f" {med['default']:19.4f} {med['fit'] / med['default']:7.3f}"
        )


if __name__ == "__main__":
    main()
