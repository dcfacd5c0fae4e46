"""How `trainlab report --all` scales with standalone runs: synthetic stores of 100 and 1,000 runs
× 40 epochs, written straight through `Store` (no training), then the report build timed.

    PYTHONPATH=src python benchmarks/report_scale.py            # 100 and 1,000 runs
    PYTHONPATH=src python benchmarks/report_scale.py --sizes 20 # a quick check

Prints seconds and MB per size; the last line is `report_<n>_s=<s> report_<n>_mb=<mb>` for the
largest size (goal at 1,000 runs: <= 10 s and <= 10 MB).
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
import time
from pathlib import Path

from trainlab.config import RunConfig
from trainlab.report import write_report
from trainlab.track.env import capture_env
from trainlab.track.store import Store

EPOCHS = 40
WORKLOADS = (("digits", "mlp"), ("digits", "cnn"), ("moons", "mlp"), ("mnist1d", "cnn"))


def fill(store: Store, n: int, seed: int = 0) -> None:
    """`n` finished runs over four data/model workloads, with plausible learning curves."""
    rng = random.Random(seed)
    env = capture_env()
    for i in range(n):
        data, model = WORKLOADS[i % len(WORKLOADS)]
        lr = 10 ** rng.uniform(-4, -1)
        cfg = RunConfig().with_overrides(
            {"name": f"run-{i}", "seed": i, "data.name": data, "model.name": model,
             "optim.lr": lr, "train.epochs": EPOCHS}
        )  # fmt: skip
        record = store.create_run(cfg, env)
        ceiling, speed = rng.uniform(0.6, 0.98), rng.uniform(0.05, 0.3)
        acc = 0.0
        for epoch in range(1, EPOCHS + 1):
            acc = ceiling * (1 - math.exp(-speed * epoch)) + rng.gauss(0, 0.01)
            loss = max(0.02, 2.3 * math.exp(-speed * epoch) + rng.gauss(0, 0.02))
            metrics = {"epoch": epoch, "step": epoch * 20, "train_loss": loss * 0.9,
                       "train_acc": min(1.0, acc + 0.02), "val_loss": loss, "val_acc": acc,
                       "lr": lr, "seconds": 0.05, "train_seconds": 0.04}  # fmt: skip
            store.log_epoch(record.id, epoch, metrics)
        summary = {"epochs": EPOCHS, "val_acc": acc, "best_val_acc": acc, "test_acc": acc - 0.01,
                   "test_loss": loss, "ece": 0.03, "train_seconds": 2.0}  # fmt: skip
        store.finish_run(record.id, "finished", summary)


def measure(n: int, folder: Path) -> tuple[float, float]:
    store = Store(folder / f"store-{n}")
    fill(store, n)
    out = folder / f"report-{n}.html"
    t0 = time.perf_counter()
    write_report(store, out, everything=True)
    seconds = time.perf_counter() - t0
    return seconds, out.stat().st_size / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    args = parser.parse_args()
    last = ""
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            seconds, mb = measure(n, Path(tmp))
            print(f"{n} runs x {EPOCHS} epochs: report in {seconds:.2f} s, {mb:.2f} MB")
            last = f"report_{n}_s={seconds:.2f} report_{n}_mb={mb:.2f}"
    print(last)


if __name__ == "__main__":
    main()
