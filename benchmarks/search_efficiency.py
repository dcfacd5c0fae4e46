"""Search efficiency on a real small task: the MNIST-1D CNN, four hyperparameters.

Prints (1) the median number of trials TPE and GP need to match random search's best of 64
trials (goal: <= 24), and (2) the share of epochs median pruning saves at equal best value
(goal: >= 40%). Each method runs with sampler seeds 0..repeats-1; the target is the median over
seeds of random search's best of `--trials`; TPE/GP searches stop once they reach it (or at
`--trials`, counted as not reached). "Equal best value" for pruning: TPE with and without the
median pruner both run until they reach the same target, and we compare the epochs trained.
Run: `.venv/bin/python benchmarks/search_efficiency.py [--quick] [--workers 2] [--store DIR]`
(searches are resumable: rerun with the same --store to continue an interrupted benchmark).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from trainlab import Store, load_config
from trainlab.search import SearchSettings, load_space, run_search
from trainlab.search.results import SearchResult

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "configs" / "mnist1d_cnn.yaml"
SPACE = ROOT / "configs" / "mnist1d_cnn_space.yaml"


def search(
    store: Store,
    method: str,
    seed: int,
    a: argparse.Namespace,
    prune: str = "none",
    stop_at: float | None = None,
) -> SearchResult:
    base = load_config(BASE, [f"train.epochs={a.epochs}", "train.checkpoint=none"])
    name = f"bench-{method}-{prune}-e{a.epochs}-t{a.trials}-s{seed}"
    settings = SearchSettings(
        method, a.trials, prune=prune, workers=a.workers, seed=seed, name=name, stop_at=stop_at
    )
    return run_search(base, load_space(SPACE), settings, store)


def trials_to(result: SearchResult, target: float) -> int | None:
    for i, t in enumerate(result.trials):
        if t.value is not None and t.value >= target:
            return i + 1
    return None


def epochs_to(result: SearchResult, target: float) -> int:
    """Epochs trained until the target was reached (all epochs of the search if never)."""
    hit = trials_to(result, target) or len(result.trials)
    return sum(t.epochs or 0 for t in result.trials[:hit])


def median_censored(xs: list[int | None], cap: int) -> str:
    """Median where `None` (never reached) counts as more than `cap`."""
    vals = sorted(x if x is not None else cap + 1 for x in xs)
    m = statistics.median(vals)
    return f">{cap}" if m > cap else f"{m:g}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--trials", type=int, default=64, help="random search budget (and the cap)")
    p.add_argument("--repeats", type=int, default=5, help="sampler seeds per method")
    p.add_argument("--epochs", type=int, default=8, help="epochs per trial")
    p.add_argument("--workers", type=int, default=1, help="worker processes per search")
    p.add_argument("--quick", action="store_true", help="16 trials, 2 seeds, 3 epochs")
    p.add_argument("--store", type=Path, default=None, help="keep (and resume) the runs here")
    a = p.parse_args()
    if a.quick:
        a.trials, a.repeats, a.epochs = 16, 2, 3
    store = Store(a.store or tempfile.mkdtemp(prefix="search-efficiency-"))
    t0 = time.perf_counter()
    seeds = range(a.repeats)
    random = [search(store, "random", s, a) for s in seeds]
    target = statistics.median(r.best_value or 0.0 for r in random)
    print(f"CNN on mnist1d, {len(load_space(SPACE).params)} hyperparameters ({SPACE.name}), "
          f"{a.epochs} epochs per trial, {a.repeats} sampler seeds, store {store.root}")  # fmt: skip
    print(f"random search, best val_acc of {a.trials} trials per seed: "
          f"{', '.join(f'{r.best_value:.4f}' for r in random)} -> target (median) {target:.4f}")  # fmt: skip
    found = {}
    for method in ("tpe", "gp"):
        runs = [search(store, method, s, a, stop_at=target) for s in seeds]
        found[method] = runs
        hits = [trials_to(r, target) for r in runs]
        print(f"{method}: trials to match random's best of {a.trials}: median "
              f"{median_censored(hits, a.trials)} (per seed: "
              f"{', '.join(str(h) if h else f'>{a.trials}' for h in hits)}; goal <= 24)")  # fmt: skip
    pruned = [search(store, "tpe", s, a, prune="median", stop_at=target) for s in seeds]
    plain = [epochs_to(r, target) for r in found["tpe"]]
    cut = [epochs_to(r, target) for r in pruned]
    reached = sum(trials_to(r, target) is not None for r in pruned)
    saved = 1 - statistics.median(cut) / statistics.median(plain)
    print(f"pruning (tpe, median pruner): epochs until val_acc >= {target:.4f}: median "
          f"{statistics.median(cut):g} with vs {statistics.median(plain):g} without "
          f"(per seed {cut} vs {plain}; {reached}/{a.repeats} pruned searches reached it) "
          f"-> {saved:.0%} of epochs saved (goal >= 40%)")  # fmt: skip
    print(f"wall time {time.perf_counter() - t0:.0f} s with {a.workers} worker(s) "
          "(CPU shared with other jobs: timings are noisy; trial counts and epochs are not)")  # fmt: skip


if __name__ == "__main__":
    main()
