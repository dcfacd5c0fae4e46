"""Regularization on a model that overfits and is over-confident by default (a 2x256 MLP on
MNIST-1D): none, dropout, L1, L2, weight decay, label smoothing and combinations, over seeds.
Prints each method's generalization gap and calibration error against no regularization.

Run: `python experiments/regularization_experiments.py [--full] [--seeds N] [--methods a,b]`: by
default the quick budget (9 methods, 3 seeds; about a minute on 2 cores), `--full` the paper-size
one (more methods, 8 seeds). Rerunning resumes. Reliability diagrams, gap and curve figures land
in the study folder printed at the end.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from trainlab import Store, StudyOptions
from trainlab.studies import run_regularization
from trainlab.studies.regularization import BUDGETS


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--full", action="store_true", help="the paper-size budget")
    p.add_argument("--seeds", type=int, default=None, help="seeds per method [budget's]")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run [budget's: 40]")
    p.add_argument("--methods", default=None, help="comma-separated [budget's]; none is added")
    p.add_argument("--workers", type=int, default=None, help="processes [cores available]")
    p.add_argument(
        "--store", default=None, help="run store folder [$TRAINLAB_STORE or ./trainlab-runs]"
    )
    a = p.parse_args(argv)
    budget = BUDGETS["full" if a.full else "quick"]
    if a.epochs is not None:
        budget = replace(budget, epochs=a.epochs)
    methods = a.methods.split(",") if a.methods else None
    store = Store(a.store)
    result = run_regularization(
        budget, a.seeds, methods, options=StudyOptions(workers=a.workers, store=store)
    )

    measures = result.summary.tables[0]
    col = {c: i for i, c in enumerate(measures.columns)}
    for row in measures.rows:
        print(
            f"{row[col['method']]:>28}: test acc {row[col['test acc']]:.3f}, "
            f"gap {row[col['gap (train - test)']]:.3f}, ECE {row[col['ECE']]:.3f}, "
            f"test loss {row[col['test loss']]:.3f}"
        )
    for line in result.summary.text:
        print(line)
    print(f"figures and tables: {result.dir}")
    print(f"see them: trainlab report {result.study_id} --store {store.root}")
    print(f"      or: trainlab ui --store {store.root}")


if __name__ == "__main__":
    main()
