"""Verdicts a statistician would sign: every variant against a reference declared before running,
by exact small-sample tests (sign-flip by seed where the seeds are shared, a permutation test
otherwise; failed seeds entered as the metric's worst value) combined with a seeds x test-examples
test that counts the test set's own noise; Holm over the study's comparisons at the level this
look spends (`looks`); the CI of the difference, TOST on request and the difference this n could
detect (noncentral t). "Best" is chosen on runs that are not tested (tuning or selection seeds).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

from trainlab.config import RunConfig
from trainlab.data.catalog import task_of
from trainlab.provenance import is_import_path, load_object
from trainlab.studies.inference import Test, detectable, difference, seeds_needed, tost
from trainlab.studies.looks import SPENDING, spent
from trainlab.studies.stats import ALPHA, POWER, UNIT, describe, holm
from trainlab.track.summary import Summary, Table
from trainlab.train.selection import SELECTION, higher_is_better, metric_name

CORRECTION = "holm"


@dataclass
class Arm:
    """One variant's final runs: per metric its value by seed (finished runs), and its plan."""

    family: str  # the group of variants compared with one reference (e.g. optimizers, schedules)
    name: str
    n: int  # seeds planned: finished, diverged and failed all count
    values: dict[str, dict[int, float]] = field(default_factory=dict)  # metric -> seed -> value
    identity: str = ""  # what is trained, without name and seed: equal identities = same config
    seeds: list[int] = field(default_factory=list)  # seeds planned (default: the finished ones)
    examples: dict[int, np.ndarray] = field(default_factory=dict)  # seed -> 0/1 test outcomes
    test_set: str = ""  # digest of the test labels behind `examples`

    def n_finished(self, metric: str) -> int:
        return len(self.values.get(metric, {}))

    def planned(self, metric: str) -> dict[int, float | None]:
        """Seed -> value, None for a planned seed that did not finish."""
        got = self.values.get(metric, {})
        seeds = self.seeds or sorted(got)
        return {s: got.get(s) for s in sorted(set(seeds) | set(got))}


@dataclass(frozen=True)
class Metric:
    key: str  # summary key, e.g. test_acc
    higher: bool = True  # higher is better
    bounds: tuple[float, float] | None = UNIT

    @property
    def worst(self) -> float:
        """The value a failed run enters the exact test with (accuracy 0, ECE 1)."""
        if self.bounds is None:
            return -math.inf if self.higher else math.inf
        return self.bounds[0] if self.higher else self.bounds[1]


BOUNDED = {"acc": UNIT, "f1_macro": UNIT, "f1_weighted": UNIT, "precision_macro": UNIT,
           "recall_macro": UNIT, "auroc": UNIT, "ece": UNIT, "mcc": (-1.0, 1.0)}  # fmt: skip


def measures(cfg: RunConfig) -> tuple[str, list[Metric]]:
    """What a study of runs of `cfg` chooses on and compares on: its task's selection metric
    (val_acc; regression: val_rmse, lower), and test_acc (regression: test_rmse) followed by
    test_<name> of each `train.metrics`, each with its direction and range."""
    task = task_of(cfg.data.name, cfg.data.options)
    key, _ = SELECTION[task]
    out = [Metric("test_rmse", False, None) if task == "regression" else Metric("test_acc")]
    for n in cfg.train.metrics:
        name = metric_name(n)
        # a user's function may say `higher_is_better = False` (as torchmetrics' classes do)
        higher = (
            getattr(load_object(n, "train.metrics"), "higher_is_better", True)
            if is_import_path(n)
            else higher_is_better(name)
        )
        out.append(Metric(f"test_{name}", bool(higher), BOUNDED.get(name)))
    return key, out


def judge(
    arms: Sequence[Arm],
    references: Mapping[str, str],
    metrics: Sequence[Metric],
    selection: str = "val_acc",
    min_effect: float | None = None,
    alpha: float = ALPHA,
    chosen: Mapping[str, Mapping[str, float]] | None = None,
    look: int = 1,
) -> dict[str, Any]:
    """The comparison object: variants, comparisons against each family's reference (Holm over all
    of them, at this look's level) and, per family with selection scores in `chosen` (family ->
    variant -> `selection` score of runs that are not tested: tuning or selection seeds), the best
    variant and which variants are better, worse or not distinguishable from it on test."""
    level = spent(alpha, look)
    variants = [_variant(a, metrics[0], selection) for a in arms]
    comps: list[dict[str, Any]] = []
    for a in arms:
        ref = _find(arms, a.family, references.get(a.family))
        if ref is None or ref is a:
            continue
        for m in metrics:
            comps.append(_compare(a, ref, m, min_effect))
    _correct(comps, level)
    best = [
        _best(arms, fam, metrics[0], selection, level, (chosen or {}).get(fam))
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
        "look": look,
        "alpha_look": level,
        "spending": SPENDING,
        "power": POWER,
        "min_effect": min_effect,
        "n_comparisons": sum(c["p"] is not None for c in comps),
        "variants": variants,
        "comparisons": comps,
        "best": [b for b in best if b is not None],
    }


def needed(n_comparisons: int, alpha: float, look: int) -> int:
    """Seeds per variant whose exact test can pass Holm over `n_comparisons` at look `look`."""
    return seeds_needed(spent(alpha, look) / max(1, n_comparisons))


def _find(arms: Sequence[Arm], family: str, name: str | None) -> Arm | None:
    return next((a for a in arms if a.family == family and a.name == name), None)


def _variant(a: Arm, m: Metric, selection: str) -> dict[str, Any]:
    vals = list(a.values.get(m.key, {}).values())
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
    }


def _test(a: Arm, ref: Arm, m: Metric) -> Test:
    same_set = a.test_set == ref.test_set
    exa, exr = (a.examples, ref.examples) if m.key == "test_acc" and same_set else (None, None)
    return difference(a.planned(m.key), ref.planned(m.key), m.worst, exa, exr)


def _compare(a: Arm, ref: Arm, m: Metric, min_effect: float | None) -> dict[str, Any]:
    base = {"family": a.family, "variant": a.name, "reference": ref.name, "metric": m.key,
            "n": a.n, "n_finished": a.n_finished(m.key), "n_reference": ref.n,
            "n_reference_finished": ref.n_finished(m.key), "higher_is_better": m.higher}  # fmt: skip
    none = {"diff": None, "diff_ci": None, "p": None, "p_adj": None, "mde": None, "p_tost": None,
            "p_exact": None, "p_examples": None, "floor": None, "examples": None}  # fmt: skip
    if a.identity and a.identity == ref.identity:
        return {**base, **none, "test": "identical configuration",
                "verdict": "identical configuration"}  # fmt: skip
    t = _test(a, ref, m)
    if t.p is None:
        return {**base, **none, "test": "none",
                "verdict": f"inconclusive: {min(a.n_finished(m.key), ref.n_finished(m.key))} finished seed(s)"}  # fmt: skip
    return {**base, "diff": t.diff, "diff_ci": None if t.ci is None else list(t.ci), "p": t.p,
            "p_adj": None, "test": t.test, "verdict": "", "se": t.se, "df": t.df,
            "p_exact": t.p_exact, "p_examples": t.p_examples, "floor": t.floor,
            "examples": t.examples, "pairs": t.n, "finish": _finish(a, ref),
            "mde": None, "p_tost": None if min_effect is None else tost(t, min_effect),
            "min_effect": min_effect}  # fmt: skip


def _finish(a: Arm, ref: Arm) -> dict[str, Any] | None:
    """Finish rates beside the metric when any planned run did not finish: Fisher's exact test."""
    key = next(iter(a.values), None)
    if key is None:
        return None
    fa, fr = a.n_finished(key), ref.n_finished(key)
    if fa == a.n and fr == ref.n:
        return None
    p = float(sps.fisher_exact([[fa, a.n - fa], [fr, ref.n - fr]]).pvalue)
    return {
        "finished": fa,
        "of": a.n,
        "reference_finished": fr,
        "reference_of": ref.n,
        "p_fisher": p,
    }


def _correct(comps: list[dict[str, Any]], level: float) -> None:
    """Holm over every tested comparison; verdicts on the adjusted p at this look's `level`
    (equivalence: on the adjusted TOST p); "no verdict possible" when the exact test's floor
    cannot pass Holm's first step; "within noise" says what this n detects at Holm's strictest
    level (noncentral t on the estimated se)."""
    tested = [c for c in comps if c["p"] is not None]
    for c, p in zip(tested, holm([c["p"] for c in tested]), strict=True):
        c["p_adj"] = p
    for c, p in zip(tested, holm([c["p_tost"] for c in tested]), strict=True):
        c["p_tost_adj"] = p
    m = max(1, len(tested))
    lowest = min((c["floor"] for c in tested), default=1.0)
    for c in tested:
        se, df = c.pop("se"), c.pop("df")
        sign = c["diff"] if c["higher_is_better"] else -c["diff"]
        c["alpha_look"] = level
        if c["p_adj"] < level and sign != 0:
            c["verdict"] = "better" if sign > 0 else "worse"
        elif c["p_tost_adj"] is not None and c["p_tost_adj"] < level:
            c["verdict"] = f"equivalent within ±{c['min_effect']:g}"
        elif lowest * m >= level or c["floor"] >= level:
            c["verdict"] = (
                f"no verdict possible at n={c['pairs']} (smallest attainable p {c['floor']:.3g})"
            )
        else:
            c["verdict"] = "within noise"
            c["mde"] = detectable(se, df, level / m, c["floor"])


def _best(
    arms: Sequence[Arm],
    family: str,
    m: Metric,
    selection: str,
    level: float,
    scores: Mapping[str, float] | None,
) -> dict[str, Any] | None:
    """The best variant by `scores` (selection runs, never the tested ones) and the others against
    it on the final runs' `m`, Holm over the family's comparisons with it."""
    mine = [a for a in arms if a.family == family and scores and scores.get(a.name) is not None]
    if not mine or scores is None:
        return None
    pick = max if higher_is_better(selection) else min
    chosen = pick(mine, key=lambda a: float(scores[a.name]))
    others = [a for a in arms if a.family == family and a is not chosen]
    tests = [_test(a, chosen, m) for a in others]
    adj = holm([t.p for t in tests])
    sides: dict[str, list[str]] = {"better": [], "worse": [], "same": []}
    for a, t, p in zip(others, tests, adj, strict=True):
        sign = t.diff if m.higher else -t.diff
        side = (
            "same" if p is None or p >= level or sign == 0 else ("better" if sign > 0 else "worse")
        )
        sides[side].append(a.name)
    return {"family": family, "variant": chosen.name, "selection_metric": selection, "metric": m.key,
            "selection_score": float(scores[chosen.name]),
            "n_comparisons": sum(t.p is not None for t in tests), "not_distinguishable": sides["same"],
            "worse_than_chosen": sides["worse"], "better_than_chosen": sides["better"],
            "distinguishable": sides["worse"] + sides["better"]}  # fmt: skip


def _num(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


def table(comp: Mapping[str, Any], title: str) -> Table:
    """Every comparison against the reference: difference, its CI, raw and Holm p, test, verdict."""
    rows = []
    for c in comp["comparisons"]:
        ci = c["diff_ci"] or [None, None]
        rows.append([c["family"], c["variant"], c["reference"], c["metric"],
                     f"{c['n_finished']} of {c['n']}", _num(c["diff"]), _num(ci[0]), _num(ci[1]),
                     c["test"], _sig(c.get("p_exact")), _sig(c.get("p_examples")), _sig(c["p"]),
                     _sig(c["p_adj"]), c["verdict"], _num(c["mde"])])  # fmt: skip
    cols = ["family", "variant", "reference", "metric", "finished", "diff", "diff ci95 low"]
    cols += ["diff ci95 high", "test", "p (seeds, exact)", "p (test examples)", "p", "p (Holm)"]
    cols += ["verdict", "detectable diff"]
    return Table(title, cols, rows, method(comp))


def method(comp: Mapping[str, Any]) -> str:
    """How the verdicts were reached, in one paragraph (the table's note, the study's text)."""
    note = (f"diff = mean(variant) - mean(reference) over the seeds both finished; p = the larger "
            f"of the exact test over seeds (sign-flip by shared seed, all 2^n flips; a failed or "
            f"diverged seed enters as the metric's worst value) and, for accuracy, the seeds x "
            f"test-examples t-test that counts the test set's sampling noise (the CI is that "
            f"test's); Holm over {comp['n_comparisons']} comparisons; look {comp.get('look', 1)} "
            f"tests at alpha {comp.get('alpha_look', comp['alpha']):.3g} of {comp['alpha']:g} "
            f"({comp.get('spending', 'one look')}); detectable diff: what this n finds at "
            f"{comp['power']:.0%} power at Holm's strictest level (noncentral t, on the estimated "
            f"SD)")  # fmt: skip
    if comp.get("min_effect") is not None:
        note += f"; equivalence by TOST within ±{comp['min_effect']:g}, Holm-corrected"
    return note


def sentences(comp: Mapping[str, Any]) -> list[str]:
    """One line per comparison, e.g. "sgd vs adam on test_acc: worse (diff -0.041 [-0.07,
    -0.01], exact sign-flip (32 flips) + seeds x examples t, p=0.0625, Holm p=0.19 over 3, look 1
    at alpha 0.0304; 5 of 5 finished)"."""
    out = []
    look = f"look {comp.get('look', 1)} at alpha {comp.get('alpha_look', comp['alpha']):.3g}"
    for c in comp["comparisons"]:
        head = f"{c['variant']} vs {c['reference']} on {c['metric']}: {c['verdict']}"
        if c["p"] is None:
            out.append(f"{head} ({c['n_finished']} of {c['n']} finished)")
            continue
        ci = c["diff_ci"]
        extra = ""
        if c["verdict"] == "within noise":
            extra = "; " + detectable_words([c["mde"]], c["pairs"], _range(comp, c["metric"]))
        f = c.get("finish")
        if f:
            extra += (f"; finished {f['finished']} of {f['of']} vs {f['reference_finished']} of "
                      f"{f['reference_of']} (Fisher p={f['p_fisher']:.3g})")  # fmt: skip
        where = f"[{ci[0]:+.3f}, {ci[1]:+.3f}], " if ci else ""
        out.append(f"{head} (diff {c['diff']:+.3f} {where}{c['test']}, p={c['p']:.3g}, "
                   f"Holm p={c['p_adj']:.3g} over {comp['n_comparisons']}, {look}; "
                   f"{c['n_finished']} of {c['n']} finished{extra})")  # fmt: skip
    return out


def answers(comp: Mapping[str, Any], titles: Mapping[str, str] | None = None) -> list[str]:
    """The corrected headline answers per family, in plain words, for the report's Findings."""
    out = []
    titles = titles or {}
    m = comp["n_comparisons"]
    look = f"look {comp.get('look', 1)}"
    families = list(dict.fromkeys(v["family"] for v in comp["variants"]))
    best = {b["family"]: b for b in comp["best"]}
    for fam in families:
        label = titles.get(fam, fam)
        b = best.get(fam)
        if b is not None:
            same = ", ".join(b["not_distinguishable"]) or "none"
            line = (f"{label}: best on validation ({b['selection_metric']}, runs not tested): "
                    f"{b['variant']}; not distinguishable from it on {b['metric']} after Holm over "
                    f"{b['n_comparisons']} ({look}): {same}")  # fmt: skip
            if b["better_than_chosen"]:
                line += f"; better than it on {b['metric']}: {', '.join(b['better_than_chosen'])}"
            out.append(line + ".")
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
            det = detectable_words([c["mde"] for c in noise], noise[0]["pairs"], _range(comp, comp["metric"]))  # fmt: skip
            words.append(f"within noise: {', '.join(c['variant'] for c in noise)} ({det})")
        stuck = [c for c in mine if c["verdict"].startswith("no verdict possible")]
        if stuck:
            words.append(f"{stuck[0]['verdict']}: {', '.join(c['variant'] for c in stuck)}")
        same_cfg = [c["variant"] for c in mine if c["verdict"] == "identical configuration"]
        if same_cfg:
            words.append(f"identical configuration to {ref}: {', '.join(same_cfg)}")
        out.append(f"{label}: against the reference {ref} on {comp['metric']} (Holm over {m}, "
                   f"{look}): " + "; ".join(words or ["no test possible"]) + ".")  # fmt: skip
    bad = [
        f"{v['variant']} ({v['n_finished']} of {v['n']} finished)"
        for v in comp["variants"]
        if v["unstable"]
    ]
    if bad:
        out.append(f"Unstable (failed seeds enter the tests as the worst value): {', '.join(bad)}.")
    return out


def detectable_words(mdes: Sequence[float | None], n: int, span: float | None) -> str:
    """What `n` seeds could detect: "detectable at n=3: ±0.012" (the largest of `mdes`, resting
    on an estimated SD), or "no difference detectable at n=3" when none is defined or it is not
    smaller than the metric's range `span` (1 for an accuracy; None: unbounded)."""
    known = [m for m in mdes if m is not None]
    if not known or (span is not None and max(known) >= span):
        return f"no difference detectable at n={n}"
    return f"detectable at n={n}: ±{max(known):.3f}, on the estimated SD"


def _range(comp: Mapping[str, Any], metric: str) -> float | None:
    return comp.get("ranges", {}).get(metric)


def _sig(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.3g}")


def conclude(
    summary: Summary,
    arms: Sequence[Arm],
    references: Mapping[str, str],
    metrics: Sequence[Metric],
    titles: Mapping[str, str] | None = None,
    min_effect: float | None = None,
    chosen: Mapping[str, Mapping[str, float]] | None = None,
    look: int = 1,
    selection: str = "val_acc",
) -> dict[str, Any]:
    """Judge `arms` and put the result in `summary`: data["comparison"], the comparison table,
    every comparison's sentence in `verdicts` and the corrected headline `answers`."""
    comp = judge(arms, references, metrics, selection, min_effect, chosen=chosen, look=look)
    summary.data["comparison"] = comp
    names = ", ".join(f"{r} ({f})" if len(references) > 1 else r for f, r in references.items())
    summary.tables.append(table(comp, f"Against the reference: {names}"))
    summary.verdicts += sentences(comp)
    summary.answers += answers(comp, titles)
    summary.text.append(
        f"Chosen on validation ({comp['selection_metric']}) of runs that are not tested; test "
        f"numbers are reported, never used to choose. Reference declared before running: {names}. "
        f"Verdicts on Holm-adjusted p over {comp['n_comparisons']} comparisons at look "
        f"{comp['look']}: alpha {comp['alpha_look']:.3g} of {comp['alpha']:g}."
    )
    return comp
