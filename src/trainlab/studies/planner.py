"""How many seeds a study needs: from its stored (pilot) final runs, per comparison the seeds per
variant whose exact test can pass Holm at the next look and whose power to find a stated effect
is 80% (noncentral t on the pilot's SD of per-seed differences, plus the test set's own variance,
which more seeds do not shrink)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from trainlab.errors import ConfigError
from trainlab.execute import load_examples
from trainlab.studies.inference import seeds_for, seeds_needed
from trainlab.studies.looks import spent
from trainlab.studies.stats import ALPHA, POWER
from trainlab.track.store import Store
from trainlab.track.summary import Table


def plan_seeds(store: Store, ref: str, effect: float, alpha: float = ALPHA) -> dict[str, Any]:
    """Per comparison of study `ref`: pilot n, SD of the paired differences, the test set's SE,
    and the seeds per variant needed to detect `effect` at POWER after Holm at the next look."""
    if not 0 < effect < 1:
        raise ConfigError(f"--effect {effect}: must be an accuracy difference in (0, 1)")
    study = store.get_study(ref)
    comp = study.summary.get("data", {}).get("comparison")
    if not comp or not comp.get("comparisons"):
        raise ConfigError(
            f"study {study.name!r} has no stored comparisons to plan from; run it first"
        )
    look = len(study.summary.get("data", {}).get("looks", [])) + 1
    m = max(1, int(comp.get("n_comparisons") or 1))
    level = spent(alpha, look) / m
    runs: dict[str, dict[int, Any]] = {}
    for link in store.study_links(study.id, "final"):
        if link.run.status == "finished":
            runs.setdefault(link.variant, {})[link.run.seed] = link.run
    rows = []
    for c in comp["comparisons"]:
        if c.get("metric") != "test_acc" or c.get("p") is None:
            continue
        a, r = runs.get(c["variant"], {}), runs.get(c["reference"], {})
        both = sorted(set(a) & set(r))
        if len(both) < 2:
            continue
        d = np.array([a[s].summary["test_acc"] - r[s].summary["test_acc"] for s in both], float)
        var_ex = _examples_variance([a[s] for s in both], [r[s] for s in both])
        need = seeds_for(effect, float(d.std(ddof=1)), var_ex, level)
        rows.append({"variant": c["variant"], "reference": c["reference"], "pilot_n": len(both),
                     "sd_diff": float(d.std(ddof=1)), "test_set_se": math.sqrt(var_ex),
                     "seeds": need})  # fmt: skip
    return {"study": study.name, "effect": effect, "power": POWER, "look": look, "alpha": alpha,
            "alpha_look": spent(alpha, look), "n_comparisons": m, "level": level,
            "floor_seeds": seeds_needed(level), "rows": rows}  # fmt: skip


def _examples_variance(a: list[Any], r: list[Any]) -> float:
    """Var of the mean difference over the test set's examples (0 where outcomes are missing)."""
    ea, er = [load_examples(x) for x in a], [load_examples(x) for x in r]
    if any(e is None for e in ea + er):
        return 0.0
    ca = np.stack([e.correct for e in ea if e is not None]).astype(float)
    cr = np.stack([e.correct for e in er if e is not None]).astype(float)
    if ca.shape != cr.shape:
        return 0.0
    e = (ca - cr).mean(0)
    return float(e.var(ddof=1)) / e.size


def plan_table(plan: dict[str, Any]) -> Table:
    rows = [[r["variant"], r["reference"], r["pilot_n"], round(r["sd_diff"], 4),
             round(r["test_set_se"], 4), r["seeds"] if r["seeds"] is not None else "more than 1000"]
            for r in plan["rows"]]  # fmt: skip
    note = (f"seeds per variant to detect a difference of {plan['effect']:g} with "
            f"{plan['power']:.0%} power at look {plan['look']} (alpha {plan['alpha_look']:.3g}, "
            f"Holm over {plan['n_comparisons']}: {plan['level']:.2g} each; the exact test needs at "
            f"least {plan['floor_seeds']}); noncentral t on the pilot's SD of per-seed differences "
            "(an estimate) plus the test set's variance, which more seeds do not shrink")  # fmt: skip
    cols = ["variant", "reference", "pilot n", "SD of differences", "test-set SE", "seeds needed"]
    return Table(f"Seeds needed: {plan['study']}", cols, rows, note)
