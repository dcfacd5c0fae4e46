"""The optimizers-and-schedules study, fair by construction (DeepOBS / Schmidt et al., AlgoPerf,
scaled down): every variant is tuned the same way on validation — a shared learning-rate grid,
bracketed at its edges, or the same quasi-random trials per optimizer — on tuning seeds (1000+),
then runs fresh seeds at its chosen setting. Verdicts against the declared reference (the default
optimizer adam, the default schedule cosine), Holm-corrected; time to the reference's median
validation accuracy; tuning curves; stability (spread, divergences, loss spikes). On several
workloads (`data`), each runs all of it, and performance profiles score the variants over them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.execute import Job, Outcome, check_workers, execute
from trainlab.studies import output as out
from trainlab.studies import tuning as tn
from trainlab.studies.budget import final_seeds, resolve_budget, tuning_seeds
from trainlab.studies.grid import check_effect
from trainlab.studies.inherit import inherited, own_optimizer
from trainlab.studies.optimizer_summary import REFERENCES, loss_spikes, summarize
from trainlab.studies.options import StudyOptions
from trainlab.studies.output import fingerprint
from trainlab.studies.progress import live_progress
from trainlab.studies.time_to_target import to_target
from trainlab.studies.workloads import check_data, data_overrides, on_workload
from trainlab.track.store import Store

__all__ = [
    "BUDGETS",
    "OPTIMIZERS",
    "REFERENCES",
    "SCHEDULES",
    "OptimBudget",
    "choose",
    "loss_spikes",
    "run_optimizers",
    "to_target",
]

OPTIMIZERS: dict[str, dict[str, Any]] = {
    "sgd": {"optim.name": "sgd"},
    "momentum": {"optim.name": "sgd", "optim.momentum": 0.9},
    "nesterov": {"optim.name": "sgd", "optim.momentum": 0.9, "optim.nesterov": True},
    "adam": {"optim.name": "adam"},
    "adamw": {"optim.name": "adamw", "optim.weight_decay": 0.01},  # torch's default decay
    "rmsprop": {"optim.name": "rmsprop"},
    "adagrad": {"optim.name": "adagrad"},
}
SCHEDULES = ("constant", "step", "cosine", "onecycle", "warmup_cosine")
BASE = {"data": {"name": "mnist1d"}, "model": {"name": "mlp"}, "train": {"batch_size": 100}}


@dataclass(frozen=True)
class OptimBudget:
    epochs: int
    lrs: tuple[float, ...]  # the tuning grid, the same for every variant
    seeds: int  # final comparison: fresh seeds at each variant's chosen setting
    tuning_seeds: int  # seeds per grid point while tuning (offset by 1000 from the final ones)
    extend: int = (
        1  # bracketing: grid steps added at most, per variant, when the best is at an edge
    )
    trials: int = 0  # quasi-random tuning: trials per variant (0: as many as grid points)


BUDGETS = {
    "quick": OptimBudget(20, (1e-4, 1e-3, 1e-2, 1e-1, 1.0), seeds=3, tuning_seeds=1),
    "full": OptimBudget(40, tuple(10 ** (e / 2) for e in range(-8, 1)), seeds=5, tuning_seeds=2),
}


@dataclass
class Family:
    """Variants that differ in one thing only: the optimizer, or the schedule."""

    key: str  # optimizers | schedules; with several workloads prefixed: digits/optimizers
    title: str
    variants: dict[str, dict[str, Any]]
    chosen: dict[str, tn.Point] = field(default_factory=dict)  # variant -> chosen point
    workload: str = ""  # its dataset in a study of several workloads ("" with one)

    @property
    def kind(self) -> str:
        return self.key.rpartition("/")[2]

    @property
    def stem(self) -> str:  # for file names
        return self.key.replace("/", "-")


def families(
    optimizers: Sequence[str], schedules: Sequence[str], schedule: str, optimizer: str, epochs: int
) -> list[Family]:
    """The optimizer comparison (all on `schedule`, unless one is named as a pair such as
    `adamw+cosine`: that optimizer on its own schedule, tuned like every other variant) and the
    schedule comparison (all `optimizer`)."""
    pairs = {o: _pair(o, schedule) for o in optimizers}
    for name, allowed, flag in ((schedules, SCHEDULES, "--schedules"),
                                ([optimizer], OPTIMIZERS, "--optimizer"), ([schedule], SCHEDULES, "--schedule")):  # fmt: skip
        for n in name:
            if n not in allowed:
                raise ConfigError(f"{flag} {n!r}: choose from {', '.join(allowed)}")
    if not optimizers and not schedules:
        raise ConfigError("--optimizers and --schedules are both empty; name at least one")
    out_ = []
    if optimizers:
        variants = {
            o: own_optimizer({**OPTIMIZERS[opt], **_schedule(sched, epochs)})
            for o, (opt, sched) in pairs.items()
        }
        paired = any("+" in o for o in optimizers)
        title = f"Optimizers (each its own schedule, else {schedule})" if paired else f"Optimizers ({schedule} schedule)"  # fmt: skip
        out_.append(Family("optimizers", title, variants))
    if schedules:
        variants = {
            s: own_optimizer({**OPTIMIZERS[optimizer], **_schedule(s, epochs)}) for s in schedules
        }
        out_.append(Family("schedules", f"Schedules ({optimizer})", variants))
    return out_


def _pair(name: str, schedule: str) -> tuple[str, str]:
    """`adamw+cosine` -> (adamw, cosine); `adamw` -> (adamw, the shared `schedule`)."""
    opt, plus, sched = name.partition("+")
    if opt not in OPTIMIZERS or (plus and sched not in SCHEDULES):
        raise ConfigError(
            f"--optimizers {name!r}: choose from {', '.join(OPTIMIZERS)}, each optionally "
            f"+schedule, one of {', '.join(SCHEDULES)} (e.g. adamw+cosine)"
        )
    return opt, sched if plus else schedule


def per_workload(fams: list[Family], base: RunConfig, workloads: Sequence[str]) -> list[Family]:
    """Each family once per workload, its variants labelled `workload/variant` and trained on that
    dataset; one workload: the families as they are."""
    if len(workloads) == 1:
        return fams
    return [Family(f"{w}/{f.key}", f"{w}: {f.title}", {f"{w}/{v}": {**data_overrides(base, w), **o}
                   for v, o in f.variants.items()}, workload=w) for w in workloads for f in fams]  # fmt: skip


def _schedule(name: str, epochs: int) -> dict[str, Any]:
    extra = {"schedule.warmup": max(1, epochs // 10)} if name == "warmup_cosine" else {}
    return {"schedule.name": name, **extra}


def _jobs(
    base: RunConfig,
    fams: Sequence[Family],
    points: Mapping[str, Sequence[tn.Point]],
    seeds: Sequence[int],
    role: str,
) -> tuple[list[Job], list[tuple[str, int]]]:
    """Every variant at each of its points and seeds, and the (variant, point index) of each."""
    jobs, tags = [], []
    for fam in fams:
        for v, over in fam.variants.items():
            for i, point in enumerate(points.get(v, [])):
                for seed in seeds:
                    extra = {**over, **tn.apply(point, base.train.epochs), "seed": seed, "name": v}
                    jobs.append(Job(v, base.with_overrides(extra), role=role))
                    tags.append((v, i))
    return jobs, tags


def run_optimizers(
    budget: str | OptimBudget = "quick",
    seeds: int | None = None,
    optimizers: Sequence[str] = tuple(OPTIMIZERS),
    schedules: Sequence[str] = SCHEDULES,
    schedule: str = "constant",
    optimizer: str = "momentum",
    target: float | None = None,
    *,
    base: RunConfig | None = None,
    tuning: str = "grid",
    data: Sequence[str] | None = None,
    options: StudyOptions | None = None,
) -> out.StudyResult:
    """Tune every variant the same way on validation, then compare them over fresh seeds.

    `schedule` is what the optimizers share; `optimizer` is what the schedules share; `target` is
    the validation accuracy for time-to-target (default: the reference's median final val_acc);
    `tuning` is `grid` (the budget's rates, bracketed) or `quasirandom` (AlgoPerf-style);
    `base` replaces the MLP on mnist1d (its optimizer, rate and schedule are what gets varied);
    `data` names the workloads (default: the base's dataset), each running the whole protocol;
    `options`: how to run and store it.
    """
    opts = options or StudyOptions()
    workers, record, progress, min_effect = (
        opts.workers,
        opts.record,
        opts.progress,
        opts.min_effect,
    )
    check_workers(workers)
    b, label, n = resolve_budget(budget, BUDGETS, seeds)
    check_effect(min_effect, target)
    if tuning not in tn.TUNINGS:
        raise ConfigError(f"--tuning {tuning!r}: choose one of {', '.join(tn.TUNINGS)}")
    given = base is not None
    base, epochs_note = out.budget_epochs(base or RunConfig.model_validate(BASE), b.epochs, label)
    plain = families(list(optimizers), list(schedules), schedule, optimizer, b.epochs)
    workloads = check_data(data, base)
    several = len(workloads) > 1
    base = base if several else on_workload(base, workloads[0])
    fams = per_workload(plain, base, workloads)
    store = opts.store or Store()
    sel = {f.key: list(f.variants) for f in plain}
    plan = [sel, schedule, optimizer, base.hash(), replace(b, seeds=0)]
    plan += [tuning] if tuning != "grid" else []
    plan += [workloads] if several else []
    name = opts.name or f"optimizers-{label}-{fingerprint(*plan)}"
    config = {"budget": label, "seeds": n, "epochs": b.epochs, "lrs": list(b.lrs), "tuning_seeds": b.tuning_seeds,
              "schedule": schedule, "optimizer": optimizer, **sel, "base": base.model_dump(mode="json"),
              "tuning": tuning, "trials": b.trials, "extend": b.extend, "min_effect": min_effect,
              **({"data": workloads} if several else {})}  # fmt: skip
    study = out.StudyOutput(store, "optimizers", name, config)
    if given and epochs_note:
        study.note(epochs_note)
    variants = {v: over for f in fams for v, over in f.variants.items()}
    if given:
        study.tables.append(
            inherited(base, variants, "What each variant takes from the base config")
        )
    study.warn_power(n, sum(len(f.variants) - 1 for f in fams))
    if tuning == "grid":
        points = {v: tn.grid_points(b.lrs) for v in variants}
    else:
        trials = b.trials or len(b.lrs)
        lr_range = (min(b.lrs), max(b.lrs))
        points = {v: tn.quasirandom_points(over, trials, lr_range, base.seed) for v, over in variants.items()}  # fmt: skip
    t_seeds = tuning_seeds(base.seed, b.tuning_seeds)
    tuning_out, tags = _tune(
        store,
        study,
        base,
        fams,
        points,
        t_seeds,
        workers,
        record,
        f"optimizers ({label}): tuning",
        progress,
    )
    notes: list[str] = []
    for _ in range(b.extend if tuning == "grid" else 0):  # bracketing, within the budget
        more = _extensions(fams, tn.scores(tuning_out, tags, points), points, b.lrs, notes)
        if not more:
            break
        start = {v: len(points[v]) for v in more}
        for v, p in more.items():
            points[v].append(p)
        extra = {v: points[v][start[v] :] for v in more}
        title = f"optimizers ({label}): tuning past the grid's edge ({', '.join(sorted(more))})"
        o2, t2 = _tune(store, study, base, fams, extra, t_seeds, workers, record, title, progress)
        tuning_out += o2
        tags += [(v, i + start[v]) for v, i in t2]
    scores = tn.scores(tuning_out, tags, points)
    for fam in fams:
        fam.chosen = {
            v: pt for v in fam.variants if (pt := tn.choose_point(scores.get(v, []))) is not None
        }
    best = {v: [p] for f in fams for v, p in f.chosen.items()}
    final_jobs, _ = _jobs(
        base, [_only_chosen(f) for f in fams], best, final_seeds(base.seed, n), "final"
    )
    with live_progress(
        f"optimizers ({label}): {n} fresh seeds at the chosen settings", progress
    ) as bar:
        final = execute(store, study.id, final_jobs, workers, bar, record)
    return summarize(
        store, study, fams, scores, tuning_out, final, target, b, n, base, tuning, notes,
        min_effect, workloads,
    )  # fmt: skip


def _tune(
    store: Store, study: out.StudyOutput, base: RunConfig, fams: Sequence[Family],
    points: Mapping[str, Sequence[tn.Point]], seeds: Sequence[int], workers: int | None,
    record: int | None, title: str, progress: bool,
) -> tuple[list[Outcome], list[tuple[str, int]]]:  # fmt: skip
    """Tuning runs of `points` on `seeds`, shown under the progress line `title`."""
    jobs, tags = _jobs(base, fams, points, seeds, "tuning")
    with live_progress(title, progress) as bar:
        return execute(store, study.id, jobs, workers, bar, record), tags


def _extensions(
    fams: Sequence[Family],
    scores: Mapping[str, Sequence[tuple[tn.Point, float | None]]],
    points: Mapping[str, Sequence[tn.Point]],
    lrs: Sequence[float],
    notes: list[str],
) -> dict[str, tn.Point]:
    """Variants whose best rate sits on an edge of what they tried: the next rate beyond it."""
    more = {}
    for v in (v for f in fams for v in f.variants):
        best = tn.choose_point(scores.get(v, []))
        if best is None:
            continue
        tried = [p["optim.lr"] for p in points[v]]
        nxt = tn.bracket(best["optim.lr"], tried, tn.step(lrs))
        if nxt is not None and nxt not in tried:
            more[v] = {"optim.lr": float(f"{nxt:.6g}")}
            edge = "top" if nxt > best["optim.lr"] else "bottom"
            notes.append(
                f"{v}: best rate {best['optim.lr']:g} was at the {edge} edge of its grid; tried {nxt:.6g} too"
            )
    return more


def _only_chosen(fam: Family) -> Family:
    return replace(fam, variants={v: o for v, o in fam.variants.items() if v in fam.chosen})


def choose(scores: Mapping[float, float | None]) -> float | None:
    """The rate with the best validation score; ties go to the smaller rate; None if none finished."""
    p = tn.choose_point([({"optim.lr": lr}, s) for lr, s in scores.items()])
    return None if p is None else float(p["optim.lr"])
