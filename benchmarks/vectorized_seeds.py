"""Seeds as one vectorized model vs the local pool: runs per second for k seeds of one config of
the mnist1d MLP and CNN, both ways in the same run (same machine, same load).

"pool" trains the k seeds as k lone runs on the warm local pool (default workers: one per core,
this process included); "vectorized" trains them as one stacked model per worker slot. Each
measurement uses a fresh store (nothing reused); both ways are warmed up first so neither pays
for starting workers or for the first calls of each kernel (once per process). Other work on the machine lowers both numbers; the load average is
printed. Last line: `speedup_k8_mlp=<x>` (goal >= 3 on 2 cores).
Run: `.venv/bin/python benchmarks/vectorized_seeds.py [--epochs 10] [--ks 1,4,8,16]`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from trainlab import RunConfig, Store
from trainlab.execute import ExecSettings, Job, execute
from trainlab.track.env import available_cores

MODELS = {"mlp": {"name": "mlp"}, "cnn": {"name": "cnn"}}  # the MNIST-1D paper's models


def rate(base: RunConfig, k: int, vectorize: str, root: Path) -> float:
    """Runs per second of k seeds of `base` in a fresh store."""
    store = Store(root)
    study = store.open_study(f"k{k}-{vectorize}", "grid", {})
    jobs = [Job("v", base.with_overrides({"seed": s})) for s in range(k)]
    start = time.perf_counter()
    outcomes = execute(store, study.id, jobs, settings=ExecSettings(vectorize=vectorize))
    seconds = time.perf_counter() - start
    assert all(o.status == "finished" for o in outcomes), [o.error for o in outcomes]
    return k / seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=int, default=10, help="epochs per run")
    p.add_argument("--ks", default="1,4,8,16", help="comma-separated seed counts (include 8)")
    p.add_argument("--models", default="mlp,cnn", help="comma-separated: mlp, cnn")
    a = p.parse_args()
    ks = [int(k) for k in a.ks.split(",")]
    print(f"{available_cores()} cores; load average before: {os.getloadavg()[0]:.2f}")
    speedups: dict[tuple[str, int], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.models.split(","):
            base = RunConfig.model_validate(
                {"data": {"name": "mnist1d"}, "model": MODELS[name],
                 "train": {"epochs": a.epochs, "checkpoint": "none"}}
            )  # fmt: skip
            warm = base.with_overrides({"train.epochs": 1})  # start workers, first kernel calls
            rate(warm, 2, "off", Path(tmp) / f"warm-{name}-pool")
            rate(warm, 4, "auto", Path(tmp) / f"warm-{name}-vec")
            for k in ks:
                pool = rate(base, k, "off", Path(tmp) / f"{name}-{k}-pool")
                vec = rate(base, k, "auto", Path(tmp) / f"{name}-{k}-vec")
                speedups[name, k] = vec / pool
                print(f"{name} k={k:2d}: pool {pool:.2f} runs/s, vectorized {vec:.2f} runs/s, "
                      f"speed-up {vec / pool:.2f}x")  # fmt: skip
    print(f"load average after: {os.getloadavg()[0]:.2f} (other work on the machine counts here)")
    print(f"speedup_k8_mlp={speedups.get(('mlp', 8), float('nan')):.2f}")


if __name__ == "__main__":
    main()
