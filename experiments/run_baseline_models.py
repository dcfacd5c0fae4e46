"""Baselines: logistic regression, MLP, CNN and GRU on MNIST-1D (and logreg/MLP/CNN on digits)
over seeds, beside the MNIST-1D paper's test accuracies (32 / 68 / 94 / 91 %).

Run: `.venv/bin/python experiments/run_baseline_models.py [--budget quick|full] [--seeds N]`.
Rerunning resumes (finished runs are reused). Figures and tables land in the study folder printed
at the end; `trainlab report --latest` shows them.
"""

from __future__ import annotations

import argparse

from trainlab import Store
from trainlab.studies import PAPER, run_baselines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--budget", default="quick", help="quick (3 seeds) or full (10 seeds)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per model [budget's]")
    p.add_argument("--workers", type=int, default=None, help="processes [cores available]")
    a = p.parse_args()
    result = run_baselines(a.budget, a.seeds, ("mnist1d", "digits"), a.workers, Store())

    table = result.summary.tables[0]  # test accuracy per model beside the paper
    col = {c: i for i, c in enumerate(table.columns)}
    for row in table.rows:
        paper = PAPER[row[col["model"]]] if row[col["data"]] == "mnist1d" else None
        shown = f"paper {paper:.2f}" if paper is not None else "no paper number"
        print(
            f"{row[col['data']]:>8} {row[col['model']]:>6}: test acc {row[col['test_acc mean']]:.3f}"
            f" ± {row[col['std']] or 0:.3f} over {row[col['n']]} seeds ({shown}),"
            f" {row[col['params']]} params, {row[col['seconds per run']]:.1f} s per run"
        )
    print("\n".join(result.summary.verdicts))
    print(f"figures and tables: {result.dir}")


if __name__ == "__main__":
    main()
