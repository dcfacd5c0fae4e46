"""`compare_methods`: grid vs random vs TPE vs GP on one space and budget, repeated over sampler
seeds; best-so-far curves (median and spread) and the trials each needs to reach a target.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.plots.search import best_so_far, plot_method_comparison, trials_to_reach
from trainlab.plots.style import save_figure
from trainlab.search.runner import Progress, SearchSettings, check_settings, fingerprint, run_search
from trainlab.search.space import SearchSpace
from trainlab.track.store import Store
from trainlab.track.summary import Figure, Summary, Table

DEFAULT_METHODS = ("grid", "random", "tpe", "gp")


@dataclass
class MethodRuns:
    """One method's searches, one per sampler seed: values and epochs per trial, in trial order."""

    values: list[list[float | None]] = field(default_factory=list)
    epochs: list[list[int]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def curves(self, budget: int, maximize: bool) -> np.ndarray:
        rows = [best_so_far((v + [None] * budget)[:budget], maximize) for v in self.values]
        return np.array(rows)

    def finals(self, maximize: bool) -> list[float]:
        ends = [best_so_far(v, maximize)[-1] if v else np.nan for v in self.values]
        return [float(x) for x in ends if not np.isnan(x)]

    def reach(self, target: float, maximize: bool) -> list[int | None]:
        return [trials_to_reach(v, target, maximize) for v in self.values]

    def epochs_to(self, target: float, maximize: bool) -> list[int | None]:
        """Epochs trained until the best so far reached `target` (None: never)."""
        hits = self.reach(target, maximize)
        return [None if h is None else sum(e[:h]) for h, e in zip(hits, self.epochs, strict=True)]


@dataclass
class Comparison:
    name: str
    study_id: str
    dir: Path
    metric: str
    maximize: bool
    budget: int
    target: float | None
    runs: dict[str, MethodRuns]
    skipped: dict[str, str]  # method -> why it could not search this space
    summary: Summary | None = None


def compare_methods(
    base: RunConfig,
    space: SearchSpace,
    settings: SearchSettings,
    methods: tuple[str, ...] = DEFAULT_METHODS,
    repeats: int = 3,
    target: float | None = None,
    store: Store | None = None,
    progress: Progress | None = None,
) -> Comparison:
    """Run every method `repeats` times (sampler seeds 0..repeats-1) with `settings.trials` each.

    The default target is the median over seeds of random search's final best (or of all
    methods' if random is not compared). Sub-searches are named `<name>-<method>-s<seed>` and
    resume like any search.
    """
    if settings.trials is None or repeats < 1:
        raise ConfigError("compare-methods needs --trials N and --repeats K >= 1")
    skipped: dict[str, str] = {}
    for method in methods:
        try:
            check_settings(replace(settings, method=method), space, base)
            if method == "grid":
                space.grid_points(base)
        except ConfigError as exc:
            if method not in ("grid", "cmaes"):
                raise
            skipped[method] = str(exc)
    kept = [m for m in methods if m not in skipped]
    store = store or Store()
    name = settings.name or f"{base.name}-compare-{fingerprint(base, space, settings)[:8]}"
    info = {"methods": kept, "repeats": repeats, "trials": settings.trials, "prune": settings.prune}
    record = store.open_study(name, "search-compare", {**info, "space": space.raw})
    runs = {m: MethodRuns() for m in kept}
    for method in kept:
        for seed in range(repeats):
            sub = replace(settings, method=method, seed=seed, name=f"{name}-{method}-s{seed}")
            result = run_search(base, space, sub, store, progress)
            runs[method].values.append([t.value for t in result.trials])
            runs[method].epochs.append([t.epochs or 0 for t in result.trials])
            runs[method].names.append(result.name)
            for t in result.trials:
                if t.run_id:
                    store.link(record.id, t.run_id, f"{method}-s{seed}-trial-{t.number}")
    maximize = settings.maximize
    if target is None:
        pool = runs["random"].finals(maximize) if "random" in runs else []
        pool = pool or [x for r in runs.values() for x in r.finals(maximize)]
        target = statistics.median(pool) if pool else None
    out = Comparison(name, record.id, store.study_dir(record.id), settings.metric, maximize,
                     settings.trials, target, runs, skipped)  # fmt: skip
    out.summary = _summary(out)
    out.summary.write_tables(out.dir)
    store.finish_study(record.id, out.summary.to_json())
    return out


def _summary(c: Comparison) -> Summary:
    curves = {m: r.curves(c.budget, c.maximize) for m, r in c.runs.items()}
    fig = plot_method_comparison(curves, c.metric, c.maximize, c.target)
    png = save_figure(fig, c.dir / "methods")
    rows = []
    for method, r in c.runs.items():
        finals = r.finals(c.maximize)
        hits = r.reach(c.target, c.maximize) if c.target is not None else []
        got = [h for h in hits if h is not None]
        q1, q3 = np.percentile(finals, [25, 75]) if finals else (np.nan, np.nan)
        rows.append([
            method,
            statistics.median(finals) if finals else "",
            f"{q1:.4f}–{q3:.4f}",
            f"{len(got)}/{len(hits)}",
            f"{statistics.median(got):g}" if got else "",  # counts: 5.5, not 5.5000
            f"{statistics.median([sum(e) for e in r.epochs]):g}" if r.epochs else "",
        ])  # fmt: skip
    cols = ["method", f"median best {c.metric}", "IQR", "reached target", "median trials to target",
            "median epochs"]  # fmt: skip
    note = f"{len(next(iter(c.runs.values())).values) if c.runs else 0} sampler seeds per method"
    text = [
        f"Methods compared on one space with {c.budget} trials each; target {c.metric} = "
        f"{c.target:.4f} (median of random search's final best)."
        if c.target is not None
        else "No method finished a trial; no target.",
    ]
    text += [f"{m} skipped: {why}" for m, why in c.skipped.items()]
    return Summary(
        kind="search-compare",
        title=f"Search methods compared: {c.name}",
        text=text,
        tables=[Table("Methods", cols, rows, note)],
        figures=[Figure("Best so far vs trials", png.name, "Median line, interquartile band.")],
        data={
            "target": c.target,
            "budget": c.budget,
            "values": {m: r.values for m, r in c.runs.items()},
            "epochs": {m: r.epochs for m, r in c.runs.items()},
            "searches": {m: r.names for m, r in c.runs.items()},
            "skipped": c.skipped,
        },
    )
