"""Study throughput: the same small study run with the default workers (one process per core, one
thread each) and with one worker (in this process, all cores as threads), in the same run.

Prints runs/s for both and their ratio (target >= 1.9 on 2 cores) and when the first run began
(target <= 0.5 s: this process trains while its workers start). Vectorized seeds are off here:
this measures the pool. Wall time includes starting the worker processes. Each mode gets its own fresh store, so nothing is reused. The load average
is printed too: other work on the machine lowers both numbers and the ratio.
Run: `.venv/bin/python benchmarks/sweep_throughput.py [--runs 40] [--epochs 20]`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from trainlab import RunConfig, Store, StudyOptions
from trainlab.execute import ExecSettings, use
from trainlab.studies import run_grid
from trainlab.track.env import available_cores

TARGET = 1.9  # default-workers throughput over one worker, on 2 cores
FIRST_RUN = 0.5  # seconds from the study's start to its first run's start
LRS = (0.001, 0.003, 0.01, 0.03)


def measure(base: RunConfig, seeds: int, workers: int | None, root: Path) -> tuple[int, float]:
    """(runs, wall seconds) of one study in a fresh store; also prints where the time went."""
    vary = [f"optim.lr={','.join(str(lr) for lr in LRS)}"]
    start, wall = time.perf_counter(), time.time()
    with use(ExecSettings(vectorize="off")):
        result = run_grid(base, vary, seeds, options=StudyOptions(
            workers=workers, store=Store(root), name="throughput", progress=False))  # fmt: skip
    seconds = time.perf_counter() - start
    assert result.counts["finished"] == result.counts["runs"], result.counts
    runs = [o.run for o in result.outcomes if o.run is not None]
    first = min(r.created for r in runs) - wall  # process start-up before the first run began
    mean = sum(r.seconds or 0.0 for r in runs) / len(runs)
    verdict = "meets" if first <= FIRST_RUN else "above"
    print(f"  first run began after {first:.2f} s ({verdict} the {FIRST_RUN} s target); "
          f"{mean:.2f} s per run on average")  # fmt: skip
    return result.counts["runs"], seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=40, help="runs per study (a multiple of 4)")
    p.add_argument("--epochs", type=int, default=20, help="epochs per run (MLP on mnist1d)")
    p.add_argument(
        "--serial-threads",
        type=int,
        default=None,
        help="threads of the one-worker run [default: all cores, the thread rule for 1 worker]",
    )
    a = p.parse_args()
    if a.serial_threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(a.serial_threads)  # read by every in-process run
    base = RunConfig.model_validate(
        {"data": {"name": "mnist1d"}, "model": {"name": "mlp"},
         "train": {"epochs": a.epochs, "checkpoint": "none"}}
    )  # fmt: skip
    seeds = max(1, a.runs // len(LRS))
    cores = available_cores()
    serial = a.serial_threads or cores
    print(f"{cores} cores; load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        n1, t1 = measure(base, seeds, 1, Path(tmp) / "one")
        rate = f"{n1} runs in {t1:.1f} s = {n1 / t1:.2f} runs/s"
        print(f"1 worker ({serial} thread{'s' * (serial > 1)}, in process): {rate}")
        os.environ.pop("OMP_NUM_THREADS", None)  # the workers get theirs from the thread rule
        nd, td = measure(base, seeds, None, Path(tmp) / "default")
        print(f"{cores} workers (1 thread each): {nd} runs in {td:.1f} s = {nd / td:.2f} runs/s")
    ratio = (nd / td) / (n1 / t1)
    verdict = "meets" if ratio >= TARGET else "below"
    print(f"ratio {ratio:.2f}x ({verdict} the {TARGET}x target on 2 cores)")
    print(f"load average after: {os.getloadavg()[0]:.2f} (other work on the machine counts here)")


if __name__ == "__main__":
    main()
