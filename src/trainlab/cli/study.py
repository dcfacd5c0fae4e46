"""`trainlab study baselines|optimizers|regularization|grid`: comparison studies over seeds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from trainlab.cli.app import (
    DevicesOpt,
    ExecutorOpt,
    JsonOpt,
    RayAddressOpt,
    RunCpusOpt,
    RunGpusOpt,
    StoreOpt,
    VectorizeOpt,
    WorkersOpt,
    app,
    err,
    executing,
    fmt,
    open_store,
    print_json,
    split_config,
)

if TYPE_CHECKING:
    from trainlab.studies import StudyResult

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


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


@study_app.command("baselines")
def baselines(
    budget: BudgetOpt = "quick",
    seeds: SeedsOpt = None,
    datasets: Annotated[str, typer.Option(help="Comma-separated: mnist1d, digits")] = (
        "mnist1d,digits"
    ),
    workers: WorkersOpt = None,
    vectorize: VectorizeOpt = "auto",
    devices: DevicesOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    run_cpus: RunCpusOpt = 1.0,
    run_gpus: RunGpusOpt = 0.0,
    name: NameOpt = None,
    record: RecordOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """logreg, MLP, CNN and GRU over seeds, beside the MNIST-1D paper's accuracies."""
    from trainlab.studies import run_baselines

    with executing(vectorize, devices, executor, ray_address, run_cpus, run_gpus):
        result = run_baselines(
            budget, seeds, _split(datasets), workers, open_store(store), name, record=record
        )
    _show(result, as_json)


@study_app.command("optimizers")
def optimizers(
    budget: BudgetOpt = "quick",
    seeds: SeedsOpt = None,
    optimizers: Annotated[
        str,
        typer.Option(
            help="Comma-separated subset of sgd, momentum, nesterov, adam, adamw, rmsprop, adagrad"
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
    target: Annotated[
        float | None,
        typer.Option(help="Validation accuracy for time-to-target (default: 90% of the best)"),
    ] = None,
    workers: WorkersOpt = None,
    vectorize: VectorizeOpt = "auto",
    devices: DevicesOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    run_cpus: RunCpusOpt = 1.0,
    run_gpus: RunGpusOpt = 0.0,
    name: NameOpt = None,
    record: RecordOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Optimizers and schedules, each tuned on the same learning-rate grid, then over seeds."""
    from trainlab.studies import run_optimizers

    with executing(vectorize, devices, executor, ray_address, run_cpus, run_gpus):
        result = run_optimizers(
            budget,
            seeds,
            _split(optimizers),
            _split(schedules),
            schedule,
            optimizer,
            target,
            workers,
            open_store(store),
            name,
            record=record,
        )
    _show(result, as_json)


@study_app.command("regularization")
def regularization(
    budget: BudgetOpt = "quick",
    seeds: SeedsOpt = None,
    methods: Annotated[
        str | None,
        typer.Option(help="Comma-separated method names (default: the budget's); `none` is added"),
    ] = None,
    workers: WorkersOpt = None,
    vectorize: VectorizeOpt = "auto",
    devices: DevicesOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    run_cpus: RunCpusOpt = 1.0,
    run_gpus: RunGpusOpt = 0.0,
    name: NameOpt = None,
    record: RecordOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Dropout, L1, L2, weight decay, label smoothing and combinations on a wide MLP."""
    from trainlab.studies import run_regularization

    chosen = _split(methods) if methods is not None else None
    with executing(vectorize, devices, executor, ray_address, run_cpus, run_gpus):
        result = run_regularization(
            budget, seeds, chosen, workers, open_store(store), name, record=record
        )
    _show(result, as_json)


@study_app.command("grid")
def grid(
    config: Annotated[
        Path | None, typer.Argument(help="Base experiment YAML (default: the defaults)")
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Argument(help="field=value overrides of the base config")
    ] = None,
    vary: Annotated[
        list[str] | None,
        typer.Option(
            help="field=v1,v2 to vary; repeat for a grid, e.g. --vary optim.name=sgd,adam"
        ),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per variant")] = 3,
    workers: WorkersOpt = None,
    vectorize: VectorizeOpt = "auto",
    devices: DevicesOpt = None,
    executor: ExecutorOpt = "local",
    ray_address: RayAddressOpt = None,
    run_cpus: RunCpusOpt = 1.0,
    run_gpus: RunGpusOpt = 0.0,
    name: NameOpt = None,
    record: RecordOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Any config fields varied over a grid x seeds, compared on test accuracy."""
    from trainlab.config import load_config
    from trainlab.studies import run_grid

    config, items = split_config(config, overrides)
    base = load_config(config, items)
    with executing(vectorize, devices, executor, ray_address, run_cpus, run_gpus):
        result = run_grid(
            base, list(vary or []), seeds, workers, open_store(store), name, record=record
        )
    _show(result, as_json)


# Columns the terminal leaves out (they are in the CSV and Markdown tables in the study folder).
HIDDEN = {"ci95 low", "ci95 high", "best", "best seed", "worst", "worst seed", "params"}


def _show(result: StudyResult, as_json: bool) -> None:
    if as_json:
        print_json(result.to_json())
        return
    s = result.summary
    # A log file or pipe has no width: give wide tables room instead of folding every number.
    console = err if err.is_terminal else Console(stderr=True, width=max(err.width, 180))
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
    console.print(
        f"study {result.name} ({result.study_id}) took {result.seconds:.0f} s; "
        f"figures and full tables in {result.dir}"
    )


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
