"""Verdicts a statistician would sign: every variant against a reference declared before running,
paired by seed where the seeds are shared (Welch otherwise), Holm-corrected over the study, with
the CI of the difference, TOST equivalence on request and the difference this n could detect;
"best" is chosen on validation and tested on the reported metric. Failed seeds stay in n.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainlab.studies.stats import (
    ALPHA,
    POWER,
    UNIT,
    Test,
    describe,
    detectable,
    holm,
    paired_or_welch,
    tost,
)
from trainlab.track.summary import Summary, Table

CORRECTION = "holm"


@dataclass
class Arm:
    """One variant's final runs: per metric its value by seed (finished runs), and its plan."""

    family: str  # the group of variants compared with one reference (e.g. optimizers, schedules)
    name: str
    n: int  # seeds planned: finished, diverged and failed all count
    values: dict[str, dict[int, float]] = field(default_factory=dict)  # metric -> seed -> value
    identity: str = ""  # what is trained, without name and seed: equal identities = same config

    def n_finished(self, metric: str) -> int:
        return len(self.values.get(metric, {}))


@dataclass(frozen=True)
class Metric:
    key: str  # summary key, e.g. test_acc
    higher: bool = True  # higher is better
    bounds: tuple[float, float] | None = UNIT


def judge(
    arms: Sequence[Arm],
    references: Mapping[str, str],
    metrics: Sequence[Metric],
    selection: str = "val_acc",
    min_effect: float | None = None,
    alpha: float = ALPHA,
) -> dict[str, Any]:
    """The comparison object: variants, comparisons against each family's reference (Holm over all
    of them) and the best-on-`selection` variant per family with the set not distinguishable from
    it on the first metric (Holm over that family's comparisons with it)."""
    variants = [_variant(a, metrics[0], selection) for a in arms]
    comps: list[dict[str, Any]] = []
    for a in arms:
        ref = _find(arms, a.family, references.get(a.family))
        if ref is None or ref is a:
            continue
        for m in metrics:
            comps.append(_compare(a, ref, m, min_effect))
    _correct(comps, alpha)
    best = [
        _best(arms, fam, metrics[0], selection, alpha)
        for fam in dict.fromkeys(a.family for a in arms)
    ]
    return {
        "selection_metric": selection,
        "metric": metrics[0].key,
        "metrics": [m.key for m in metrics],
        "ranges": {m.key: None if m.bounds is None else m.bounds[1] - m.bounds[0] for m in metrics},
        "reference": next(iter(references.values()), None),
        "references": dict(references),
        "correction": CORRECTION,
        "alpha": alpha,
        "power": POWER,
        "min_effect": min_effect,
        "n_comparisons": sum(c["p"] is not None for c in comps),
        "variants": variants,
        "comparisons": comps,
        "best": [b for b in best if b is not None],
    }


def _find(arms: Sequence[Arm], family: str, name: str | None) -> Arm | None:
    return next((a for a in arms if a.family == family and a.name == name), None)


def _variant(a: Arm, m: Metric, selection: str) -> dict[str, Any]:
    vals = list(a.values.get(m.key, {}).values())
    sel = list(a.values.get(selection, {}).values())
    s = describe(vals, bounds=m.bounds) if vals else None
    return {
        "family": a.family,
        "variant": a.name,
        "n": a.n,
        "n_finished": len(vals),
        "unstable": len(vals) < a.n,
        "mean": None if s is None else s.mean,
        "std": None if s is None else s.std,
        "ci": None if s is None or s.ci_low is None else [s.ci_low, s.ci_high],
        "selection_mean": float(np.mean(sel)) if sel else None,
    }


def _compare(a: Arm, ref: Arm, m: Metric, min_effect: float | None) -> dict[str, Any]:
    base = {"family": a.family, "variant": a.name, "reference": ref.name, "metric": m.key,
            "n": a.n, "n_finished": a.n_finished(m.key), "n_reference": ref.n,
            "n_reference_finished": ref.n_finished(m.key), "higher_is_better": m.higher}  # fmt: skip
    none = {"diff": None, "diff_ci": None, "p": None, "p_adj": None, "mde": None, "p_tost": None}
    if a.identity and a.identity == ref.identity:
        return {
            **base,
            **none,
            "test": "identical configuration",
            "verdict": "identical configuration",
        }
    va, vr = a.values.get(m.key, {}), ref.values.get(m.key, {})
    if len(va) < 2 or len(vr) < 2:
        return {**base, **none, "test": "none", "verdict": f"inconclusive: {min(len(va), len(vr))} finished seed(s)"}  # fmt: skip
    t = paired_or_welch(va, vr)
    return {**base, "diff": t.diff, "diff_ci": None if t.ci is None else list(t.ci), "p": t.p,
            "p_adj": None, "test": t.test, "verdict": "", "se": t.se, "df": t.df,
            "mde": None, "p_tost": None if min_effect is None else tost(t, min_effect),
            "min_effect": min_effect}  # fmt: skip


def _correct(comps: list[dict[str, Any]], alpha: float) -> None:
    """Holm over every tested comparison; verdicts on the adjusted p (equivalence: on adjusted
    TOST p); "within noise" says the difference this n detects at Holm's strictest level."""
    tested = [c for c in comps if c["p"] is not None]
    for c, p in zip(tested, holm([c["p"] for c in tested]), strict=True):
        c["p_adj"] = p
    for c, p in zip(tested, holm([c["p_tost"] for c in tested]), strict=True):
        c["p_tost_adj"] = p
    m = max(1, len(tested))
    for c in tested:
        se, df = c.pop("se"), c.pop("df")
        sign = c["diff"] if c["higher_is_better"] else -c["diff"]
        if c["p_adj"] < alpha and sign != 0:
            c["verdict"] = "better" if sign > 0 else "worse"
        elif c["p_tost_adj"] is not None and c["p_tost_adj"] < alpha:
            c["verdict"] = f"equivalent within ±{c['min_effect']:g}"
        else:
            c["verdict"] = "within noise"
        if c["verdict"] == "within noise" and se:
            c["mde"] = detectable(Test(c["diff"], None, None, c["test"], c["n"], se, df), alpha / m)


def _best(
    arms: Sequence[Arm], family: str, m: Metric, selection: str, alpha: float
) -> dict[str, Any] | None:
    mine = [a for a in arms if a.family == family and a.values.get(selection)]
    if not mine:
        return None
    pick = min if selection.endswith("loss") else max
    chosen = pick(mine, key=lambda a: float(np.mean(list(a.values[selection].values()))))
    others = [a for a in mine if a is not chosen]
    tests = [paired_or_welch(a.values.get(m.key, {}), chosen.values.get(m.key, {}))
             if len(a.values.get(m.key, {})) >= 2 and len(chosen.values.get(m.key, {})) >= 2 else None
             for a in others]  # fmt: skip
    adj = holm([None if t is None else t.p for t in tests])
    same = [a.name for a, p in zip(others, adj, strict=True) if p is None or p >= alpha]
    worse = [a.name for a, p in zip(others, adj, strict=True) if p is not None and p < alpha]
    return {"family": family, "variant": chosen.name, "selection_metric": selection, "metric": m.key,
            "n_comparisons": sum(t is not None for t in tests), "not_distinguishable": same,
            "distinguishable": worse}  # fmt: skip


def _num(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


def table(comp: Mapping[str, Any], title: str) -> Table:
    """Every comparison against the reference: difference, its CI, raw and Holm p, test, verdict."""
    rows = []
    for c in comp["comparisons"]:
        ci = c["diff_ci"] or [None, None]
        p = None if c["p"] is None else float(f"{c['p']:.3g}")
        padj = None if c["p_adj"] is None else float(f"{c['p_adj']:.3g}")
        rows.append([c["family"], c["variant"], c["reference"], c["metric"],
                     f"{c['n_finished']} of {c['n']}", _num(c["diff"]), _num(ci[0]), _num(ci[1]),
                     c["test"], p, padj, c["verdict"], _num(c["mde"])])  # fmt: skip
    cols = ["family", "variant", "reference", "metric", "finished", "diff", "diff ci95 low"]
    cols += ["diff ci95 high", "test", "p", "p (Holm)", "verdict", "detectable diff"]
    note = (f"diff = mean(variant) - mean(reference) over finished seeds, {comp['alpha']:g} two-sided; "
            f"paired t by seed where the seeds are shared, Welch otherwise; Holm over "
            f"{comp['n_comparisons']} comparisons; verdict on the Holm p; detectable diff: what "
            f"this n finds at {comp['power']:.0%} power at Holm's strictest level")  # fmt: skip
    if comp.get("min_effect") is not None:
        note += f"; equivalence by TOST within ±{comp['min_effect']:g}, Holm-corrected"
    return Table(title, cols, rows, note)


def sentences(comp: Mapping[str, Any]) -> list[str]:
    """One line per comparison, e.g. "sgd vs adam on test_acc: worse (diff -0.041 [-0.07,
    -0.01], paired t, p=0.003, Holm p=0.018 over 6; 3 of 3 finished)"."""
    out = []
    for c in comp["comparisons"]:
        head = f"{c['variant']} vs {c['reference']} on {c['metric']}: {c['verdict']}"
        if c["p"] is None:
            out.append(f"{head} ({c['n_finished']} of {c['n']} finished)")
            continue
        lo, hi = c["diff_ci"]
        extra = ""
        if c["verdict"] == "within noise":
            extra = "; " + detectable_words([c["mde"]], c["n"], _range(comp, c["metric"]))
        if c["test"].endswith("(no spread)") and c["diff"] != 0:
            extra += ("; every seed differed by the same amount, so p is 0: more seeds would "
                      "show the noise this n could not")  # fmt: skip
        out.append(f"{head} (diff {c['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}], {c['test']}, "
                   f"p={c['p']:.3g}, Holm p={c['p_adj']:.3g} over {comp['n_comparisons']}; "
                   f"{c['n_finished']} of {c['n']} finished{extra})")  # fmt: skip
    return out


def answers(comp: Mapping[str, Any], titles: Mapping[str, str] | None = None) -> list[str]:
    """The corrected headline answers per family, in plain words, for the report's Findings."""
    out = []
    titles = titles or {}
    m = comp["n_comparisons"]
    for b in comp["best"]:
        fam = b["family"]
        label = titles.get(fam, fam)
        same = ", ".join(b["not_distinguishable"]) or "none"
        out.append(f"{label}: best on validation ({b['selection_metric']}): {b['variant']}; not "
                   f"distinguishable from it on {b['metric']} after Holm over {b['n_comparisons']}: {same}.")  # fmt: skip
        mine = [
            c for c in comp["comparisons"] if c["family"] == fam and c["metric"] == comp["metric"]
        ]
        if not mine:
            continue
        ref = mine[0]["reference"]
        words = []
        for verdict in ("better", "worse"):
            names = [c["variant"] for c in mine if c["verdict"] == verdict]
            if names:
                words.append(f"{verdict}: {', '.join(names)}")
        eq = [c["variant"] for c in mine if c["verdict"].startswith("equivalent")]
        if eq:
            words.append(f"equivalent within ±{comp['min_effect']:g}: {', '.join(eq)}")
        noise = [c for c in mine if c["verdict"] == "within noise"]
        if noise:
            det = detectable_words([c["mde"] for c in noise], noise[0]["n"], _range(comp, comp["metric"]))  # fmt: skip
            words.append(f"within noise: {', '.join(c['variant'] for c in noise)} ({det})")
        same_cfg = [c["variant"] for c in mine if c["verdict"] == "identical configuration"]
        if same_cfg:
            words.append(f"identical configuration to {ref}: {', '.join(same_cfg)}")
        out.append(f"{label}: against the reference {ref} on {comp['metric']} (Holm over {m}): "
                   + "; ".join(words or ["no test possible"]) + ".")  # fmt: skip
    bad = [
        f"{v['variant']} ({v['n_finished']} of {v['n']} finished)"
        for v in comp["variants"]
        if v["unstable"]
    ]
    if bad:
        out.append(f"Unstable (statistics over finished seeds only): {', '.join(bad)}.")
    return out


def detectable_words(mdes: Sequence[float | None], n: int, span: float | None) -> str:
    """What `n` seeds could detect: "detectable at n=3: ±0.012" (the largest of `mdes`), or "no
    difference detectable at n=3" when none is defined or it is not smaller than the metric's
    range `span` (1 for an accuracy; None: unbounded)."""
    known = [m for m in mdes if m is not None]
    if not known or (span is not None and max(known) >= span):
        return f"no difference detectable at n={n}"
    return f"detectable at n={n}: ±{max(known):.3f}"


def _range(comp: Mapping[str, Any], metric: str) -> float | None:
    return comp.get("ranges", {}).get(metric)


def conclude(
    summary: Summary,
    arms: Sequence[Arm],
    references: Mapping[str, str],
    metrics: Sequence[Metric],
    titles: Mapping[str, str] | None = None,
    min_effect: float | None = None,
) -> dict[str, Any]:
    """Judge `arms` and put the result in `summary`: data["comparison"], the comparison table,
    every comparison's sentence in `verdicts` and the corrected headline `answers`."""
    comp = judge(arms, references, metrics, min_effect=min_effect)
    summary.data["comparison"] = comp
    names = ", ".join(f"{r} ({f})" if len(references) > 1 else r for f, r in references.items())
    summary.tables.append(table(comp, f"Against the reference: {names}"))
    summary.verdicts += sentences(comp)
    summary.answers += answers(comp, titles)
    summary.text.append(
        f"Chosen on validation ({comp['selection_metric']}); test numbers are reported, never used "
        f"to choose. Reference declared before running: {names}. Verdicts on Holm-adjusted p over "
        f"{comp['n_comparisons']} comparisons, alpha {comp['alpha']:g}."
    )
    return comp
