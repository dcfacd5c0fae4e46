"""Across seeds of a study: for each variant's final runs, the CKA between the same layer of each
pair of seeds and the rank correlation of their attribution maps, stored in the study's summary
(`data["across_seeds"]`) so that the report and the dashboard show them beside the verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from trainlab.errors import TrainlabError, one_line
from trainlab.inspect.attribution import applicable, seed_agreement
from trainlab.inspect.landscape import finite
from trainlab.inspect.similarity import across_seeds
from trainlab.inspect.target import Target, from_run
from trainlab.track.store import RunRecord, Store
from trainlab.track.strictjson import dumps

KEY = "across_seeds"  # where in a study summary's `data` the numbers live
SAMPLES = 256  # test inputs CKA is measured on (full linear CKA: cheap at this size)
MAP_SAMPLES = 32  # test inputs whose attribution maps are compared
METHOD = "ig"  # Integrated Gradients works on every kind of input and model


def seed_agreement_of_study(
    store: Store, study: str, samples: int = SAMPLES, map_samples: int = MAP_SAMPLES
) -> dict[str, Any]:
    """Per variant of `study` with two or more finished final runs (its seeds): CKA of each layer
    across the pairs of seeds (mean, min, max) and the mean Spearman correlation of the seeds'
    attribution maps; variants that cannot be compared are listed with the reason."""
    record = store.get_study(study)
    by_variant: dict[str, dict[str, RunRecord]] = {}
    for link in store.study_links(record.id, "final"):
        by_variant.setdefault(link.variant, {})[link.run.id] = link.run
    variants: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for variant, runs in by_variant.items():
        reason = _why_not(list(runs.values()))
        if reason is None:
            try:
                done = [rid for rid, r in runs.items() if r.status == "finished"]
                variants.append(_variant(store, variant, done, samples, map_samples))
                continue
            except TrainlabError as exc:
                reason = one_line(exc)
        skipped.append({"variant": variant, "reason": reason})
    if not by_variant:
        skipped.append({"variant": "(all)", "reason": "the study has no final runs"})
    return {
        "samples": samples,
        "map_samples": map_samples,
        "how": (
            f"Linear CKA between the same layer of each pair of seeds on {samples} test inputs; "
            f"attribution: mean Spearman rank correlation of the seeds' maps on {map_samples}"
        ),
        "variants": variants,
        "skipped": skipped,
    }


def add_seed_agreement(store: Store, study: str) -> dict[str, Any]:
    """Compute `seed_agreement_of_study` and store it in the study's summary (and summary.json)."""
    record = store.get_study(study)
    result = seed_agreement_of_study(store, record.id)
    summary = dict(record.summary)
    summary["data"] = {**dict(summary.get("data") or {}), KEY: result}
    store.finish_study(record.id, summary, status=record.status)
    path = record.dir / "summary.json"
    if path.exists():
        path.write_text(dumps(summary, indent=1, default=str))
    return result


def _why_not(runs: Sequence[RunRecord]) -> str | None:
    """Why this variant's seeds cannot be compared from the store (None: they can)."""
    done = [r for r in runs if r.status == "finished"]
    if len(done) < 2:
        return f"{len(done)} finished final run(s); two seeds or more are compared"
    if any(r.config.model.name.startswith("user:") for r in done):
        return "a module passed in Python cannot be rebuilt from the store"
    missing = [r.id for r in done if not (r.dir / "model.pt").exists()]
    if missing:
        return f"no checkpoint (model.pt) for run {missing[0]}"
    return None


def _variant(
    store: Store, variant: str, run_ids: list[str], samples: int, map_samples: int
) -> dict[str, Any]:
    targets = [from_run(store, rid) for rid in run_ids]
    seeds = [t.cfg.seed for t in targets]
    x = targets[0].dataset.x_test
    sims = across_seeds([t.model for t in targets], seeds, x[:samples])
    rows = sims.rows()
    maps = _maps(targets, map_samples)
    return {
        "variant": variant,
        "seeds": [int(s) for s in seeds],
        "pairs": len(sims.pairs),
        "cka": rows,
        "attribution": maps,
        "sentence": sentence(variant, len(seeds), rows, maps),
    }


def _maps(targets: Sequence[Target], samples: int) -> dict[str, Any] | None:
    ds = targets[0].dataset
    if METHOD not in applicable(targets[0].model, ds.spec.kind):
        return None
    x, y = ds.x_test[:samples], ds.y_test[:samples]
    agree = seed_agreement([t.model for t in targets], x, y, ds.spec.kind, METHOD)
    return {"method": METHOD, "mean": finite(agree.mean), "min": finite(agree.min)}


def sentence(
    variant: str, seeds: int, rows: Sequence[dict[str, Any]], maps: dict[str, Any] | None
) -> str:
    """One plain line: where the seeds learn the most and the least alike features, and how
    alike their attribution maps rank the inputs."""
    known = [r for r in rows if r["mean"] is not None]
    if not known:
        head = f"The {seeds} seeds of {variant}: CKA is undefined in every layer (constant outputs)"
    elif len(known) == 1:
        r = known[0]
        head = f"The {seeds} seeds of {variant} reach CKA {r['mean']:.2f} in {r['layer']}"
    else:
        hi = max(known, key=lambda r: r["mean"])
        lo = min(known, key=lambda r: r["mean"])
        head = (
            f"The {seeds} seeds of {variant} learn the most alike features in {hi['layer']} "
            f"(CKA {hi['mean']:.2f}) and the least alike in {lo['layer']} ({lo['mean']:.2f})"
        )
    if maps is None or maps["mean"] is None or not math.isfinite(float(maps["mean"])):
        return head + "."
    name = {"ig": "Integrated Gradients"}.get(maps["method"], maps["method"])
    return f"{head}; their {name} maps rank the inputs alike at ρ = {maps['mean']:.2f}."
