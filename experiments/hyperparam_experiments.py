"""Hyperparameter search with trainlab: a TPE search with median pruning on the MNIST-1D CNN,
then grid vs random vs TPE vs GP on the same space and budget over a few sampler seeds.

Run: `python experiments/hyperparam_experiments.py [--full] [--workers 2]`: by default the quick
budget (6 trials of 2 epochs, then 4 methods x 2 seeds x 3 trials; 1-2 minutes on 2 cores),
`--full` the paper-size one (32 trials of 10 epochs, then 4 methods x 3 seeds x 16 trials).
Two workers each train with one thread: on two cores that is the fastest setting for the search.
Rerunning resumes the searches (same names). The figures, tables and `best.yaml` land in the
study folders printed at the end; `trainlab report` (or `trainlab search show NAME`) shows them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trainlab import Store, load_config
from trainlab.progress import progress_bar
from trainlab.search import SearchSettings, compare_methods, load_space, run_search

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("grid", "random", "tpe", "gp")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--full", action="store_true", help="the paper-size budget")
    p.add_argument("--epochs", type=int, default=None, help="epochs per trial [budget's]")
    p.add_argument("--trials", type=int, default=None, help="trials of the search [budget's]")
    p.add_argument("--repeats", type=int, default=None, help="sampler seeds per method [budget's]")
    p.add_argument("--workers", type=int, default=2, help="parallel worker processes")
    p.add_argument(
        "--store", default=None, help="run store folder [$TRAINLAB_STORE or ./trainlab-runs]"
    )
    a = p.parse_args(argv)
    epochs, trials, repeats = (10, 32, 3) if a.full else (2, 6, 2)
    epochs, trials, repeats = a.epochs or epochs, a.trials or trials, a.repeats or repeats
    base = load_config(ROOT / "configs" / "mnist1d_cnn.yaml", [f"train.epochs={epochs}"])
    space = load_space(ROOT / "configs" / "mnist1d_cnn_space.yaml")
    store = Store(a.store)
    per_method = max(1, trials // 2)

    with progress_bar("search", total=trials + len(METHODS) * repeats * per_method) as bar:
        # 1. One search: TPE with median pruning on validation accuracy (test never chooses).
        bar.doing(f"TPE search, {trials} trials")
        settings = SearchSettings(
            "tpe", trials, prune="median", workers=a.workers, name=f"cnn-tpe-{trials}-e{epochs}"
        )
        result = run_search(base, space, settings, store, progress=bar.trial)

        # 2. Methods compared on the same space and budget, over sampler seeds 0..repeats-1.
        # Each sub-search is short: one in-process worker, no process start-up per search.
        bar.doing(f"{', '.join(METHODS)} x {repeats} seeds x {per_method} trials")
        compare = SearchSettings(trials=per_method, name=f"cnn-methods-{per_method}-e{epochs}")
        cmp = compare_methods(base, space, compare, METHODS, repeats, store=store,
                              progress=bar.trial)  # fmt: skip

    best = result.best
    assert best is not None
    pruned = sum(t.state == "PRUNED" for t in result.trials)
    print(f"TPE search: best val_acc {best.value:.4f} (trial {best.number}, run {best.run_id});"
          f" {pruned} of {len(result.trials)} trials pruned")  # fmt: skip
    print(f"best config: {result.best_config_path}  ->  trainlab run {result.best_config_path}")
    assert cmp.summary is not None
    print(cmp.summary.tables[0].markdown())
    print(f"figures and tables: {result.dir} and {cmp.dir}")
    print(f"see them: trainlab report {result.study_id} {cmp.study_id} --store {store.root}")
    print(f"      or: trainlab ui --store {store.root}")


if __name__ == "__main__":
    main()
