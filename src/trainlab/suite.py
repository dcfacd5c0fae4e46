"""`trainlab suite`: the whole programme on built-in data — baselines, optimizer and regularization
studies, a hyperparameter search and every inspection — then one self-contained HTML report.

Every step resumes: studies skip finished configs, the search continues to its budget, inspections
reuse finished runs of their configs. A step that crashes is reported and the others still run.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from trainlab.config import RunConfig, load_config
from trainlab.errors import ConfigError, TrainlabError
from trainlab.track.store import Store

BUDGETS = ("quick", "full")
STUDIES = ("baselines", "optimizers", "regularization")
INSPECTIONS = ("features", "attention", "inception", "residual", "recorder")
STEPS = (*STUDIES, "search", *INSPECTIONS)

# The suite's search: the MNIST-1D paper's CNN, four hyperparameters, TPE with median pruning
# (quick: 24 trials in about 20 s on 2 cores, best val_acc 0.95).
SEARCH_BASE = ["data.name=mnist1d", "model.name=cnn", "name=suite-search"]
SEARCH_SPACE: dict[str, Any] = {
    "optim.lr": {"log_uniform": [1e-4, 1e-1]},
    "optim.weight_decay": {"log_uniform": [1e-6, 1e-2]},
    "regularize.dropout": {"uniform": [0.0, 0.5]},
    "train.batch_size": {"int": [32, 256], "log": True},
}
SEARCH_BUDGET = {"quick": (24, 8), "full": (64, 30)}  # (trials, epochs per trial)
# Confirmation: the top K trials re-run on fresh seeds, the winner chosen on their mean val_acc.
SEARCH_CONFIRM = {"quick": (3, 3), "full": (5, 5)}  # (K trials, seeds each)


@dataclass
class Step:
    name: str
    seconds: float
    study_ids: list[str] = field(default_factory=list)
    error: str | None = None  # one line, when the step crashed


@dataclass
class SuiteResult:
    report: Path
    steps: list[Step]
    seconds: float

    @property
    def failed(self) -> list[Step]:
        return [s for s in self.steps if s.error is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            "report": str(self.report),
            "seconds": self.seconds,
            "steps": [vars(s) for s in self.steps],
        }


def run_suite(
    budget: str = "quick",
    store: Store | None = None,
    workers: int | None = None,
    out: Path | None = None,
    steps: tuple[str, ...] = STEPS,
    console: Console | None = None,
) -> SuiteResult:
    """Run (or resume) every step at `budget`, then write the report of what they stored."""
    if budget not in BUDGETS:
        raise ConfigError(f"--budget {budget!r}: choose one of {', '.join(BUDGETS)}")
    for s in steps:
        if s not in STEPS:
            raise ConfigError(f"--only {s!r}: choose from {', '.join(STEPS)}")
    from trainlab.execute import check_workers

    check_workers(workers)
    store = store or Store()
    say = console or Console(stderr=True)
    started = time.perf_counter()
    done: list[Step] = []
    for name in steps:
        say.rule(f"[bold]{name}[/] ({budget})")
        t0 = time.perf_counter()
        try:
            ids = _STEPS[name](store, budget, workers)
            done.append(Step(name, time.perf_counter() - t0, ids))
        except TrainlabError:
            raise  # the user's input is wrong: stop at once, one line
        except Exception as exc:  # a crash in one step must not lose the others' work
            line = "".join(traceback.format_exception_only(exc)).strip().splitlines()[-1]
            done.append(Step(name, time.perf_counter() - t0, error=line))
            say.print(f"[red]{name} failed:[/] {line}")
            continue
        say.print(f"{name}: {done[-1].seconds:.0f} s")
    from trainlab.report import write_report

    refs = [sid for s in done for sid in s.study_ids]
    title = f"trainlab suite ({budget})"
    report = write_report(store, out=out, refs=refs, title=title) if refs else None
    path = report.path if report is not None and report.path else store.root / "report.html"
    return SuiteResult(path, done, time.perf_counter() - started)


def _study(kind: str) -> Callable[[Store, str, int | None], list[str]]:
    def step(store: Store, budget: str, workers: int | None) -> list[str]:
        from trainlab.studies.baselines import run_baselines
        from trainlab.studies.optimizers import run_optimizers
        from trainlab.studies.regularization import run_regularization

        if kind == "baselines":
            return [run_baselines(budget, workers=workers, store=store).study_id]
        if kind == "optimizers":
            return [run_optimizers(budget, workers=workers, store=store).study_id]
        return [run_regularization(budget, workers=workers, store=store).study_id]

    return step


def _search(store: Store, budget: str, workers: int | None) -> list[str]:
    from trainlab.search import SearchSettings, parse_space, run_search
    from trainlab.track.env import available_cores

    trials, epochs = SEARCH_BUDGET[budget]
    confirm, seeds = SEARCH_CONFIRM[budget]
    base: RunConfig = load_config(None, [*SEARCH_BASE, f"train.epochs={epochs}"])
    settings = SearchSettings(
        method="tpe",
        trials=trials,
        prune="median",
        workers=workers or available_cores(),
        name=f"suite-search-{budget}",
        confirm=confirm,
        confirm_seeds=seeds,
    )
    return [run_search(base, parse_space(SEARCH_SPACE), settings, store).study_id]


def _inspection(kind: str) -> Callable[[Store, str, int | None], list[str]]:
    def step(store: Store, budget: str, workers: int | None) -> list[str]:
        from trainlab.inspect.recipes import default_config, run_inspection

        ids = [run_inspection(kind, store, budget=budget).study_id]
        if kind == "attention":  # the second task: decisive tokens found by content, not place
            cfg = default_config(kind, ["data.name=seq_marker"], budget)
            ids.append(run_inspection(kind, store, cfg, budget=budget).study_id)
        return ids

    return step


_STEPS: dict[str, Callable[[Store, str, int | None], list[str]]] = {
    **{k: _study(k) for k in STUDIES},
    "search": _search,
    **{k: _inspection(k) for k in INSPECTIONS},
}
