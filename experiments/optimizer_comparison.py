"""Optimizers and learning-rate schedules compared fairly: every variant gets the same
log-spaced learning-rate grid (judged on validation accuracy), then n seeds at its best rate.

Run: `python experiments/optimizer_comparison.py [--full] [--optimizers sgd,momentum,adam]
[--schedules constant,cosine,onecycle]`: by default the quick budget (5 rates, 20 epochs, 3 seeds;
under a minute on 2 cores), `--full` the paper-size one (9 rates, 40 epochs, 5 seeds).
Rerunning resumes. The tuning curves, convergence curves (vs epoch and wall time) and the
speed/stability tables land in the study folder printed at the end.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from trainlab import Store, StudyOptions
from trainlab.studies import OPTIMIZERS, SCHEDULES, run_optimizers
from trainlab.studies.optimizers import BUDGETS


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--full", action="store_true", help="the paper-size budget")
    p.add_argument("--optimizers", default=",".join(OPTIMIZERS), help="comma-separated subset")
    p.add_argument("--schedules", default=",".join(SCHEDULES), help="comma-separated ('' none)")
    p.add_argument("--seeds", type=int, default=None, help="seeds at the chosen rates [budget's]")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run [budget's]")
    p.add_argument("--workers", type=int, default=None, help="processes [cores available]")
    p.add_argument(
        "--store", default=None, help="run store folder [$TRAINLAB_STORE or ./trainlab-runs]"
    )
    a = p.parse_args(argv)
    budget = BUDGETS["full" if a.full else "quick"]
    if a.epochs is not None:
        budget = replace(budget, epochs=a.epochs)
    store = Store(a.store)
    result = run_optimizers(
        budget,
        a.seeds,
        optimizers=[o for o in a.optimizers.split(",") if o],
        schedules=[s for s in a.schedules.split(",") if s],
        options=StudyOptions(workers=a.workers, store=store),
    )  # two progress bars on stderr: tuning, then the seeds at the chosen rates
    for family in ("optimizers", "schedules"):
        part = result.summary.data.get(family)
        if part:
            rates = ", ".join(f"{v} {lr:g}" for v, lr in part["chosen"].items())
            print(f"chosen learning rates ({family}): {rates}")
    for line in result.summary.text:
        print(line)
    print("\n".join(result.summary.verdicts))
    print(f"figures and tables: {result.dir}")
    print(f"see them: trainlab report {result.study_id} --store {store.root}")
    print(f"      or: trainlab ui --store {store.root}")


if __name__ == "__main__":
    main()
