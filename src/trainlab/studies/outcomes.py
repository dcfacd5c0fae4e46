"""What a study's runs say: outcomes grouped per variant, run counts and failures, metric values
by seed, per-epoch series, run seconds, and the `Arm`s the verdicts compare (failed seeds kept)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from trainlab.config import RunConfig
from trainlab.execute import Outcome, load_examples
from trainlab.studies.verdicts import Arm
from trainlab.track.store import RunRecord, Store
from trainlab.track.summary import Table

STATUSES = ("finished", "diverged", "failed", "interrupted")


def unique(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """One outcome per config hash (a config shared by two variants ran once)."""
    seen: dict[str, Outcome] = {}
    for o in outcomes:
        seen.setdefault(o.job.hash, o)
    return list(seen.values())


def counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    runs = unique(outcomes)
    out = {"runs": len(runs), "reused": sum(o.reused for o in runs)}
    for status in STATUSES:
        out[status] = sum(o.status == status for o in runs)
    return out


def count_text(c: dict[str, int]) -> str:
    parts = [f"{c[s]} {s}" for s in STATUSES if c[s]]
    reused = f"; {c['reused']} reused from the store, not run again" if c["reused"] else ""
    return f"{c['runs']} runs: {', '.join(parts) or 'none finished'}{reused}."


def failure_table(outcomes: Sequence[Outcome]) -> Table | None:
    bad = [o for o in unique(outcomes) if o.status != "finished"]
    if not bad:
        return None
    rows = [
        [o.job.variant, o.job.config.seed, o.status, o.run.id if o.run else "", o.error[:200]]
        for o in bad
    ]
    cols = ["variant", "seed", "status", "run", "error"]
    note = "counted in n (never dropped), never fatal; a rerun retries failed ones"
    return Table("Runs that did not finish", cols, rows, note)


def finished(
    outcomes: Sequence[Outcome], variants: Sequence[str] | None = None
) -> dict[str, list[RunRecord]]:
    """Finished runs per variant (in the order of `variants`, else first appearance), by seed."""
    out: dict[str, list[RunRecord]] = {v: [] for v in variants or []}
    for o in outcomes:
        if variants is not None and o.job.variant not in out:
            continue
        runs = out.setdefault(o.job.variant, [])
        if o.status == "finished" and o.run is not None and all(r.id != o.run.id for r in runs):
            runs.append(o.run)
    for runs in out.values():
        runs.sort(key=lambda r: r.seed)
    return out


def metric(groups: dict[str, list[RunRecord]], key: str) -> dict[str, list[float]]:
    """`key` from each run's summary, per variant (runs without it are left out)."""
    return {
        v: [float(r.summary[key]) for r in runs if r.summary.get(key) is not None]
        for v, runs in groups.items()
    }


def seeds(groups: dict[str, list[RunRecord]], key: str) -> dict[str, list[int]]:
    return {
        v: [r.seed for r in runs if r.summary.get(key) is not None] for v, runs in groups.items()
    }


def series(
    store: Store, groups: dict[str, list[RunRecord]], key: str, x: str = "epoch"
) -> dict[str, list[tuple[list[float], list[float]]]]:
    """Per variant, per run: (x values, `key` values) from the stored epochs. x may be `time`
    (cumulative wall seconds, training and evaluation) or any per-epoch metric."""
    out: dict[str, list[tuple[list[float], list[float]]]] = {}
    for v, runs in groups.items():
        out[v] = []
        for r in runs:
            epochs = store.epochs(r.id)
            if x == "time":
                xs, t = [], 0.0
                for e in epochs:
                    t += e["seconds"]
                    xs.append(t)
            else:
                xs = [float(e[x]) for e in epochs]
            out[v].append((xs, [float(e[key]) for e in epochs]))
    return out


def run_seconds(store: Store, run: RunRecord) -> float:
    """Seconds the run trained and evaluated (its epochs), not a worker's start-up or data load."""
    return float(sum(e["seconds"] for e in store.epochs(run.id)))


def identity(cfg: RunConfig) -> str:
    """A digest of what is trained, without name and seed, with settings that change nothing
    folded away (adamw without weight decay is adam; momentum only for sgd/rmsprop; betas only for
    adam/adamw; warm-up only for warmup_cosine): equal digests are the same configuration."""
    d: dict[str, Any] = cfg.model_dump(mode="json")
    d.pop("name", None), d.pop("seed", None)
    o = d.get("optim", {})
    if o.get("name") == "adamw" and not o.get("weight_decay"):
        o["name"] = "adam"
    if o.get("name") not in ("sgd", "rmsprop"):
        o.pop("momentum", None)
    if o.get("name") != "sgd" or not o.get("momentum"):
        o.pop("nesterov", None)
    if o.get("name") not in ("adam", "adamw"):
        o.pop("betas", None)
    sched = d.get("schedule", {})
    if sched.get("name") != "warmup_cosine":
        sched.pop("warmup", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def arms(
    outcomes: Sequence[Outcome], family: str, variants: Sequence[str], keys: Sequence[str]
) -> list[Arm]:
    """One Arm per variant: n = seeds planned (every outcome counts, finished or not), values of
    each `key` by seed from the finished runs, and their per-example test outcomes where stored
    (all on one test set, or none)."""
    out = []
    for v in variants:
        mine = unique([o for o in outcomes if o.job.variant == v])
        done = [o.run for o in mine if o.status == "finished" and o.run is not None]
        values = {
            k: {r.seed: float(r.summary[k]) for r in done if r.summary.get(k) is not None}
            for k in keys
        }
        ident = identity(mine[0].job.config) if mine else ""
        seeds = sorted({o.job.config.seed for o in mine})
        arm = Arm(family, v, len(mine), values, ident, seeds)
        stored = {r.seed: load_examples(r) for r in done}
        sets = {e.labels for e in stored.values() if e is not None}
        if stored and None not in stored.values() and len(sets) == 1:
            arm.examples = {s: e.correct for s, e in stored.items() if e is not None}
            arm.test_set = sets.pop()
        out.append(arm)
    return out
