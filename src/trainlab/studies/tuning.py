"""How a study tunes a variant's hyperparameters on validation: a learning-rate grid bracketed at
its edges (extended one step while the best rate sits on an edge, within the budget), or an
AlgoPerf-style external-tuning ruleset — the same quasi-random trials (scrambled Halton, seeded)
for every optimizer over a workload-agnostic space. Test metrics never enter here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from trainlab.execute import Outcome

Point = dict[str, Any]  # dotted overrides of one tuning trial, e.g. {"optim.lr": 0.01}
MAX_LR = 10.0  # the config's upper bound of optim.lr
# AlgoPerf-style search space (log-uniform ranges), used where a dimension applies
SPACE = {"one_minus_momentum": (1e-2, 0.5), "weight_decay": (1e-5, 1e-1), "warmup": (0.0, 0.1)}
TUNINGS = ("grid", "quasirandom")


def grid_points(lrs: Sequence[float]) -> list[Point]:
    return [{"optim.lr": lr} for lr in lrs]


def step(lrs: Sequence[float]) -> float:
    """The grid's ratio between neighbouring rates (10 for a one-point grid)."""
    s = sorted(lrs)
    return s[1] / s[0] if len(s) > 1 else 10.0


def bracket(chosen: float, tried: Sequence[float], ratio: float) -> float | None:
    """The next rate to try when `chosen` sits on an edge of `tried`: one step beyond it; None
    when it is inside (bracketed) or the next step leaves the allowed range."""
    lo, hi = min(tried), max(tried)
    if chosen == hi and chosen * ratio <= MAX_LR * (1 + 1e-9):
        return min(chosen * ratio, MAX_LR)
    if chosen == lo and chosen != hi:
        return chosen / ratio
    return None


def quasirandom_points(
    overrides: Mapping[str, Any], trials: int, lr_range: tuple[float, float], seed: int = 0
) -> list[Point]:
    """`trials` points of a scrambled Halton sequence (the same for every optimizer with this
    seed) over log lr, momentum or beta1 (sgd with momentum, adam, adamw), weight decay, and
    warm-up epochs as a share of training (warmup_cosine only)."""
    from scipy.stats import qmc

    u = qmc.Halton(d=4, scramble=True, seed=seed).random(trials)
    name = overrides.get("optim.name")
    points = []
    for row in u:
        p: Point = {"optim.lr": _log(lr_range, row[0])}
        one_minus = _log(SPACE["one_minus_momentum"], row[1])
        if name == "sgd" and overrides.get("optim.momentum", 0) > 0:
            p["optim.momentum"] = round(1 - one_minus, 6)
        elif name in ("adam", "adamw"):
            p["optim.betas"] = [round(1 - one_minus, 6), 0.999]
        p["optim.weight_decay"] = float(f"{_log(SPACE['weight_decay'], row[2]):.4g}")
        if overrides.get("schedule.name") == "warmup_cosine":
            p["warmup_share"] = float(
                SPACE["warmup"][0] + row[3] * (SPACE["warmup"][1] - SPACE["warmup"][0])
            )
        points.append(p)
    return points


def _log(r: tuple[float, float], x: float) -> float:
    return float(f"{math.exp(math.log(r[0]) + x * (math.log(r[1]) - math.log(r[0]))):.4g}")


def apply(point: Point, epochs: int) -> Point:
    """The config overrides of a point (a warm-up share becomes whole epochs, at least 1)."""
    out = {k: v for k, v in point.items() if k != "warmup_share"}
    if "warmup_share" in point:
        out["schedule.warmup"] = max(1, round(point["warmup_share"] * epochs))
    return out


def key(point: Point) -> str:
    """A short label of a point: its values in order, e.g. `lr=0.01 wd=1e-05`."""
    short = {"optim.lr": "lr", "optim.momentum": "mom", "optim.betas": "b1",
             "optim.weight_decay": "wd", "warmup_share": "warmup"}  # fmt: skip
    parts = []
    for k, v in point.items():
        v = v[0] if isinstance(v, list) else v
        parts.append(f"{short.get(k, k)}={v:.3g}")
    return " ".join(parts)


def scores(
    outcomes: Sequence[Outcome],
    tags: Sequence[tuple[str, int]],
    points: Mapping[str, Sequence[Point]],
) -> dict[str, list[tuple[Point, float | None]]]:
    """Per variant and point: mean final val_acc over the tuning seeds; None if any seed did not
    finish (diverged or failed), so an unstable point is never chosen. `tags[i]` is the (variant,
    point index) of `outcomes[i]`."""
    vals: dict[tuple[str, int], list[float | None]] = {}
    for o, tag in zip(outcomes, tags, strict=True):
        v = o.run.summary.get("val_acc") if o.status == "finished" and o.run else None
        vals.setdefault(tag, []).append(v)
    return {
        var: [(p, _mean_or_none(vals.get((var, i), [None]))) for i, p in enumerate(pts)]
        for var, pts in points.items()
    }


def _mean_or_none(xs: Sequence[float | None]) -> float | None:
    ok = [x for x in xs if x is not None]
    return sum(ok) / len(ok) if ok and len(ok) == len(xs) else None


def choose_point(rows: Sequence[tuple[Point, float | None]]) -> Point | None:
    """The point with the best validation score; ties go to the smaller rate; None if none
    finished."""
    ok = [(p, s) for p, s in rows if s is not None]
    if not ok:
        return None
    return min(ok, key=lambda ps: (-ps[1], ps[0]["optim.lr"]))[0]
