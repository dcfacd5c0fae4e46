"""A study as a grid: base config x named variants x seeds -> jobs; and the custom `grid` study
(`--vary optim.name=sgd,adam --vary regularize.dropout=0,0.3`) over any config fields.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from trainlab.config import RunConfig, read_yaml
from trainlab.errors import ConfigError, TrainlabError
from trainlab.execute import Job, Outcome, check_workers, execute
from trainlab.plots.comparisons import plot_dots
from trainlab.plots.curves import plot_bands
from trainlab.studies import outcomes as oc
from trainlab.studies import output as out
from trainlab.studies.budget import check_seeds, tuning_seeds
from trainlab.studies.options import StudyOptions
from trainlab.studies.output import fingerprint
from trainlab.studies.progress import live_progress
from trainlab.studies.stats import interval, pm, stats_table
from trainlab.studies.time_to_target import target_section
from trainlab.studies.verdicts import Metric, conclude, measures
from trainlab.track.store import RunRecord, Store
from trainlab.track.summary import Summary, Table

__all__ = ["dry_run", "expand", "fingerprint", "parse_vary", "product", "run_grid", "seed_list"]

Variants = dict[str, dict[str, Any]]  # variant name -> dotted overrides of the base config


def seed_list(base: RunConfig, n: int) -> list[int]:
    """`n` seeds counted up from the base config's seed."""
    check_seeds(n)
    return [base.seed + i for i in range(n)]


def expand(
    base: RunConfig,
    variants: Mapping[str, Mapping[str, Any]],
    seeds: Sequence[int],
    role: str = "final",
) -> list[Job]:
    """Every variant at every seed, variant-major; each config validated (ConfigError names it)."""
    jobs = []
    for name, overrides in variants.items():
        for seed in seeds:
            try:
                cfg = base.with_overrides({**overrides, "seed": seed, "name": name})
            except ConfigError as exc:
                raise ConfigError(f"variant {name!r}: {exc}") from None
            jobs.append(Job(name, cfg, role=role))
    return jobs


def parse_vary(items: Sequence[str], base: RunConfig) -> dict[str, list[Any]]:
    """`["optim.name=sgd,adam"]` -> {"optim.name": ["sgd", "adam"]}; every value is checked on `base`."""
    vary: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise ConfigError(
                f"--vary {item!r}: must look like field=v1,v2, e.g. optim.name=sgd,adam"
            )
        if key in ("seed", "name"):
            raise ConfigError(f"--vary {key}: not a field to vary; use --seeds for seeds")
        if key in vary:
            raise ConfigError(f"--vary {key}: given twice; list all its values in one --vary")
        values = [read_yaml(v.strip()) for v in text.split(",") if v.strip()]
        for value in values:
            try:
                base.with_overrides({key: value})
            except ConfigError as exc:
                said = str(exc)
                where = "" if said.startswith(f"{key}=") else f"{key}={value!r}: "
                raise ConfigError(f"--vary {where}{said}") from None
        vary[key] = values
    if not vary:
        raise ConfigError("give at least one --vary field=v1,v2")
    return vary


def product(vary: Mapping[str, Sequence[Any]]) -> Variants:
    """The cartesian product of the varied fields, each combination named `field=value ...`."""
    keys = list(vary)
    out_: Variants = {}
    for combo in itertools.product(*(vary[k] for k in keys)):
        name = " ".join(f"{k}={_show(v)}" for k, v in zip(keys, combo, strict=True))
        out_[name] = dict(zip(keys, combo, strict=True))
    return out_


def dry_run(base: RunConfig, variants: Variants) -> None:
    """Build the data and model of each variant once, so a bad combination fails before any run."""
    from trainlab.train.experiment import prepare

    for name, overrides in variants.items():
        try:
            prepare(base.with_overrides(overrides))
        except TrainlabError as exc:
            raise ConfigError(f"variant {name!r}: {exc}") from None


def run_grid(
    base: RunConfig,
    vary: Mapping[str, Sequence[Any]] | Sequence[str],
    seeds: int = 3,
    *,
    reference: str | None = None,
    target: float | None = None,
    selection_seeds: int = 1,
    options: StudyOptions | None = None,
) -> out.StudyResult:
    """Run (or resume) base x product(vary) x seeds; compare every variant with `reference`
    (default: the first variant) on test accuracy, Holm-corrected; the best on validation is
    chosen on `selection_seeds` further seeds per variant (1000+, never tested; 0: none chosen).
    Rerunning a name with more `seeds` adds them: a new, corrected look; `options`: how to run
    and store it."""
    opts = options or StudyOptions()
    min_effect = opts.min_effect
    check_workers(opts.workers)
    fields = parse_vary(list(vary), base) if not isinstance(vary, Mapping) else dict(vary)
    variants = product(fields)
    reference = check_reference(reference, list(variants))
    check_effect(min_effect, target)
    check_selection(selection_seeds)
    seed_values = seed_list(base, seeds)
    jobs = expand(base, variants, seed_values)
    jobs += expand(base, variants, tuning_seeds(base.seed, selection_seeds), role="selection")
    dry_run(base, variants)
    store = opts.store or Store()
    name = opts.name or f"grid-{base.name}-{fingerprint(base.hash(), fields)}"
    config = {"base": base.model_dump(mode="json"), "vary": fields, "seeds": seed_values,
              "reference": reference, "min_effect": min_effect, "target": target,
              "selection_seeds": selection_seeds}  # fmt: skip
    study = out.StudyOutput(store, "grid", name, config)
    if "optim.name" in fields and "optim.lr" not in fields:
        study.note(f"every optimizer runs at the one learning rate optim.lr={base.optim.lr:g}, which "
                   "favours whichever it suits; to compare optimizers each tuned on validation, "
                   "use `trainlab study optimizers CONFIG`")  # fmt: skip
    study.warn_power(seeds, len(variants) - 1)
    with live_progress(f"grid {name}", opts.progress) as bar:
        outcomes = execute(store, study.id, jobs, opts.workers, bar, opts.record)
    return summarize_grid(
        store, study, outcomes, fields, list(variants), reference, min_effect, target
    )


def check_selection(selection_seeds: int) -> None:
    if selection_seeds < 0:
        raise ConfigError(f"--selection-seeds {selection_seeds}: must be 0 or more")


def selection_scores(
    outcomes: Sequence[Outcome], variants: Sequence[str], key: str = "val_acc"
) -> dict[str, float]:
    """Per variant the mean `key` of its selection runs (role `selection`: seeds that are never
    tested); a variant with a selection run that did not finish has no score (never chosen)."""
    got: dict[str, list[float | None]] = {}
    for o in oc.unique([o for o in outcomes if o.job.role == "selection"]):
        v = o.run.summary.get(key) if o.status == "finished" and o.run is not None else None
        got.setdefault(o.job.variant, []).append(None if v is None else float(v))
    scores = {}
    for v in variants:
        xs = got.get(v)
        if xs and all(x is not None for x in xs):
            scores[v] = sum(x for x in xs if x is not None) / len(xs)
    return scores


def check_reference(reference: str | None, variants: Sequence[str]) -> str:
    """The declared reference: one of the variants (default: the first)."""
    if reference is None:
        return variants[0]
    if reference not in variants:
        raise ConfigError(f"--reference {reference!r}: choose one of {', '.join(variants)}")
    return reference


def check_effect(min_effect: float | None, target: float | None) -> None:
    if min_effect is not None and not 0 < min_effect < 1:
        raise ConfigError(f"--min-effect {min_effect}: must be a difference in (0, 1)")
    if target is not None and not 0 < target <= 1:
        raise ConfigError(f"--target {target}: must be a validation accuracy in (0, 1]")


def summarize_grid(
    store: Store,
    study: out.StudyOutput,
    outcomes: Sequence[Outcome],
    fields: Mapping[str, Sequence[Any]],
    variants: list[str],
    reference: str | None = None,
    min_effect: float | None = None,
    target: float | None = None,
) -> out.StudyResult:
    reference = reference or variants[0]
    key, metrics = (
        measures(outcomes[0].job.config) if outcomes else ("val_acc", [Metric("test_acc")])
    )
    head = metrics[0].key  # test_acc, or a regression's test_rmse
    words = {"val_acc": "validation accuracy", "test_acc": "test accuracy",
             "val_rmse": "validation RMSE", "test_rmse": "test RMSE"}  # fmt: skip
    chosen = selection_scores(outcomes, variants, key)
    everything, outcomes = outcomes, [o for o in outcomes if o.job.role == "final"]
    runs = oc.finished(outcomes, variants)
    test = oc.metric(runs, head)
    val = oc.metric(runs, key)
    bounds = metrics[0].bounds
    summary = Summary("grid", f"Grid study over {', '.join(fields)}")
    summary.tables += [
        stats_table(f"Grid: final {words[key]} per variant", key, val, oc.seeds(runs, key),
                    metrics[0].higher, bounds),
        stats_table(f"Grid: {words[head]} per variant", head, test, oc.seeds(runs, head),
                    metrics[0].higher, bounds),
    ]  # fmt: skip
    for m in metrics[1:]:
        got = oc.metric(runs, m.key)
        summary.tables.append(stats_table(f"Grid: {m.key} per variant", m.key, got,
                                          oc.seeds(runs, m.key), m.higher, m.bounds))  # fmt: skip
        summary.data[m.key] = got
    arms = oc.arms(outcomes, "grid", variants, [m.key for m in metrics] + [key])
    comp = conclude(summary, arms, {"grid": reference}, metrics, min_effect=min_effect,
                    chosen={"grid": chosen} if chosen else None, look=study.look(outcomes),
                    selection=key)  # fmt: skip
    if key == "val_acc":  # time to a target accuracy; a regression has none
        reached = target_section(
            store, outcomes, variants, reference, target, "Grid: time to target"
        )
        if reached is not None:
            summary.tables.append(reached[0])
            summary.data["time_to_target"] = reached[1]
    else:
        summary.text.append(
            "A regression's comparisons count seeds only: per-example outcomes (correct or not) "
            "that let a test of test_acc count the test set's own noise are a classifier's."
        )
    summary.tables.append(costs_table(store, runs))
    order = [v for v in variants if test.get(v)]
    if order:
        unit = "(fraction correct)" if head == "test_acc" else "(target units)"
        clip = "clipped to [0, 1]" if bounds else "by t"
        iv = {v: interval(test[v], bounds) for v in order}
        fig = plot_dots({v: test[v] for v in order}, f"{words[head]} {unit}",
                        f"{words[head].capitalize()} per variant", iv)  # fmt: skip
        study.figure(fig, head.replace("_", "-"), f"{words[head].capitalize()} per variant",
                     f"Dots are seeds; diamond is the mean with its 95% CI ({clip}).")  # fmt: skip
        curves = oc.series(store, runs, key)
        per = "(fraction)" if key == "val_acc" else "(target units)"
        fig = plot_bands({words[key]: curves}, "epoch", f"{words[key]} {per}",
                         f"{words[key].capitalize()} per epoch")  # fmt: skip
        study.figure(fig, "val-curves", f"{words[key].capitalize()} per epoch")
    for b in comp["best"]:
        v = b["variant"]
        if test.get(v):
            summary.text.append(
                f"Best on {words[key]} of its selection seeds: {v} ({words[head]} {pm(test[v])})."
            )
    summary.data.update({"vary": dict(fields), head: test, key: val, "selection": chosen})
    return study.finish(summary, everything)


def costs_table(store: Store, runs: Mapping[str, Sequence[RunRecord]]) -> Table:
    """Runs, parameters, mean run seconds (its epochs, not a worker's start-up) and epochs."""
    rows = []
    for v, rs in runs.items():
        if rs:
            secs = [oc.run_seconds(store, r) for r in rs]
            rows.append(
                [
                    v,
                    len(rs),
                    rs[0].summary.get("params"),
                    round(sum(secs) / len(secs), 2),
                    rs[0].summary.get("epochs"),
                ]
            )
    return Table(
        "Cost per variant",
        ["variant", "runs", "params", "seconds per run", "epochs"],
        rows,
        "seconds: training + evaluation of the run's epochs (no worker start-up, no data loading)",
    )


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
