"""Training throughput of the three ways data reach the device, measured in one process on data
that fit: resident tensors, the memory-mapped .npz streamed batch by batch (`data.device_budget=0`
forces it), and a torch Dataset class through a DataLoader (0 and 2 workers).

The data: `--n` CIFAR-shaped uint8 images (3×32×32, 10 classes) in an uncompressed .npz in a
temporary folder (the page cache holds it after the first epoch: these are warm-cache numbers).
Each path trains the same config (`--model`, `--epochs`, `--batch-size`, one torch thread); the
paths alternate for `--repeats` rounds; samples/s is the training split over the median
`train_seconds` of the epochs after the first. All paths must give the same metrics (checked).
The last line reads `memmap/resident=<x> dataset/resident=<x> dataset_w2/resident=<x>`.
Run: `.venv/bin/python benchmarks/stream_throughput.py [--n 20000] [--epochs 2] [--repeats 2]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainlab.config import RunConfig
from trainlab.train.experiment import run


class Images(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """The benchmark's .npz as a map-style Dataset: one uint8 image and its label per item."""

    classes = tuple(str(i) for i in range(10))

    def __init__(self, train: bool, path: str) -> None:
        with np.load(path) as f:  # read once: the item cost, not the file, is what is measured
            self.x, self.y = f["x" if train else "x_test"], f["y" if train else "y_test"]

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.x[i]), int(self.y[i])


def write_images(path: Path, n: int) -> None:
    """`n` training and n/5 test images whose class sets each channel's mean (close means, noisy
    pixels: learnable, not at once)."""
    rng = np.random.default_rng(0)
    means = rng.uniform(118, 138, (10, 3, 1, 1))
    y = rng.integers(0, 10, n + n // 5)
    x = np.clip(means[y] + rng.normal(0, 60, (len(y), 3, 32, 32)), 0, 255).astype(np.uint8)
    np.savez(path, x=x[:n], y=y[:n], x_test=x[n:], y_test=y[n:])


def configs(path: Path, args: argparse.Namespace) -> dict[str, RunConfig]:
    base = RunConfig.model_validate(
        {
            "data": {"name": "npz", "options": {"path": str(path)}},
            "model": {"name": args.model},
            "train": {"epochs": args.epochs, "batch_size": args.batch_size, "threads": 1},
            "schedule": {"name": "constant"},
        }
    )
    dataset = {
        "data.name": f"{Path(__file__).resolve()}:Images",
        "data.options": {"path": str(path)},
    }
    return {
        "resident": base,
        "memmap": base.with_overrides({"data.device_budget": 0}),
        "dataset": base.with_overrides({**dataset, "data.workers": 0}),
        "dataset_w2": base.with_overrides({**dataset, "data.workers": 2}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "images.npz"
        write_images(path, args.n)
        cfgs = configs(path, args)
        seconds: dict[str, list[float]] = {k: [] for k in cfgs}
        summaries: dict[str, dict[str, Any]] = {}
        for _ in range(args.repeats):
            for name, cfg in cfgs.items():
                hist = run(cfg).history
                seconds[name] += [e["train_seconds"] for e in hist.epochs[1:]]
                summaries[name] = hist.summary
    n_train = int(args.n * 0.9)
    rate = {k: n_train / statistics.median(v) for k, v in seconds.items()}
    ref = summaries["resident"]
    for name, s in summaries.items():
        same = all(abs(s[k] - ref[k]) <= 1e-5 for k in ("train_loss", "val_loss", "test_acc"))
        print(f"{name:>11}: {rate[name]:9.0f} samples/s  data_path={s['data_path']:<8} "
              f"test_acc={s['test_acc']:.4f}  same metrics as resident: {same}")  # fmt: skip
        if not same:
            raise SystemExit(f"{name} gave other metrics than the resident path")
    print(
        " ".join(f"{k}/resident={rate[k] / rate['resident']:.2f}" for k in cfgs if k != "resident")
    )


if __name__ == "__main__":
    main()
