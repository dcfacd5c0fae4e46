"""Training time with the flight recorder at its default interval vs without it, in one run.

The two variants alternate in ABBA order (off, on, on, off, ...) on the same config and seed, so
drifts in machine load hit both alike. Printed: the median over repeats of each variant's mean
training seconds per epoch, the ratio of those medians, and the median of the per-pair ratios
(target: recorder / off <= 1.05). Run:
`.venv/bin/python benchmarks/recorder_overhead.py [--model cnn] [--epochs 5] [--repeats 6]`.
On a shared machine the numbers are noisy: compare ratios from one invocation only. One torch
thread by default: these small models gain nothing from a second one, and two threads on cores
that other processes also use make step times erratic.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from trainlab import data, models
from trainlab.config import RunConfig
from trainlab.train import fit
from trainlab.train.recorder import DEFAULT_EVERY, Recorder
from trainlab.train.seed import set_threads


def seconds_per_epoch(cfg: RunConfig, ds: data.Dataset, recorder: Recorder | None) -> float:
    """Mean training seconds per epoch (validation excluded) of one fit; a mean, not a median,
    because the recorder's cost falls on the few steps that record."""
    torch.manual_seed(cfg.seed)
    model = models.build(cfg.model.name, ds.spec)
    hist = fit(model, ds, cfg, [recorder] if recorder is not None else [])
    return sum(e["train_seconds"] for e in hist.epochs) / len(hist.epochs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="mnist1d")
    p.add_argument("--model", default="cnn")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--repeats", type=int, default=6, help="pairs of fits (off + on)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--every", type=int, default=DEFAULT_EVERY)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    threads = set_threads(a.threads)
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
        f"{a.epochs} epochs x {a.repeats} pairs (ABBA order); recorder every {a.every} steps"
    )
    seconds_per_epoch(cfg, ds, Recorder(a.every))  # warm-up: allocator, kernels, caches
    off: list[float] = []
    on: list[float] = []
    for i in range(a.repeats):
        order = (False, True) if i % 2 == 0 else (True, False)
        for recording in order:
            t = seconds_per_epoch(cfg, ds, Recorder(a.every) if recording else None)
            (on if recording else off).append(t)
    m_off, m_on = statistics.median(off), statistics.median(on)
    pairs = statistics.median(b / a for a, b in zip(off, on, strict=True))
    print(f"recorder off : {m_off:.4f} s/epoch  (runs: {', '.join(f'{t:.3f}' for t in off)})")
    print(f"recorder on  : {m_on:.4f} s/epoch  (runs: {', '.join(f'{t:.3f}' for t in on)})")
    print(
        f"ratio on/off : {m_on / m_off:.3f} of medians, {pairs:.3f} median of pairs (target <= 1.05)"
    )


if __name__ == "__main__":
    main()
