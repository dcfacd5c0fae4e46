"""Baselines: logistic regression, MLP, CNN and GRU on MNIST-1D (and logreg/MLP/CNN on digits)
over seeds, beside the MNIST-1D paper's test accuracies (32 / 68 / 94 / 91 %).

Run: `python experiments/run_baseline_models.py [--full] [--seeds N] [--epochs N]`: by default the
quick budget (3 seeds, about a minute on 2 cores), `--full` the paper-size one (10 seeds).
Rerunning resumes (finished runs are reused). Figures and tables land in the study folder printed
at the end; the `trainlab report` command printed there shows them.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from trainlab import Store, StudyOptions
from trainlab.studies import PAPER, run_baselines
from trainlab.studies.baselines import BUDGETS


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--full", action="store_true", help="the paper-size budget (10 seeds)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per model [budget's]")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run [budget's: 40]")
    p.add_argument("--datasets", default="mnist1d,digits", help="comma-separated subset")
    p.add_argument("--workers", type=int, default=None, help="processes [cores available]")
    p.add_argument(
        "--store", default=None, help="run store folder [$TRAINLAB_STORE or ./trainlab-runs]"
    )
    a = p.parse_args(argv)
    budget = BUDGETS["full" if a.full else "quick"]
    if a.epochs is not None:
        budget = replace(budget, epochs=a.epochs)
    store = Store(a.store)
    datasets = [d for d in a.datasets.split(",") if d]
    options = StudyOptions(workers=a.workers, store=store)
    result = run_baselines(budget, a.seeds, datasets, options=options)  # a progress bar on stderr

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
    print(f"see them: trainlab report {result.study_id} --store {store.root}")
    print(f"      or: trainlab ui --store {store.root}")


if __name__ == "__main__":
    main()
