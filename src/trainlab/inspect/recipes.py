"""Ready-made inspections: each kind's default config at a budget, and one call that trains (or
loads) what it looks at and runs it. `trainlab inspect ...` and the suite both call `run_inspection`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from trainlab import data as data_registry
from trainlab import models
from trainlab.config import RunConfig, load_config
from trainlab.errors import ConfigError
from trainlab.inspect.attention import ATTENTION_TYPES, inspect_attention
from trainlab.inspect.attribution import check_methods, inspect_attribution
from trainlab.inspect.features import inspect_features
from trainlab.inspect.inception import (
    SHARES_FILE,
    BranchShares,
    inception_blocks,
    inspect_inception,
)
from trainlab.inspect.landscape import check_directions, landscape_study
from trainlab.inspect.recorder import inspect_recorder
from trainlab.inspect.residual import NETS, residual_study, twin_config
from trainlab.inspect.similarity import similarity_study
from trainlab.inspect.spectrum import SPECTRUM_FILE, SpectrumTracker, inspect_spectrum
from trainlab.inspect.target import Inspection, Target, device_for, from_config, from_run
from trainlab.models.layers import select_modules
from trainlab.track.store import Store
from trainlab.train.recorder import RECORD_FILE, Recorder, load_record

KINDS = (
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
BUDGETS = ("quick", "full")
# What each kind trains when no config is given (overrides apply on top). The epochs are the
# quick budget's; full trains EPOCHS_FULL_FACTOR times longer. Quick budgets are sized so that
# all five kinds together take about 2-3 minutes on 2 cores.
DEFAULTS: dict[str, list[str]] = {
    "features": ["data.name=mnist1d", "model.name=cnn", "train.epochs=5"],
    "attention": [
        "data.name=seq_pair",
        "model.name=transformer",
        "train.epochs=8",
    ],
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
    "attribution": ["data.name=seq_pair", "model.name=transformer", "train.epochs=8"],
    "spectrum": [
        "data.name=mnist1d",
        "model.name=mlp",
        "model.options.width=256",
        "train.epochs=6",
    ],
    # resnet-8 vs plainnet-8 (4 and 2 trainings); model.options.depth=20 for the deeper pair
    "similarity": [
        "data.name=digits",
        "model.name=resnet",
        "model.options.depth=8",
        "model.options.width=8",
        "train.epochs=5",
    ],
    "landscape": [
        "data.name=digits",
        "model.name=resnet",
        "model.options.depth=8",
        "model.options.width=8",
        "train.epochs=5",
    ],
}
EPOCHS_FULL_FACTOR = 4
RECORDS = 60  # records a recorder aims for when inspect trains with it and no interval is given
SHARE_SAMPLES = 256  # fixed test inputs whose Inception branch shares are measured every epoch


def check_budget(budget: str) -> str:
    """`budget` if it is one of BUDGETS, else ConfigError."""
    if budget not in BUDGETS:
        raise ConfigError(f"--budget={budget!r}: choose one of {', '.join(BUDGETS)}")
    return budget


def default_config(
    kind: str,
    overrides: list[str] | None = None,
    budget: str = "quick",
    path: str | Path | None = None,
) -> RunConfig:
    """The config `kind` trains: the YAML file `path` + `overrides`, or (without a file) DEFAULTS
    at `budget` + `overrides`. Under a model.name override, default options that model does not
    take are dropped."""
    if kind not in KINDS:
        raise ConfigError(f"inspection {kind!r}: choose one of {', '.join(KINDS)}")
    check_budget(budget)
    items = list(overrides or [])
    if path is not None:
        return load_config(path, items)
    base = list(DEFAULTS[kind])
    if budget == "full":
        epochs = int(base[-1].split("=")[1]) * EPOCHS_FULL_FACTOR
        base[-1] = f"train.epochs={epochs}"
    names = [i.split("=", 1)[1] for i in items if i.startswith("model.name=")]
    if names:  # keep only the default options the chosen model takes (plainnet: resnet's)
        takes = {m.name: m.options for m in models.list_models()}.get(names[-1], ())
        base = [
            b
            for b in base
            if not b.startswith("model.options.") or b.split("=")[0].split(".")[-1] in takes
        ]
    return load_config(None, base + items)


def target(
    kind: str,
    store: Store,
    cfg: RunConfig | None = None,
    run_id: str | None = None,
    callbacks: list[Any] | None = None,
) -> Target:
    """A finished run `run_id`, or `cfg` (default: `default_config(kind)`) trained first; a
    finished run of the same config is reused unless callbacks must watch the training."""
    if run_id is not None:
        if cfg is not None:
            raise ConfigError(
                "--run inspects a stored run; give either --run or a config, not both"
            )
        return from_run(store, run_id)
    cfg = cfg if cfg is not None else default_config(kind)
    return from_config(cfg, store, callbacks or [], reuse=not callbacks)


def run_inspection(
    kind: str,
    store: Store,
    cfg: RunConfig | None = None,
    run_id: str | None = None,
    budget: str = "quick",
    *,
    layers: list[str] | None = None,
    patch: int | None = None,
    every: int | None = None,
    methods: list[str] | None = None,
    directions: str = "pca",
) -> Inspection:
    """Run inspection `kind` on a stored run (`run_id`) or on `cfg` trained first (default:
    `default_config(kind, budget=budget)`). `layers`: features only; `patch`: attention on
    images; `every`: the recorder's interval in steps when it trains (default: ~RECORDS records);
    `methods`: attribution's (default: every one that applies);
    `directions`: the landscape's plane, `pca` of the trajectory or `random`.
    """
    check_budget(budget)
    if kind not in KINDS:
        raise ConfigError(f"inspection {kind!r}: choose one of {', '.join(KINDS)}")
    if run_id is None and cfg is None:
        cfg = default_config(kind, budget=budget)
    if cfg is not None and kind in ("attention", "inception"):
        check_model(kind, cfg)
    if kind == "features":
        return inspect_features(target(kind, store, cfg, run_id), store, layers, budget)
    if kind == "attention":
        return inspect_attention(target(kind, store, cfg, run_id), store, budget, patch)
    if kind == "inception":
        return _inception(store, cfg, run_id, budget)
    if kind == "residual":
        return _residual(store, cfg, run_id, budget)
    if kind == "attribution":
        check_methods(methods)  # a bad name fails before any training
        return inspect_attribution(target(kind, store, cfg, run_id), store, methods, budget)
    if kind == "spectrum":
        return _spectrum(store, cfg, run_id)
    if kind in ("similarity", "landscape"):
        return _trajectory_kind(kind, store, cfg, run_id, budget, check_directions(directions))
    return _recorder(store, cfg, run_id, every)


def check_model(kind: str, cfg: RunConfig) -> None:
    """ConfigError before any training if `cfg`'s model has nothing for `kind` to look at."""
    spec = data_registry.load(cfg.data, cfg.seed, "cpu").spec
    model = models.build(cfg.model.name, spec, **cfg.model.options)
    if kind == "inception":
        inception_blocks(model)
    elif not select_modules(model, types=ATTENTION_TYPES):
        raise ConfigError(
            f"model.name={cfg.model.name!r} has no attention layers; use transformer (tokens) "
            "or vit (images)"
        )


def _inception(store: Store, cfg: RunConfig | None, run_id: str | None, budget: str) -> Inspection:
    if run_id is None:
        assert cfg is not None
        run_id = _watched_twin(store, cfg, SHARES_FILE)
    if run_id is not None:
        return inspect_inception(target("inception", store, None, run_id), store, None, budget)
    assert cfg is not None
    fixed = data_registry.load(cfg.data, cfg.seed, device_for(cfg.train.device))
    shares = BranchShares(fixed.x_test[:SHARE_SAMPLES])
    trained = target("inception", store, cfg, None, [shares])
    assert trained.record is not None
    shares.save(trained.record.dir)  # `--run ID` later shows the same per-epoch shares
    return inspect_inception(trained, store, shares, budget)


def _watched_twin(store: Store, cfg: RunConfig, file: str) -> str | None:
    """A finished run of `cfg` that was trained watched (its folder holds `file`), if any."""
    twin = store.find_run(cfg.hash(), ("finished",))
    return twin.id if twin is not None and (twin.dir / file).exists() else None


def _residual(store: Store, cfg: RunConfig | None, run_id: str | None, budget: str) -> Inspection:
    given = target("residual", store, cfg, run_id) if run_id is not None else None
    base = given.cfg if given is not None else cfg
    assert base is not None
    if base.model.name not in NETS:
        where = f"run {run_id}: " if run_id else ""
        raise ConfigError(
            f"{where}model.name={base.model.name!r}: residual flow compares {' and '.join(NETS)}"
        )
    return residual_study(base, store, budget, given)


def _spectrum(store: Store, cfg: RunConfig | None, run_id: str | None) -> Inspection:
    if run_id is None:
        assert cfg is not None
        run_id = _watched_twin(store, cfg, SPECTRUM_FILE)
    if run_id is not None:  # alpha per epoch from the run folder, if it was trained watched
        return inspect_spectrum(target("spectrum", store, None, run_id), store)
    tracker = SpectrumTracker()
    trained = target("spectrum", store, cfg, None, [tracker])
    assert trained.record is not None
    tracker.save(trained.record.dir)  # `--run ID` later shows the same per-epoch alphas
    return inspect_spectrum(trained, store, tracker)


def _recorder(
    store: Store, cfg: RunConfig | None, run_id: str | None, every: int | None
) -> Inspection:
    if run_id is not None:
        if cfg is not None:
            raise ConfigError(
                "--run inspects a stored run; give either --run or a config, not both"
            )
        record = store.get_run(run_id)
        return inspect_recorder(store, record, load_record(record.dir))
    assert cfg is not None
    twin = _watched_twin(store, cfg, RECORD_FILE) if every is None else None
    if twin is not None:
        return _recorder(store, None, twin, None)
    if every is None:
        pool = data_registry.load(cfg.data, cfg.seed, "cpu").y_train
        steps = cfg.train.epochs * math.ceil(len(pool) / cfg.train.batch_size)
        every = max(1, steps // RECORDS)
    rec = Recorder(every)
    trained = target("recorder", store, cfg, None, [rec])
    assert trained.record is not None
    rec.save(trained.record.dir)
    return inspect_recorder(store, trained.record, rec.record())


def _trajectory_kind(
    kind: str,
    store: Store,
    cfg: RunConfig | None,
    run_id: str | None,
    budget: str,
    directions: str,
) -> Inspection:
    """similarity / landscape: the config (a run's own with `--run`) retrained with its state
    saved every epoch; resnet and plainnet are compared with their twin at the same depth."""
    given = target(kind, store, cfg, run_id) if run_id is not None else None
    base = given.cfg if given is not None else cfg
    assert base is not None
    depth = int(base.model.options.get("depth", 20))
    twins = {net: twin_config(base, net, depth) for net in NETS} if base.model.name in NETS else {}
    if kind == "similarity":
        other = next((c for net, c in twins.items() if net != base.model.name), None)
        return similarity_study(base, store, budget, given, other)
    configs = {f"{net}-{depth}": c for net, c in twins.items()} or {base.model.name: base}
    name = f"landscape-{base.data.name}-{base.hash()}-{directions}"
    return landscape_study(configs, store, name, budget, directions)
