"""Hyperparameter search with trainlab: a TPE search with median pruning on the MNIST-1D CNN,
then grid vs random vs TPE vs GP on the same space and budget over a few sampler seeds.

Run: `.venv/bin/python experiments/hyperparam_experiments.py [--quick] [--workers 1]`.
Two workers (the default) each train with one thread: on two cores that is the fastest setting
and the least disturbed by other jobs.
Rerunning resumes the searches (same names). The figures, tables and `best.yaml` land in the
study folders printed at the end; `trainlab report` (or `trainlab search show NAME`) shows them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trainlab import Store, load_config
from trainlab.search import SearchSettings, TrialRecord, compare_methods, load_space, run_search

ROOT = Path(__file__).resolve().parents[1]


def show(t: TrialRecord) -> None:
    value = f"{t.value:.4f}" if t.value is not None else t.state.lower()
    params = ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items()
    )
    print(f"  trial {t.number:>2}: {value:>8}  {params}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny budgets: about a minute on 2 cores")
    p.add_argument("--workers", type=int, default=2, help="parallel worker processes")
    a = p.parse_args()
    epochs, trials, repeats = (3, 8, 2) if a.quick else (10, 32, 3)  # epochs per trial
    base = load_config(ROOT / "configs" / "mnist1d_cnn.yaml", [f"train.epochs={epochs}"])
    space = load_space(ROOT / "configs" / "mnist1d_cnn_space.yaml")
    store = Store()

    # 1. One search: TPE with median pruning on validation accuracy (test accuracy never chooses).
    settings = SearchSettings(
        "tpe", trials, prune="median", workers=a.workers, name=f"cnn-tpe-{trials}"
    )
    result = run_search(base, space, settings, store, progress=show)
    best = result.best
    assert best is not None
    pruned = sum(t.state == "PRUNED" for t in result.trials)
    print(
        f"best val_acc {best.value:.4f} (trial {best.number}, run {best.run_id}); {pruned} pruned"
    )
    print(f"best config: {result.best_config_path}  ->  trainlab run {result.best_config_path}")

    # 2. Methods compared on the same space and budget, over sampler seeds 0..repeats-1.
    compare = SearchSettings(
        trials=trials // 2, workers=a.workers, name=f"cnn-methods-{trials // 2}"
    )
    cmp = compare_methods(
        base, space, compare, ("grid", "random", "tpe", "gp"), repeats, store=store
    )
    assert cmp.summary is not None
    print(cmp.summary.tables[0].markdown())
    print(f"figures: {result.dir} and {cmp.dir}")


if __name__ == "__main__":
    main()
