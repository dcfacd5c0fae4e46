"""Regularization on a model that overfits and is over-confident by default (a 2x256 MLP on
MNIST-1D): none, dropout, L1, L2, weight decay, label smoothing and combinations, over seeds.
Prints each method's generalization gap and calibration error against no regularization.

Run: `.venv/bin/python experiments/regularization_experiments.py [--budget quick|full]`.
Rerunning resumes. Reliability diagrams, gap and curve figures land in the study folder.
"""

from __future__ import annotations

import argparse

from trainlab import Store
from trainlab.studies import run_regularization


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--budget", default="quick", help="quick (9 methods, 3 seeds) or full")
    p.add_argument("--seeds", type=int, default=None, help="seeds per method [budget's]")
    p.add_argument("--workers", type=int, default=None, help="processes [cores available]")
    a = p.parse_args()
    result = run_regularization(a.budget, a.seeds, workers=a.workers, store=Store())

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


if __name__ == "__main__":
    main()
