"""Search efficiency on a real small task: the MNIST-1D CNN, four hyperparameters.

Prints (1) the median number of trials TPE and GP need to match random search's best of 64
trials (goal: <= 24), and (2) the share of epochs pruning saves at equal best value (goal:
>= 40%). Every number printed is measured in this run.

Method. Each method runs with sampler seeds 0..repeats-1 on configs/mnist1d_cnn_space.yaml
(optim.lr, optim.weight_decay, regularize.dropout, train.batch_size), `--epochs` per trial. The
target is the median over seeds of random search's best val_acc in `--trials` trials. TPE and GP
searches stop once their best reaches the target (or after `--trials`: "never", counted as more
than `--trials`, which is how the median treats it). "Equal best value" for pruning: TPE with
and without a pruner (same sampler seeds) both run until they reach the same target, and we
compare the epochs they trained on the way (a pruned trial counts the epochs it ran).
Run: `.venv/bin/python benchmarks/search_efficiency.py [--quick] [--workers 2] [--store DIR]`
(searches are resumable: rerun with the same --store to continue an interrupted benchmark).
"""

from __future__ import annotations

import argparse
import math
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
TRIALS_GOAL = 24  # trials TPE/GP may take to match random's best of 64
SAVED_GOAL = 0.40  # share of epochs pruning should save at equal best value
VERDICTS = {0: "not met", 1: "met by one of the two summaries", 2: "met"}


def search(
    store: Store,
    method: str,
    seed: int,
    a: argparse.Namespace,
    prune: str = "none",
    stop_at: float | None = None,
) -> SearchResult:
    # One torch thread per trial: as fast for this small CNN, and immune to a busy machine (two
    # threads on two shared cores measured up to 50x slower per epoch when another job runs).
    overrides = [f"train.epochs={a.epochs}", "train.checkpoint=none", "train.threads=1"]
    base = load_config(BASE, overrides)
    name = f"bench-{method}-{prune}-e{a.epochs}-t{a.trials}-s{seed}"
    settings = SearchSettings(
        method, a.trials, prune=prune, workers=a.workers, seed=seed, name=name, stop_at=stop_at
    )
    return run_search(base, load_space(SPACE), settings, store)


def trials_to(result: SearchResult, target: float) -> int | None:
    """Trials run (pruned and failed ones included) until the best reached `target`."""
    for i, t in enumerate(result.trials):
        if t.value is not None and t.value >= target:
            return i + 1
    return None


def epochs_to(result: SearchResult, target: float) -> int | None:
    """Epochs trained until the best reached `target` (None: never)."""
    hit = trials_to(result, target)
    return None if hit is None else sum(t.epochs or 0 for t in result.trials[:hit])


def censored_median(xs: list[int | None]) -> float:
    """Median where None (never reached) ranks above every number: inf if it is the median."""
    return statistics.median([math.inf if x is None else x for x in xs])


def show(x: float, never: str) -> str:
    return never if math.isinf(x) else f"{x:g}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--trials", type=int, default=64, help="random search budget (and the cap)")
    p.add_argument("--repeats", type=int, default=3, help="sampler seeds per method")
    p.add_argument("--epochs", type=int, default=6, help="epochs per trial")
    p.add_argument("--workers", type=int, default=1, help="worker processes per search")
    p.add_argument("--methods", default="tpe,gp", help="model-based methods to compare")
    p.add_argument("--prune", default="median", help="pruners to compare, e.g. median,hyperband")
    p.add_argument("--quick", action="store_true", help="16 trials, 2 seeds, 3 epochs")
    p.add_argument("--store", type=Path, default=None, help="keep (and resume) the runs here")
    a = p.parse_args()
    if a.quick:
        a.trials, a.repeats, a.epochs = 16, 2, 3
    store = Store(a.store or tempfile.mkdtemp(prefix="search-efficiency-"))
    t0 = time.perf_counter()
    seeds = range(a.repeats)
    n_params = len(load_space(SPACE).params)
    print(f"CNN on mnist1d, {n_params} hyperparameters ({SPACE.name}), {a.epochs} epochs per "
          f"trial, {a.repeats} sampler seeds, {a.workers} worker(s), store {store.root}")  # fmt: skip
    random = [search(store, "random", s, a) for s in seeds]
    bests = [r.best_value for r in random if r.best_value is not None]
    target = statistics.median(bests)
    print(f"random: best val_acc of {a.trials} trials per seed "
          f"{', '.join(f'{b:.4f}' for b in bests)} -> target (median) {target:.4f}")  # fmt: skip
    never = f">{a.trials}"
    tpe: list[SearchResult] = []
    for method in [m.strip() for m in a.methods.split(",") if m.strip()]:
        runs = [search(store, method, s, a, stop_at=target) for s in seeds]
        tpe = runs if method == "tpe" else tpe
        hits = [trials_to(r, target) for r in runs]
        med = censored_median(hits)
        verdict = "met" if med <= TRIALS_GOAL else "not met"
        print(f"{method}: trials to match random's best of {a.trials}: median {show(med, never)} "
              f"(per seed {', '.join(str(h) if h else never for h in hits)}; "
              f"goal <= {TRIALS_GOAL}: {verdict})")  # fmt: skip
    if not tpe:
        tpe = [search(store, "tpe", s, a, stop_at=target) for s in seeds]
    plain = [epochs_to(r, target) for r in tpe]
    for pruner in [x.strip() for x in a.prune.split(",") if x.strip()]:
        pruned = [search(store, "tpe", s, a, prune=pruner, stop_at=target) for s in seeds]
        cut = [epochs_to(r, target) for r in pruned]
        n_pruned = [sum(t.state == "PRUNED" for t in r.trials) for r in pruned]
        with_med, without_med = censored_median(cut), censored_median(plain)
        never_e = "never"
        print(f"pruning (tpe, {pruner} pruner): epochs until val_acc >= {target:.4f}: median "
              f"{show(with_med, never_e)} with vs {show(without_med, never_e)} without "
              f"(per seed {[c if c is not None else never_e for c in cut]} vs "
              f"{[c if c is not None else never_e for c in plain]}; trials pruned per seed "
              f"{n_pruned})")  # fmt: skip
        # Two summaries of the same pairs (same sampler seed with and without the pruner):
        # 1 - median(with) / median(without), and the median of each seed's own saving.
        if math.isinf(with_med) or math.isinf(without_med):
            print("  epochs saved: n/a (a median search never reached the target)")
            continue
        ratio = 1 - with_med / without_med
        paired = [1 - c / q for c, q in zip(cut, plain, strict=True) if c and q]
        each = statistics.median(paired) if paired else math.nan
        print(f"  epochs saved: {ratio:.0%} (ratio of medians), {each:.0%} (median of per-seed "
              f"savings {', '.join(f'{x:.0%}' for x in paired)}); goal >= {SAVED_GOAL:.0%}: "
              f"{VERDICTS[sum(x >= SAVED_GOAL for x in (ratio, each))]}")  # fmt: skip
    print(f"wall time {time.perf_counter() - t0:.0f} s with {a.workers} worker(s) "
          "(CPU shared with other jobs: timings are noisy; trial counts and epochs are not)")  # fmt: skip


if __name__ == "__main__":
    main()
