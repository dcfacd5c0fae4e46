"""Training time with the flight recorder at its default interval vs without it, same run.

The two variants alternate, several repeats each, on the same config and seed; the script prints
the median over repeats of the mean training seconds per epoch and their ratio (target: recorder / off <= 1.15).
Run: `.venv/bin/python benchmarks/recorder_overhead.py [--model cnn] [--epochs 5] [--repeats 5]`.
On a shared machine the numbers are noisy: compare ratios from one invocation only.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from trainlab import data, models
from trainlab.config import RunConfig
from trainlab.inspect.recorder import DEFAULT_EVERY, Recorder
from trainlab.train import fit
from trainlab.train.seed import set_threads


def seconds_per_epoch(cfg: RunConfig, ds: data.Dataset, recorder: Recorder | None) -> float:
    """Mean training seconds per epoch (validation excluded) of one fit; a mean, not a median,
    because the recorder's cost falls on the few epochs that hold a recording step."""
    torch.manual_seed(cfg.seed)
    model = models.build(cfg.model.name, ds.spec)
    hist = fit(model, ds, cfg, [recorder] if recorder is not None else [])
    return sum(e["train_seconds"] for e in hist.epochs) / len(hist.epochs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="mnist1d")
    p.add_argument("--model", default="cnn")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--every", type=int, default=DEFAULT_EVERY)
    a = p.parse_args()
    threads = set_threads(None)
    cfg = RunConfig.model_validate(
        {
            "data": {"name": a.data},
            "model": {"name": a.model},
            "train": {"epochs": a.epochs, "batch_size": a.batch_size, "checkpoint": "none"},
        }
    )
    ds = data.load(cfg.data, cfg.seed, "cpu")
    steps = -(-len(ds.y_train) // a.batch_size)
    print(
        f"torch {torch.__version__}, {threads} thread(s); {a.model} on {a.data}, {steps} steps/epoch, "
        f"{a.epochs} epochs x {a.repeats} repeats; recorder every {a.every} steps"
    )
    seconds_per_epoch(cfg, ds, None)  # warm-up: allocator, kernels, caches
    off: list[float] = []
    on: list[float] = []
    for _ in range(a.repeats):
        off.append(seconds_per_epoch(cfg, ds, None))
        on.append(seconds_per_epoch(cfg, ds, Recorder(a.every)))
    m_off, m_on = statistics.median(off), statistics.median(on)
    print(f"recorder off : {m_off:.4f} s/epoch  (runs: {', '.join(f'{t:.3f}' for t in off)})")
    print(f"recorder on  : {m_on:.4f} s/epoch  (runs: {', '.join(f'{t:.3f}' for t in on)})")
    print(f"ratio on/off : {m_on / m_off:.3f}  (target <= 1.15)")


if __name__ == "__main__":
    main()
