"""Group runs by config fields: a mean curve per group with a 95% t-interval over its runs (seeds),
and one summary value per run (last, best or at epoch k) with the group's mean and interval. Each
group carries its value of each naming field, so a chart can colour by one and dash by another.

Grouping by `seed` means "collapse seeds": runs whose configs differ only in seed (and name) form
one group. Accuracy bands are clipped to [0, 1]: an interval never leaves the metric's range.
"""

from __future__ import annotations

import json
import math
from typing import Any

from scipy.special import stdtrit

from trainlab.ui.queries import Reader

SUMMARIES = ("last", "best", "epoch")
_IGNORED = ("seed", "name")


def t95(n: int) -> float:
    """The two-sided 95% t quantile for n values (n - 1 degrees of freedom)."""
    return float(stdtrit(n - 1, 0.975)) if n > 1 else math.nan


def mean_ci(values: list[float], low: float | None, high: float | None) -> dict[str, Any]:
    """Mean and 95% t-interval of `values`, clipped to [low, high] where given."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return {"n": n, "mean": mean, "lo": mean, "hi": mean}
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t95(n) * sd / math.sqrt(n)
    lo, hi = mean - half, mean + half
    if low is not None:
        lo = max(lo, low)
    if high is not None:
        hi = min(hi, high)
    return {"n": n, "mean": mean, "lo": lo, "hi": hi}


def bounds(metric: str) -> tuple[float | None, float | None]:
    if metric.endswith("acc") or metric.endswith("_acc"):
        return 0.0, 1.0
    if metric.endswith("loss") or metric in ("lr", "seconds", "ece"):
        return 0.0, None
    return None, None


def summary_value(ys: list[float], how: str, k: int, maximize: bool) -> float | None:
    vals = [y for y in ys if y is not None and math.isfinite(y)]
    if not vals:
        return None
    if how == "best":
        return max(vals) if maximize else min(vals)
    if how == "epoch":
        return ys[k - 1] if 0 < k <= len(ys) and ys[k - 1] is not None else None
    return vals[-1]


def named_fields(by: list[str]) -> list[str]:
    """The fields of `by` that name groups (seed and name only collapse runs)."""
    return [f for f in by if f not in _IGNORED]


def group_key(config: dict[str, Any], by: list[str]) -> tuple[str, str]:
    """(key, label) of a run's group; `seed` alone groups by everything but seed and name."""
    named = named_fields(by)
    if not named:
        rest = {k: v for k, v in config.items() if k not in _IGNORED}
        return json.dumps(rest, sort_keys=True, default=str), ""
    label = " ".join(f"{f}={config.get(f)}" for f in named)
    return label, label


def _label_by_differences(buckets: list[dict[str, Any]], most: int = 4) -> None:
    """Seeds collapsed, each group is one config: label it by the fields in which the groups'
    configs differ (`optim.name=sgd train.epochs=2`), not by one of its runs' names, which its
    other runs need not share. One group: its runs' common name, else "all runs"."""
    configs = [
        {k: v for k, v in b["runs"][0]["config"].items() if k not in _IGNORED} for b in buckets
    ]
    keys = sorted({k for c in configs for k in c})
    differ = [k for k in keys if len({json.dumps(c.get(k), default=str) for c in configs}) > 1]
    for b, config in zip(buckets, configs, strict=True):
        if differ:
            shown = " ".join(f"{k}={config.get(k)}" for k in differ[:most])
            b["label"] = shown + (
                f" (+{len(differ) - most} more fields)" if len(differ) > most else ""
            )
        else:
            names = {r["name"] for r in b["runs"]}
            b["label"] = names.pop() if len(names) == 1 else "all runs"


def _label_by_named_differences(buckets: list[dict[str, Any]], named: list[str]) -> None:
    """Grouped by fields: label each group by those of them whose values differ between the
    groups (every group shares the rest, so it tells nothing apart); one group keeps them all."""
    differ = [
        f for f in named if len({json.dumps(b["fields"][f], default=str) for b in buckets}) > 1
    ]
    for b in buckets:
        b["label"] = " ".join(f"{f}={b['fields'][f]}" for f in differ or named)


def groups(
    reader: Reader, ids: list[str], by: list[str], metric: str, how: str = "last", k: int = 0
) -> dict[str, Any]:
    """Curves of `ids` grouped by `by`: per group its runs, mean ± 95% CI per epoch, summary."""
    curves = reader.curves(ids, metric)
    low, high = bounds(metric)
    maximize = not (metric.endswith("loss") or metric == "ece")
    named = named_fields(by)
    buckets: dict[str, dict[str, Any]] = {}
    for c in curves:
        key, label = group_key(c["config"], by)
        fields = {f: c["config"].get(f) for f in named}
        b = buckets.setdefault(key, {"label": label, "fields": fields, "runs": []})
        b["runs"].append(c)
    if not named:
        _label_by_differences(list(buckets.values()))
    else:
        _label_by_named_differences(list(buckets.values()), named)
    out = []
    for b in buckets.values():
        runs = b["runs"]
        length = max(len(r["y"]) for r in runs)
        band: dict[str, list[Any]] = {"epoch": [], "mean": [], "lo": [], "hi": [], "n": []}
        for i in range(length):
            at = [r["y"][i] for r in runs if i < len(r["y"]) and r["y"][i] is not None]
            at = [v for v in at if math.isfinite(v)]
            if not at:
                continue
            stats = mean_ci(at, low, high)
            band["epoch"].append(i + 1)
            for name in ("mean", "lo", "hi", "n"):
                band[name].append(stats[name])
        values = [summary_value(r["y"], how, k, maximize) for r in runs]
        finite = [v for v in values if v is not None]
        out.append(
            {
                "label": b["label"],
                "fields": b["fields"],  # the group's value of each naming field, in `by` order
                "n": len(runs),
                "running": sum(r["status"] == "running" for r in runs),
                "band": band,
                "runs": [{"id": r["id"], "name": r["name"], "seed": r["seed"]} for r in runs],
                "traces": [{"id": r["id"], "epoch": r["epoch"], "y": r["y"]} for r in runs],
                "summary": mean_ci(finite, low, high) if finite else None,
                "values": values,
            }
        )
    out.sort(key=lambda g: g["label"])
    return {"metric": metric, "by": by, "how": how, "k": k, "groups": out}
