"""`trainlab inspect features|attention|inception|residual|recorder`: look inside a finished run
(`--run ID`) or a config trained first; figures and numbers go to an inspection study.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from trainlab.cli.app import JsonOpt, StoreOpt, app, err, open_store, print_json
from trainlab.errors import ConfigError

inspect_app = typer.Typer(
    help="Model internals: features, attention, Inception branches, residual flow, flight record.",
    no_args_is_help=True,
)
app.add_typer(inspect_app, name="inspect")

BUDGETS = ("quick", "full")
# Config used when no YAML file is given (shortcuts and overrides still apply on top); the
# epochs are the quick budget's, full trains EPOCHS_FULL_FACTOR times longer.
DEFAULTS: dict[str, list[str]] = {
    "features": ["data.name=mnist1d", "model.name=cnn", "train.epochs=5"],
    "attention": ["data.name=seq_pair", "model.name=transformer", "train.epochs=8"],
    "inception": [
        "data.name=digits",
        "model.name=inception",
        "model.options.width=8",
        "train.epochs=6",
    ],
    "residual": [
        "data.name=mnist1d",
        "model.name=resnet",
        "model.options.depth=20",
        "model.options.width=8",
        "train.epochs=6",
    ],
    "recorder": ["data.name=mnist1d", "model.name=mlp", "train.epochs=5"],
}
EPOCHS_FULL_FACTOR = 4

ConfigArg = Annotated[
    Path | None, typer.Argument(help="Experiment YAML file (trained first)", show_default=False)
]
OverridesArg = Annotated[
    list[str] | None, typer.Argument(help="field=value overrides, e.g. model.options.depth=56")
]
RunOpt = Annotated[
    str | None, typer.Option("--run", help="Inspect this finished run (id or prefix)")
]
DataOpt = Annotated[str | None, typer.Option(help="Shortcut for data.name=...")]
ModelOpt = Annotated[str | None, typer.Option(help="Shortcut for model.name=...")]
EpochsOpt = Annotated[int | None, typer.Option(help="Shortcut for train.epochs=...")]
SeedOpt = Annotated[int | None, typer.Option(help="Shortcut for seed=...")]
BudgetOpt = Annotated[str, typer.Option(help="quick (about a minute) | full")]


def _config(
    kind: str, config: Path | None, overrides: list[str] | None, budget: str, **short: Any
) -> Any:
    from trainlab.config import load_config

    if budget not in BUDGETS:
        raise ConfigError(f"--budget={budget!r}: choose one of {', '.join(BUDGETS)}")
    items = list(overrides or [])
    if config is not None and "=" in config.name and not config.exists():
        items.insert(0, str(config))  # overrides only, no YAML file
        config = None
    names = {"data": "data.name", "model": "model.name", "epochs": "train.epochs", "seed": "seed"}
    items += [f"{names[k]}={v}" for k, v in short.items() if v is not None]
    if config is None:
        base = list(DEFAULTS[kind])
        if budget == "full":
            epochs = int(base[-1].split("=")[1]) * EPOCHS_FULL_FACTOR
            base[-1] = f"train.epochs={epochs}"
        if short.get("model") is not None and short["model"] != base[1].split("=")[1]:
            base = [
                b for b in base if not b.startswith("model.options.")
            ]  # options of another model
        items = base + items
    return load_config(config, items)


def _target(
    kind: str,
    run: str | None,
    store: Any,
    cfg_args: dict[str, Any],
    callbacks: list[Any] | None = None,
) -> Any:
    from trainlab.inspect.target import from_config, from_run

    if run is not None:
        if cfg_args["config"] is not None or cfg_args["overrides"]:
            raise ConfigError(
                "--run inspects a stored run; give either --run or a config, not both"
            )
        return from_run(store, run)
    cfg = _config(kind, **cfg_args)
    err.print(f"training {cfg.model.name} on {cfg.data.name} for {cfg.train.epochs} epochs ...")
    return from_config(cfg, store, callbacks or [], reuse=not callbacks)


def _report(result: Any, as_json: bool) -> None:
    if as_json:
        print_json(result.to_json())
        return
    summary = result.summary
    err.print(f"[bold]{summary.title}[/bold]")
    for line in summary.verdicts:
        err.print(f"  {line}")
    err.print(f"{len(summary.figures)} figure(s) and tables in {result.dir}")


@inspect_app.command("features")
def features(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    run: RunOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    layer: Annotated[
        list[str] | None, typer.Option(help="Module name to probe, repeatable")
    ] = None,
    budget: BudgetOpt = "quick",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Activation histograms, per-layer stats and feature maps of the model's blocks."""
    from trainlab.inspect.inspections import inspect_features

    st = open_store(store)
    args: dict[str, Any] = {
        "config": config,
        "overrides": overrides,
        "budget": budget,
        "data": data,
        "model": model,
        "epochs": epochs,
        "seed": seed,
    }
    target = _target("features", run, st, args)
    _report(inspect_features(target, st, layer, _budget(budget)), as_json)


@inspect_app.command("attention")
def attention(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    run: RunOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    patch: Annotated[
        int | None, typer.Option(help="Images: show this patch's attention, not the class token's")
    ] = None,
    budget: BudgetOpt = "quick",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Per-head attention maps, rollout, entropy, decisive-token mass / patch attention."""
    from trainlab.inspect.inspections import inspect_attention

    st = open_store(store)
    args: dict[str, Any] = {
        "config": config,
        "overrides": overrides,
        "budget": budget,
        "data": data,
        "model": model,
        "epochs": epochs,
        "seed": seed,
    }
    target = _target("attention", run, st, args)
    _report(inspect_attention(target, st, _budget(budget), patch), as_json)


@inspect_app.command("inception")
def inception(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    run: RunOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    budget: BudgetOpt = "quick",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Inception branch maps, channel layout and energy shares (and their change in training)."""
    from trainlab.inspect.inception import BranchShares, inspect_inception

    st = open_store(store)
    args: dict[str, Any] = {
        "config": config,
        "overrides": overrides,
        "budget": budget,
        "data": data,
        "model": model,
        "epochs": epochs,
        "seed": seed,
    }
    shares = None
    if run is None:
        cfg = _config("inception", **args)
        from trainlab import data as data_registry
        from trainlab.train.seed import resolve_device

        fixed = data_registry.load(cfg.data, cfg.seed, resolve_device(cfg.train.device)).x_test[
            :256
        ]
        shares = BranchShares(fixed)
        callbacks: list[Any] = [shares]
    else:
        callbacks = []
    target = _target("inception", run, st, args, callbacks)
    _report(inspect_inception(target, st, shares, _budget(budget)), as_json)


@inspect_app.command("residual")
def residual(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    run: RunOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    budget: BudgetOpt = "quick",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """resnet vs plainnet: gradient norms vs depth, flow per block, lesions, loss landscape."""
    from trainlab.inspect.flow import NETS, residual_study
    from trainlab.inspect.target import from_run

    st = open_store(store)
    given = None
    if run is not None:
        given = from_run(st, run)
        base = given.cfg
        if base.model.name not in NETS:
            raise ConfigError(
                f"run {run}: model.name={base.model.name!r}; residual flow compares {' and '.join(NETS)}"
            )
    else:
        base = _config(
            "residual", config, overrides, budget, data=data, model=model, epochs=epochs, seed=seed
        )
        if base.model.name not in NETS:
            raise ConfigError(
                f"model.name={base.model.name!r}: residual flow compares {' and '.join(NETS)}"
            )
    err.print(
        f"residual flow on {base.data.name} ({budget} budget): training resnet and plainnet ..."
    )
    _report(residual_study(base, st, _budget(budget), given), as_json)


@inspect_app.command("recorder")
def recorder(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    run: RunOpt = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    epochs: EpochsOpt = None,
    seed: SeedOpt = None,
    every: Annotated[
        int | None, typer.Option(help="Record every N optimizer steps [default: the recorder's]")
    ] = None,
    budget: BudgetOpt = "quick",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Flight-record figures of a run trained with `--record`, or train a config with the recorder."""
    from trainlab.inspect.inspections import inspect_recorder
    from trainlab.inspect.recorder import DEFAULT_EVERY, Recorder, load_record

    st = open_store(store)
    if run is not None:
        record = st.get_run(run)
        flight = load_record(record.dir)
    else:
        args: dict[str, Any] = {
            "config": config,
            "overrides": overrides,
            "budget": budget,
            "data": data,
            "model": model,
            "epochs": epochs,
            "seed": seed,
        }
        rec = Recorder(every or DEFAULT_EVERY)
        target = _target("recorder", None, st, args, [rec])
        record = target.record
        rec.save(record.dir)
        flight = rec.record()
    _report(inspect_recorder(st, record, flight), as_json)


def _budget(budget: str) -> str:
    if budget not in BUDGETS:
        raise ConfigError(f"--budget={budget!r}: choose one of {', '.join(BUDGETS)}")
    return budget
