"""`trainlab suite`: the whole programme on built-in data — baselines, optimizer and regularization
studies, a hyperparameter search and every inspection — then one self-contained HTML report.

Every step resumes: studies skip finished configs, the search continues to its budget, inspections
reuse finished runs of their configs. A step that crashes is reported and the others still run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from trainlab.config import RunConfig, load_config
from trainlab.errors import ConfigError, TrainlabError, one_line
from trainlab.track.store import Store

BUDGETS = ("quick", "full")
STUDIES = ("baselines", "optimizers", "regularization")
INSPECTIONS = (
    "features",
    "attention",
    "inception",
    "residual",
    "recorder",
    "attribution",
    "spectrum",
    "similarity",
    "landscape",
)
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
    steps = tuple(dict.fromkeys(steps))  # a step named twice runs once
    store = store or Store()
    say = console or Console(stderr=True)
    started = time.perf_counter()
    done: dict[str, Step] = {}
    for name in [s for s in steps if s not in INSPECTIONS]:
        say.rule(f"[bold]{name}[/] ({budget})")
        t0 = time.perf_counter()
        try:
            ids = _STEPS[name](store, budget, workers)
            done[name] = Step(name, time.perf_counter() - t0, ids)
        except TrainlabError:
            raise  # the user's input is wrong: stop at once, one line
        except Exception as exc:  # a crash in one step must not lose the others' work
            line = one_line(exc)
            done[name] = Step(name, time.perf_counter() - t0, error=line)
            say.print(f"[red]{name} failed:[/] {line}")
            continue
        say.print(f"{name}: {done[name].seconds:.0f} s")
    looks = [s for s in steps if s in INSPECTIONS]
    if looks:
        say.rule(f"[bold]inspections[/] ({budget}): {', '.join(looks)}")
        done.update(_inspections(store, budget, looks, workers, say))
    ordered = [done[s] for s in steps]
    from trainlab.report import write_report

    refs = [sid for s in ordered for sid in s.study_ids]
    title = f"trainlab suite ({budget})"
    report = write_report(store, out=out, refs=refs, title=title) if refs else None
    path = report.path if report is not None and report.path else store.root / "report.html"
    return SuiteResult(path, ordered, time.perf_counter() - started)


def _study(kind: str) -> Callable[[Store, str, int | None], list[str]]:
    def step(store: Store, budget: str, workers: int | None) -> list[str]:
        from trainlab.inspect.seeds import add_seed_agreement
        from trainlab.studies.baselines import run_baselines
        from trainlab.studies.optimizers import run_optimizers
        from trainlab.studies.options import StudyOptions
        from trainlab.studies.regularization import run_regularization

        options = StudyOptions(workers=workers, store=store)
        if kind == "baselines":
            sid = run_baselines(budget, options=options).study_id
        elif kind == "optimizers":
            sid = run_optimizers(budget, options=options).study_id
        else:
            sid = run_regularization(budget, options=options).study_id
        add_seed_agreement(store, sid)  # the seeds of each variant compared, beside the verdicts
        return [sid]

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


# The inspections' tasks, longest first (quick, 2 cores: residual ~15 s, each attention task ~8,
# inception ~7, features ~6, recorder ~2): they run side by side on this process and the warm
# pool's workers, each on its own core, so the suite finishes when the longest lane does.
TASKS: tuple[tuple[str, str | None], ...] = (
    ("residual", None),
    ("similarity", None),  # resnet-8: 2 seeds, its plain twin, CKA per epoch
    ("landscape", None),  # resnet-8 and plainnet-8 with their epochs saved, sharpness per epoch
    ("attention", None),
    ("attention", "seq_marker"),  # decisive tokens found by content, not place
    ("inception", None),
    ("features", None),
    ("attribution", None),  # seq_pair: decisive tokens at fixed places
    ("attribution", "seq_marker"),
    ("spectrum", None),
    ("recorder", None),
)


def inspection_task(root: str, kind: str, data: str | None, budget: str) -> dict[str, Any]:
    """One inspection on the suite's default config (`data` replaces its dataset): its study id
    and seconds. Runs here or in a pool worker (`execute.pool.run_calls`)."""
    from trainlab.inspect.recipes import default_config, run_inspection

    t0 = time.perf_counter()
    cfg = default_config(kind, [f"data.name={data}"] if data else None, budget)
    study = run_inspection(kind, Store(root), cfg, budget=budget).study_id
    return {"study_id": study, "seconds": time.perf_counter() - t0}


def _inspections(
    store: Store, budget: str, kinds: list[str], workers: int | None, say: Console
) -> dict[str, Step]:
    """Every inspection in `kinds`, on every slot at once; one Step each, in TASKS order."""
    from trainlab.execute.pool import run_calls
    from trainlab.track.env import available_cores

    tasks = [(k, d) for k, d in TASKS if k in kinds]
    calls = [("trainlab.suite:inspection_task",
              {"root": str(store.root), "kind": k, "data": d, "budget": budget})
             for k, d in tasks]  # fmt: skip
    of_kind = {kind: [j for j, (k, _) in enumerate(tasks) if k == kind] for kind in kinds}
    answers: dict[int, dict[str, Any]] = {}

    def finished(i: int, answer: dict[str, Any]) -> None:
        answers[i] = answer
        kind = tasks[i][0]
        if "error" in answer:
            say.print(f"[red]{kind} failed:[/] {answer['error']}")
        elif all(j in answers for j in of_kind[kind]):
            seconds = sum(answers[j].get("seconds", 0.0) for j in of_kind[kind])
            say.print(f"{kind}: {seconds:.0f} s")

    run_calls(calls, workers or available_cores(), store.root / "suite-logs", finished)
    steps: dict[str, Step] = {}
    for kind in kinds:
        mine = [answers[j] for j in of_kind[kind]]
        errors = [a["error"] for a in mine if "error" in a]
        seconds = sum(a.get("seconds", 0.0) for a in mine)
        ids = [a["study_id"] for a in mine if "study_id" in a]
        steps[kind] = Step(kind, seconds, ids, errors[0] if errors else None)
    return steps


_STEPS: dict[str, Callable[[Store, str, int | None], list[str]]] = {
    **{k: _study(k) for k in STUDIES},
    "search": _search,
}
