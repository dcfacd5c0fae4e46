"""Confirmation of a search: re-run its top K trials (chosen on validation) with fresh seeds,
pick the winner on the mean validation metric over those seeds, report its test accuracy with a
95% interval kept inside [0, 1].

A search's best trial won a maximum over many noisy values, so its own validation value is
biased upwards; fresh seeds (disjoint from the search's) give an unbiased estimate to choose on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scipy import stats as sps

from trainlab.config import RunConfig
from trainlab.execute import ExecSettings, Job, Outcome, execute
from trainlab.search.objective import restores_best, scored_epoch
from trainlab.track.store import Store
from trainlab.track.summary import Table

SEED_OFFSET = 1000  # confirm seed j of a search with base seed s is s + 1000 + j
LEVEL = 0.95

Progress = Callable[[str], None]


@dataclass
class Confirmed:
    """One re-run trial: its validation values (what chooses) and test values (reported only)."""

    trial: int
    params: dict[str, Any]
    search_value: float
    seeds: list[int]
    run_ids: list[str] = field(default_factory=list)
    values: list[float] = field(default_factory=list)  # the search metric, one per finished seed
    test_acc: list[float] = field(default_factory=list)
    failed: int = 0  # seeds that diverged or failed: counted, never dropped silently

    @property
    def mean(self) -> float | None:
        return sum(self.values) / len(self.values) if self.values else None


def confirm_seeds(base_seed: int, n: int) -> list[int]:
    """Fresh seeds, disjoint from the search's (every trial of a search uses the base seed)."""
    return [base_seed + SEED_OFFSET + j for j in range(n)]


def bounded_interval(
    values: Sequence[float], lo: float = 0.0, hi: float = 1.0
) -> tuple[float, float, float]:
    """(mean, low, high): a 95% t-interval of the mean, clipped to the metric's range [lo, hi].
    One value gives a zero-width interval."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, mean, mean
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(sps.t.ppf(0.5 + LEVEL / 2, n - 1)) * sd / math.sqrt(n)
    return mean, max(lo, mean - half), min(hi, mean + half)


def run_confirm(
    base: RunConfig,
    top: Sequence[tuple[int, dict[str, Any], float]],
    seeds: Sequence[int],
    store: Store,
    study_id: str,
    name: str,
    metric: str,
    progress: Progress | None = None,
    workers: int = 1,
    settings: ExecSettings | None = None,
) -> list[Confirmed]:
    """Run each (trial, params, value) in `top` on `seeds`, linked with role `confirm`, through
    the study executor (`settings`: this process and `workers - 1` local workers, or Ray tasks);
    a run already done in the store (same config and seed) is reused, so a rerun resumes."""
    jobs = [
        Job(f"trial-{number}", base.with_overrides(
            {**params, "seed": seed, "name": f"{name}-confirm-{number}"}), role="confirm")
        for number, params, _ in top
        for seed in seeds
    ]  # fmt: skip

    def say(outcome: Outcome | None, done: int, total: int) -> None:
        if outcome is not None and progress is not None:
            progress(_line(outcome, _scored(store, outcome, metric), metric))

    outcomes = execute(store, study_id, jobs, workers, say, settings=settings or ExecSettings())
    out = []
    for i, (number, params, value) in enumerate(top):
        c = Confirmed(number, dict(params), value, list(seeds))
        for outcome in outcomes[i * len(seeds) : (i + 1) * len(seeds)]:
            scored = _scored(store, outcome, metric)
            if outcome.reused and progress is not None:
                progress(f"{_line(outcome, scored, metric)} (stored)")
            if outcome.run is not None:
                c.run_ids.append(outcome.run.id)
            if scored is None or outcome.run is None:
                c.failed += 1
            else:
                c.values.append(scored)
                c.test_acc.append(float(outcome.run.summary["test_acc"]))
        out.append(c)
    return out


def _scored(store: Store, outcome: Outcome, metric: str) -> float | None:
    """The metric of the weights a finished confirmation run is tested with (None: unfinished)."""
    run = outcome.run
    epochs = store.epochs(run.id) if run is not None else []
    if run is None or run.status != "finished" or not epochs:
        return None
    return float(scored_epoch(epochs, restores_best(run.config, run.status))[metric])


def _line(outcome: Outcome, scored: float | None, metric: str) -> str:
    number = outcome.job.variant.removeprefix("trial-")
    shown = outcome.status if scored is None else f"{scored:.4f}"
    return f"confirm trial {number} seed {outcome.job.config.seed}: {metric} {shown}"


def winner(confirmed: Sequence[Confirmed], maximize: bool) -> Confirmed | None:
    """The trial of best mean validation over the confirm seeds (the better search value on ties)."""
    done = [c for c in confirmed if c.mean is not None]
    if not done:
        return None
    sign = -1.0 if maximize else 1.0
    return min(done, key=lambda c: (sign * float(c.mean or 0.0), sign * c.search_value, c.trial))


def confirm_table(confirmed: Sequence[Confirmed], metric: str, chosen: Confirmed | None) -> Table:
    cols = ["trial", "search value", f"mean {metric}", "finished", "test_acc", "test_acc 95% CI"]
    rows: list[list[Any]] = []
    for c in confirmed:
        test = bounded_interval(c.test_acc) if c.test_acc else None
        rows.append(
            [
                f"{c.trial}{' (winner)' if c is chosen else ''}",
                round(c.search_value, 4),
                round(c.mean, 4) if c.mean is not None else "",
                f"{len(c.values)} of {len(c.seeds)}",
                round(test[0], 4) if test else "",
                f"[{test[1]:.4f}, {test[2]:.4f}]" if test else "",
            ]
        )
    note = (
        f"top {len(confirmed)} trials by search value re-run on fresh seeds {confirmed[0].seeds}; "
        f"winner = best mean {metric} over those seeds; test_acc reported only (mean, 95% "
        "t-interval clipped to [0, 1])"
        if confirmed
        else ""
    )
    return Table("Confirmation on fresh seeds", cols, rows, note)


def describe_winner(c: Confirmed, metric: str) -> str:
    mean, lo, hi = bounded_interval(c.test_acc)
    failed = f"; {c.failed} seed(s) did not finish" if c.failed else ""
    return (
        f"Confirmed winner: trial {c.trial}, mean {metric} {c.mean:.4f} over {len(c.values)} fresh "
        f"seeds; test_acc {mean:.4f}, 95% CI [{lo:.4f}, {hi:.4f}] (t-interval clipped to [0, 1])"
        f"{failed}."
    )
