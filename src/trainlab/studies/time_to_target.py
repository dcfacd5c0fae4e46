"""Time to target (AlgoPerf-style): the target is the reference's median final validation accuracy
(or one the user gives); per variant the epochs, steps and seconds to reach it, with spread. A run
that never reaches it, diverged or failed, counts as not reached, never dropped."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from trainlab.execute import Outcome
from trainlab.studies.outcomes import unique
from trainlab.track.store import Store
from trainlab.track.summary import Table


def to_target(
    epochs: Sequence[Mapping[str, float]], target: float
) -> tuple[int, int, float] | None:
    """(epoch, step, wall seconds) when val_acc first reached `target`; None if never."""
    seconds = 0.0
    for e in epochs:
        seconds += e["seconds"]
        if e["val_acc"] >= target:
            return int(e["epoch"]), int(e["step"]), seconds
    return None


def reference_target(outcomes: Sequence[Outcome], reference: str) -> float | None:
    """The reference's median final val_acc over its finished runs (None if none finished)."""
    vals = [
        float(o.run.summary["val_acc"])
        for o in unique([o for o in outcomes if o.job.variant == reference])
        if o.status == "finished" and o.run is not None and "val_acc" in o.run.summary
    ]
    return statistics.median(vals) if vals else None


def time_to_target(
    store: Store, outcomes: Sequence[Outcome], variants: Sequence[str], target: float
) -> dict[str, dict[str, Any]]:
    """Per variant: n planned, reached, and per measure (epochs, steps, seconds) the values of the
    runs that reached it with their median, min and max."""
    out: dict[str, dict[str, Any]] = {}
    for v in variants:
        mine = unique([o for o in outcomes if o.job.variant == v])
        hits = []
        for o in mine:
            ok = o.status == "finished" and o.run is not None
            hit = to_target(store.epochs(o.run.id), target) if ok and o.run else None
            if hit is not None:
                hits.append(hit)
        row: dict[str, Any] = {"n": len(mine), "reached": len(hits)}
        for i, key in enumerate(("epochs", "steps", "seconds")):
            xs = [float(h[i]) for h in hits]
            row[key] = {"values": xs, "median": statistics.median(xs) if xs else None,
                        "min": min(xs, default=None), "max": max(xs, default=None)}  # fmt: skip
        out[v] = row
    return out


def target_section(
    store: Store,
    outcomes: Sequence[Outcome],
    variants: Sequence[str],
    reference: str,
    target: float | None,
    title: str,
) -> tuple[Table, dict[str, Any]] | None:
    """Time to `target` (default: the median final val_acc of `reference`) as a table titled
    `title` and its data {"target", "how", "variants"}; None when no reference run finished."""
    how = "given" if target is not None else f"median final val_acc of the reference {reference}"
    goal = target if target is not None else reference_target(outcomes, reference)
    if goal is None:
        return None
    ttt = time_to_target(store, outcomes, variants, goal)
    return target_table(title, ttt, goal, how), {"target": goal, "how": how, "variants": ttt}


def target_table(
    title: str, ttt: Mapping[str, Mapping[str, Any]], target: float, how: str
) -> Table:
    rows = []
    for v, r in ttt.items():
        cells: list[Any] = [v, f"{r['reached']} of {r['n']}"]
        for key in ("epochs", "steps", "seconds"):
            m = r[key]
            cells.append(None if m["median"] is None else round(m["median"], 2))
            cells.append("" if m["min"] is None else f"{m['min']:.4g}–{m['max']:.4g}")
        rows.append(cells)
    cols = ["variant", "reached", "epochs (median)", "epochs range", "steps (median)"]
    cols += ["steps range", "seconds (median)", "seconds range"]
    note = (f"target val_acc {target:.4g} ({how}); medians and ranges over the runs that reached it; "
            "a run that did not (or diverged, or failed) counts as not reached; seconds are "
            "training + evaluation time of the run and depend on the machine's load")  # fmt: skip
    return Table(title, cols, rows, note)
