"""`train.fit` vs a minimal hand-written PyTorch loop, measured side by side in one process.

Both loops do the same work per step (a seeded permutation per epoch, forward, cross-entropy,
backward, fused Adam step, running train loss and accuracy sums) and the same validation pass per
epoch. Two ratios per model:
- `train`: the training part of each epoch alone (fit's per-epoch `train_seconds`; the hand loop
  times the same span), the warm-up epoch dropped; this is the per-step overhead of the loop
  (target: <= 1.05);
- `epoch`: whole epochs including the validation pass (what a user waits for).
The loops alternate, several repeats each; the script prints medians, and its last line reads
`train_ratio_mlp=<x> train_ratio_cnn=<x>`.
Run: `.venv/bin/python benchmarks/loop_overhead.py [--epochs 6] [--repeats 5] [--batch-size 100]`.
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


def hand_loop(
    model: torch.nn.Module, ds: data.Dataset, epochs: int, bs: int, lr: float
) -> tuple[list[float], list[float]]:
    """The loop a careful user writes by hand: (training seconds, whole seconds) per epoch."""
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    n = len(ds.y_train)
    train_s, epoch_s = [], []
    for _ in range(epochs):
        model.train()
        t0 = time.perf_counter()
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
        train_s.append(time.perf_counter() - t0)
        model.eval()
        with torch.inference_mode():
            val_logits = model(ds.x_val)
            _ = (
                F.cross_entropy(val_logits, ds.y_val).item(),
                (val_logits.argmax(1) == ds.y_val).sum().item(),
            )
        epoch_s.append(time.perf_counter() - t0)
    return train_s, epoch_s


def fit_loop(
    model: torch.nn.Module, ds: data.Dataset, cfg: RunConfig
) -> tuple[list[float], list[float]]:
    hist = fit(model, ds, cfg)
    return [e["train_seconds"] for e in hist.epochs], [e["seconds"] for e in hist.epochs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    threads = set_threads(None)
    print(
        f"torch {torch.__version__}, {threads} threads, {args.epochs} epochs x {args.repeats}"
        f" repeats, batch {args.batch_size}; medians over epochs 2..{args.epochs} of every repeat"
    )
    print(f"{'model':6} {'part':6} {'fit ms/step':>12} {'hand ms/step':>13} {'ratio':>7}")
    last = []
    for name in ("mlp", "cnn"):
        cfg = RunConfig.model_validate(
            {
                "data": {"name": "mnist1d"},
                "model": {"name": name},
                "optim": {"name": "adam", "lr": 1e-3},
                "schedule": {"name": "constant"},  # the hand loop has no scheduler either
                "train": {"epochs": args.epochs, "batch_size": args.batch_size,
                          "checkpoint": "none", "deterministic": False},
            }
        )  # fmt: skip
        ds = data.load(cfg.data, cfg.seed)
        steps = -(-len(ds.y_train) // args.batch_size)
        times: dict[str, dict[str, list[float]]] = {
            k: {"train": [], "epoch": []} for k in ("fit", "hand")
        }
        for _ in range(args.repeats):
            for kind in times:
                torch.manual_seed(0)
                model = models.build(name, ds.spec)
                if kind == "fit":
                    tr, ep = fit_loop(model, ds, cfg)
                else:
                    tr, ep = hand_loop(model, ds, args.epochs, args.batch_size, cfg.optim.lr)
                times[kind]["train"] += tr[1:]  # the warm-up epoch dropped
                times[kind]["epoch"] += ep[1:]
        for part in ("train", "epoch"):
            f = statistics.median(times["fit"][part]) / steps * 1e3
            h = statistics.median(times["hand"][part]) / steps * 1e3
            print(f"{name:6} {part:6} {f:12.3f} {h:13.3f} {f / h:7.3f}")
            if part == "train":
                last.append(f"train_ratio_{name}={f / h:.3f}")
    print(" ".join(last))


if __name__ == "__main__":
    main()
