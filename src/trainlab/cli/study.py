"""`trainlab study baselines|optimizers|regularization|grid`: comparison studies over seeds."""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from trainlab.cli.app import (
    JsonOpt,
    StoreOpt,
    WorkersOpt,
    app,
    err,
    fmt,
    open_store,
    out,
    print_json,
    split_config,
)
from trainlab.cli.options import Execution, takes

if TYPE_CHECKING:
    from trainlab.config import RunConfig
    from trainlab.studies import StudyResult
    from trainlab.track.store import Store

study_app = typer.Typer(
    help="Comparison studies over seeds, run in parallel; rerun the same command to resume.",
    no_args_is_help=True,
)
app.add_typer(study_app, name="study")

BudgetOpt = Annotated[str, typer.Option(help="quick (minutes on 2 cores) | full")]
SeedsOpt = Annotated[int | None, typer.Option(help="Seeds per variant (default: the budget's)")]
RecordOpt = Annotated[
    int | None,
    typer.Option("--record", help="Flight recorder: per-layer stats every N steps in each run"),
]
NameOpt = Annotated[
    str | None, typer.Option(help="Study name; rerunning a name resumes it (default: derived)")
]


ConfigArg = Annotated[
    Path | None, typer.Argument(help="Base experiment YAML (default: the study's own setup)")
]
OverridesArg = Annotated[
    list[str] | None, typer.Argument(help="field=value overrides of the base config")
]
MinEffectOpt = Annotated[
    float | None,
    typer.Option(help="Smallest difference that matters: adds a TOST equivalence verdict"),
]
DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data",
        help="Comma-separated datasets, each a workload running the whole study, e.g. "
        "mnist1d,digits; 2 or more add performance profiles and IQM aggregates (default: the base config's dataset)",
    ),
]
SelectionOpt = Annotated[
    int,
    typer.Option(
        help="Seeds per variant (1000+, never tested) on which the best is chosen; 0: none"
    ),
]
TargetOpt = Annotated[
    float | None,
    typer.Option(help="Validation accuracy for time-to-target (default: the reference's median)"),
]


# The names of studies.regularization's METHODS and MORE (the full budget's), spelled out here
# so that `--help` needs no torch or matplotlib; a test keeps the two lists equal.
METHODS = ("none", "dropout 0.1", "dropout 0.2", "dropout 0.3", "dropout 0.5", "l1 1e-4", "l1 1e-3",
           "l2 1e-4", "l2 1e-3", "weight decay 0.1", "label smoothing 0.1", "label smoothing 0.2",
           "dropout 0.2 + l2 1e-3", "dropout 0.2 + smoothing 0.1",
           "dropout 0.2 + l2 1e-3 + smoothing 0.1")  # fmt: skip
METHOD_NAMES = " | ".join(METHODS)


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _datasets(text: str | None) -> list[str] | None:
    return None if text is None else _split(text)


def _base(
    config: Path | None, overrides: list[str] | None, default: dict[str, Any] | None = None
) -> RunConfig | None:
    """The base config from an optional YAML and `field=value` overrides (None: neither given).
    Without a YAML the overrides apply to the study's own setup `default`. A first positional
    with `=` that is not a file is an override."""
    from trainlab.config import RunConfig, load_config, parse_overrides

    config, items = split_config(config, overrides)
    if config is None and not items:
        return None
    if config is None and default is not None:
        return RunConfig.model_validate(default).with_overrides(parse_overrides(items))
    return load_config(config, items)


def _run(kind: str, store: Path | None, study: Callable[[Any], StudyResult]) -> StudyResult:
    """Run a study; on Ctrl-C print one line (what finished, what was interrupted, how to
    resume) and exit 130."""
    opened = open_store(store)
    before = {s.id for s in opened.list_studies(kind) if s.status == "running"}
    try:
        result = study(opened)
        _across_seeds(opened, result)
        return result
    except KeyboardInterrupt:
        running = [s for s in opened.list_studies(kind) if s.status == "running"]
        ours = [s for s in running if s.id not in before] or running[:1]
        for s in ours:  # not left `running`: its summary (from an earlier finish) is kept
            opened.finish_study(s.id, s.summary, status="interrupted")
        done = "no study was opened"
        if ours:
            runs = {link.run.id: link.run.status for link in opened.study_links(ours[0].id)}
            ok = sum(st in ("finished", "diverged") for st in runs.values())
            done = (f"study {ours[0].name}: {ok} runs done, the runs in progress were stopped "
                    "(stored as interrupted)")  # fmt: skip
        resume = shlex.join(["trainlab", *sys.argv[1:]])
        print(f"interrupted: {done}; resume with: {resume}", file=sys.stderr)
        raise typer.Exit(130) from None


def _across_seeds(store: Store, result: StudyResult) -> None:
    """Compare the seeds of each variant (CKA per layer, attribution maps) and store the numbers
    in the study's summary, for the report and the dashboard to show beside the verdicts."""
    from trainlab.inspect.seeds import KEY, add_seed_agreement

    started = time.perf_counter()
    found = add_seed_agreement(store, result.study_id)
    result.summary.data[KEY] = found
    print(
        f"across seeds: {len(found['variants'])} variant(s) compared, "
        f"{len(found['skipped'])} not ({time.perf_counter() - started:.1f} s)",
        file=sys.stderr,
    )


@study_app.command("baselines")
@takes("execution", Execution)
def baselines(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    budget: BudgetOpt = "quick",
    seeds: SeedsOpt = None,
    datasets: Annotated[str, typer.Option(help="Comma-separated: mnist1d, digits")] = (
        "mnist1d,digits"
    ),
    workers: WorkersOpt = None,
    execution: Execution = Execution(),  # the six execution options (cli/options.py)
    name: NameOpt = None,
    record: RecordOpt = None,
    min_effect: MinEffectOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """logreg, MLP, CNN and GRU over seeds beside the MNIST-1D paper, each against the MLP."""
    from trainlab.studies import StudyOptions, run_baselines

    base = _base(config, overrides)
    with execution.context():
        result = _run("baselines", store, lambda st: run_baselines(
            budget, seeds, _split(datasets), base=base, options=StudyOptions(
                workers=workers, store=st, name=name, record=record, min_effect=min_effect)))  # fmt: skip
    _show(result, as_json)


@study_app.command("optimizers")
@takes("execution", Execution)
def optimizers(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    budget: BudgetOpt = "quick",
    seeds: SeedsOpt = None,
    optimizers: Annotated[
        str,
        typer.Option(
            help="Comma-separated subset of sgd, momentum, nesterov, adam, adamw, rmsprop, "
            "adagrad; optimizer+schedule (adamw+cosine) gives that one its own schedule"
        ),
    ] = "sgd,momentum,nesterov,adam,adamw,rmsprop,adagrad",
    schedules: Annotated[
        str,
        typer.Option(
            help="Comma-separated subset of constant, step, cosine, onecycle, warmup_cosine "
            "('' for none)"
        ),
    ] = "constant,step,cosine,onecycle,warmup_cosine",
    schedule: Annotated[str, typer.Option(help="The schedule every optimizer uses")] = "constant",
    optimizer: Annotated[str, typer.Option(help="The optimizer every schedule uses")] = "momentum",
    target: TargetOpt = None,
    data: DataOpt = None,
    tuning: Annotated[
        str,
        typer.Option(help="grid (the budget's rates, bracketed) | quasirandom (AlgoPerf-style)"),
    ] = "grid",
    workers: WorkersOpt = None,
    execution: Execution = Execution(),  # the six execution options (cli/options.py)
    name: NameOpt = None,
    record: RecordOpt = None,
    min_effect: MinEffectOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Optimizers and schedules, each tuned the same way on validation, then over fresh seeds."""
    from trainlab.studies import StudyOptions, run_optimizers
    from trainlab.studies.optimizers import BASE

    base = _base(config, overrides, BASE)
    with execution.context():
        result = _run("optimizers", store, lambda st: run_optimizers(
            budget, seeds, _split(optimizers), _split(schedules), schedule, optimizer, target,
            base=base, tuning=tuning, data=_datasets(data), options=StudyOptions(
                workers=workers, store=st, name=name, record=record, min_effect=min_effect)))  # fmt: skip
    _show(result, as_json)


@study_app.command("regularization")
@takes("execution", Execution)
def regularization(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    budget: BudgetOpt = "quick",
    seeds: SeedsOpt = None,
    methods: Annotated[
        str | None,
        typer.Option(
            help=f"Comma-separated method names, e.g. 'dropout 0.5,l2 1e-3', of: {METHOD_NAMES}"
            " (default: the budget's); `none` is added"
        ),
    ] = None,
    target: TargetOpt = None,
    data: DataOpt = None,
    selection_seeds: SelectionOpt = 1,
    workers: WorkersOpt = None,
    execution: Execution = Execution(),  # the six execution options (cli/options.py)
    name: NameOpt = None,
    record: RecordOpt = None,
    min_effect: MinEffectOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Dropout, L1, L2, weight decay, label smoothing and combinations, each against `none`."""
    from trainlab.studies import StudyOptions, run_regularization
    from trainlab.studies.regularization import BASE

    chosen = _split(methods) if methods is not None else None
    base = _base(config, overrides, BASE)
    with execution.context():
        result = _run("regularization", store, lambda st: run_regularization(
            budget, seeds, chosen, base=base, data=_datasets(data), target=target,
            selection_seeds=selection_seeds, options=StudyOptions(
                workers=workers, store=st, name=name, record=record, min_effect=min_effect)))  # fmt: skip
    _show(result, as_json)


@study_app.command("grid")
@takes("execution", Execution)
def grid(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    vary: Annotated[
        list[str] | None,
        typer.Option(
            help="field=v1,v2 to vary; repeat for a grid, e.g. --vary optim.name=sgd,adam"
        ),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per variant")] = 3,
    selection_seeds: SelectionOpt = 1,
    workers: WorkersOpt = None,
    execution: Execution = Execution(),  # the six execution options (cli/options.py)
    name: NameOpt = None,
    record: RecordOpt = None,
    reference: Annotated[
        str | None,
        typer.Option(help="The variant every other is compared with (default: the first)"),
    ] = None,
    min_effect: MinEffectOpt = None,
    target: TargetOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Any config fields varied over a grid x seeds, chosen on validation, each variant against
    the reference on test accuracy (Holm-corrected)."""
    from trainlab.config import RunConfig
    from trainlab.studies import StudyOptions, run_grid

    base = _base(config, overrides) or RunConfig()
    with execution.context():
        result = _run("grid", store, lambda st: run_grid(
            base, list(vary or []), seeds, reference=reference, target=target,
            selection_seeds=selection_seeds, options=StudyOptions(
                workers=workers, store=st, name=name, record=record, min_effect=min_effect)))  # fmt: skip
    _show(result, as_json)


# Columns the terminal leaves out (they are in the CSV and Markdown tables in the study folder).
HIDDEN = {"ci95 low", "ci95 high", "best", "best seed", "worst", "worst seed", "params"}


def _show(result: StudyResult, as_json: bool) -> None:
    """Print the study (its answers, or one JSON object); exit 3, as `trainlab run` does for a
    failed run, when it had runs and none of them finished: there is no result to compare."""
    if as_json:
        print_json(result.to_json())
    else:
        _print_study(result)
    from trainlab.studies.outcomes import count_text

    c = result.counts
    if c["runs"] and not c["finished"]:
        first = next((o for o in result.outcomes if o.status != "finished" and o.error), None)
        why = f"; the first error: {first.error}" if first is not None else ""
        err.print(f"no run of study {result.name} finished ({count_text(c)[:-1]}){why}",
                  markup=False, highlight=False)  # fmt: skip
        raise typer.Exit(3)


def _print_study(result: StudyResult) -> None:
    s = result.summary
    # A log file or pipe has no width: give wide tables room instead of folding every number.
    console = out if out.is_terminal else Console(width=max(out.width, 180))
    for line in s.text:
        console.print(line)
    for t in s.tables:
        keep = [i for i, c in enumerate(t.columns) if c not in HIDDEN]
        table = Table(title=t.title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for i in keep:
            table.add_column(t.columns[i], overflow="fold")
        for row in t.rows:
            table.add_row(*(fmt(row[i]) for i in keep))
        console.print(table)
    for v in s.verdicts:
        console.print(f"- {v}")
    if s.answers:
        console.print("Answers (corrected):")
    for a in s.answers:
        console.print(f"* {a}")
    console.print(
        f"study {result.name} ({result.study_id}) took {result.seconds:.0f} s; "
        f"figures and full tables in {result.dir}"
    )


@study_app.command("plan")
def study_plan(
    name: Annotated[str, typer.Argument(help="Study name or id (its stored runs are the pilot)")],
    effect: Annotated[float, typer.Option(help="The accuracy difference to detect, e.g. 0.01")],
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Seeds per variant a study needs to detect --effect at 80% power after its correction and
    at its next look, from its stored runs (noncentral t on their spread and the test set's)."""
    from trainlab.studies.planner import plan_seeds, plan_table

    plan = plan_seeds(open_store(store), name, effect)
    if as_json:
        print_json(plan)
        return
    t = plan_table(plan)
    table = Table(title=t.title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for c in t.columns:
        table.add_column(c, overflow="fold")
    for row in t.rows:
        table.add_row(*(fmt(v) for v in row))
    out.print(table)
    out.print(t.note)


# ---- `trainlab study rm` (the store's cleanup; the logic is in track/cleanup.py) --------------
@study_app.command("rm")
def study_rm(
    name: Annotated[str, typer.Argument(help="Study name or id")],
    keep_runs: Annotated[
        bool, typer.Option("--keep-runs", help="Keep its runs; remove only the study")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be removed; remove nothing")
    ] = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete a study, its folder and the runs no other study uses, in one transaction; never a
    running run."""
    from trainlab.cli.runs import print_removal
    from trainlab.track.cleanup import remove_study

    print_removal(remove_study(open_store(store), name, dry_run, keep_runs), as_json)
