"""Optimizers and learning-rate schedules compared fairly: every variant gets the same
log-spaced learning-rate grid (judged on validation accuracy), then n seeds at its best rate.

Run: `.venv/bin/python experiments/optimizer_comparison.py [--budget quick|full]
[--optimizers sgd,momentum,adam] [--schedules constant,cosine,onecycle]`.
Rerunning resumes. The tuning curves, convergence curves (vs epoch and wall time) and the
speed/stability tables land in the study folder printed at the end.
"""

from __future__ import annotations

import argparse

from trainlab import Store
from trainlab.studies import OPTIMIZERS, SCHEDULES, run_optimizers


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--budget", default="quick", help="quick (5 rates, 20 epochs) or full")
    p.add_argument("--optimizers", default=",".join(OPTIMIZERS), help="comma-separated subset")
    p.add_argument("--schedules", default=",".join(SCHEDULES), help="comma-separated subset")
    p.add_argument("--workers", type=int, default=None, help="processes [cores available]")
    a = p.parse_args()
    result = run_optimizers(
        a.budget,
        optimizers=[o for o in a.optimizers.split(",") if o],
        schedules=[s for s in a.schedules.split(",") if s],
        workers=a.workers,
        store=Store(),
    )
    for family in ("optimizers", "schedules"):
        part = result.summary.data.get(family)
        if part:
            rates = ", ".join(f"{v} {lr:g}" for v, lr in part["chosen"].items())
            print(f"chosen learning rates ({family}): {rates}")
    for line in result.summary.text:
        print(line)
    print("\n".join(result.summary.verdicts))
    print(f"figures and tables: {result.dir}")


if __name__ == "__main__":
    main()
