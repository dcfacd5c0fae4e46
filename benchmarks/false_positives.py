"""A/A and power of the study verdicts through the code studies use: tuning on validation
(`tuning.choose_point` over each variant's grid, tuning seeds 1000+), fresh final seeds shared by
every variant (the paired path), per-example test outcomes (the seeds x examples test),
`verdicts.judge` with the best chosen on the tuning runs, and looks (`looks.next_look`).

Training is replaced by a generative model of what a run gets right, so that 200+ studies run in
minutes on 2 cores: each example has a difficulty (validation and test 1,000 examples each, fixed per
study), each run a skill (its setting's true skill + a seed effect shared in part by runs of the
same seed, as a shared split and initialisation are), and P(correct) = sigmoid(skill -
difficulty); runs of one seed share half their random draws. Validation and test accuracy of a run
correlate about 0.8 over seeds (measured and printed); accuracies are whole counts of the test set by construction.

Modes: fixed n (10 final seeds: 3 cannot reach a verdict after Holm over 5, see README), and
sequential (seeds added one at a time from 3 to 12, a look after each; any false call at any look
counts). Power: one variant truly 1 or 2 accuracy points better at fixed n.
Run: `.venv/bin/python benchmarks/false_positives.py [--repeats 200]`.
Last line: `fwer=<x> fwer_hi=<upper bound> fwer_seq=<x> power_1pt=<y> power_2pt=<z>`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from scipy.stats import binomtest

from trainlab.studies import tuning as tn
from trainlab.studies.budget import tuning_seeds
from trainlab.studies.looks import next_look, signature
from trainlab.studies.verdicts import Arm, Metric, judge

VARIANTS = 6  # a reference and 5 others: Holm over 5
LRS = (1e-3, 1e-2, 1e-1)  # each variant's tuning grid
OFFSETS = (-2.0, 0.0, -1.5)  # true skill of each rate relative to the best (logits): tuning
# finds the best rate of every variant, so variants stay identical (a true A/A) after tuning
N_VAL, N_TEST = 1000, 1000
SEED_SD = 0.2  # seed effect (logits): about 3 accuracy points of spread over seeds
SHARED = 0.5  # share of a seed's effect (and random draws) that runs of that seed share
FIXED_N, SEQ = 10, range(3, 13)


class World:
    """One study's data: example difficulties and the per-seed shared randomness."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.difficulty = {
            "val": rng.normal(-1.0, 1.5, N_VAL),
            "test": rng.normal(-1.0, 1.5, N_TEST),
        }
        self.seed_effect: dict[int, float] = {}
        self.draws: dict[tuple[int, str], np.ndarray] = {}

    def run(self, skill: float, seed: int) -> dict[str, np.ndarray]:
        """0/1 outcomes on val and test of one run at true `skill` under `seed`."""
        if seed not in self.seed_effect:
            self.seed_effect[seed] = float(self.rng.normal(0, SEED_SD))
        own = float(self.rng.normal(0, SEED_SD))
        s = skill + np.sqrt(SHARED) * self.seed_effect[seed] + np.sqrt(1 - SHARED) * own
        out = {}
        for split, b in self.difficulty.items():
            key = (seed, split)
            if key not in self.draws:
                self.draws[key] = self.rng.random(b.size)
            mine = self.rng.random(b.size)
            u = np.where(self.rng.random(b.size) < SHARED, self.draws[key], mine)
            out[split] = u < 1 / (1 + np.exp(-(s - b)))
        return out


def study(rng: np.random.Generator, shift: float, seeds: range | int) -> list[dict[str, Any]]:
    """One study: tune every variant on validation, then judge at each of `seeds` (a look per
    count). Variant v5's true skill is raised by `shift` logits (0: an A/A study)."""
    w = World(rng)
    chosen: dict[str, float] = {}
    skills: dict[str, float] = {}
    for v in range(VARIANTS):
        name = f"v{v}"
        best = 1.0 + (shift if v == VARIANTS - 1 else 0.0)
        rows = []
        for lr, off in zip(LRS, OFFSETS, strict=True):
            (seed,) = tuning_seeds(0, 1)
            rows.append(({"optim.lr": lr}, float(w.run(best + off, seed)["val"].mean())))
        point = tn.choose_point(rows)
        assert point is not None
        chosen[name] = next(s for p, s in rows if p == point)
        skills[name] = best + OFFSETS[LRS.index(point["optim.lr"])]
    counts = [seeds] if isinstance(seeds, int) else list(seeds)
    finals = {v: [w.run(skills[v], s)["test"] for s in range(max(counts))] for v in skills}
    looks: list[dict[str, Any]] = []
    comps = []
    for n in counts:
        arms = [Arm("f", v, n, {"test_acc": {s: float(ex[s].mean()) for s in range(n)}}, v,
                    list(range(n)), {s: ex[s] for s in range(n)}, "test") for v, ex in finals.items()]  # fmt: skip
        look = next_look(
            looks, signature({v: [(s, f"{v}-{s}", "finished") for s in range(n)] for v in finals})
        )
        looks.append(look)
        comps.append(
            judge(arms, {"f": "v0"}, [Metric("test_acc")], chosen={"f": chosen}, look=look["look"])
        )
    return comps


def false_call(comp: dict[str, Any]) -> bool:
    """Any claim of a difference: against the reference, or from the chosen best."""
    ref = any(c["verdict"] in ("better", "worse") for c in comp["comparisons"])
    return ref or any(b["distinguishable"] for b in comp["best"])


def found(comp: dict[str, Any]) -> bool:
    """The raised variant called better than the reference."""
    return any(
        c["variant"] == f"v{VARIANTS - 1}" and c["verdict"] == "better" for c in comp["comparisons"]
    )


def share(k: int, n: int) -> tuple[float, float, float]:
    ci = binomtest(k, n).proportion_ci(0.95, method="exact")  # Clopper-Pearson
    return k / n, ci.low, ci.high


def logit_shift(points: float, rng: np.random.Generator) -> float:
    """The skill shift (logits) that raises expected test accuracy by `points` / 100."""
    w = World(rng)
    b = w.difficulty["test"]
    base = float(np.mean(1 / (1 + np.exp(-(1.0 - b)))))
    lo, hi = 0.0, 2.0
    for _ in range(50):
        mid = (lo + hi) / 2
        acc = float(np.mean(1 / (1 + np.exp(-(1.0 + mid - b)))))
        lo, hi = (mid, hi) if acc - base < points / 100 else (lo, mid)
    return (lo + hi) / 2


def correlation(rng: np.random.Generator, runs: int = 300) -> float:
    """Pearson r of validation and test accuracy over the seeds of one setting."""
    w = World(rng)
    pairs = [w.run(1.0, s) for s in range(runs)]
    return float(
        np.corrcoef([p["val"].mean() for p in pairs], [p["test"].mean() for p in pairs])[0, 1]
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=200)
    a = p.parse_args()
    rng = np.random.default_rng(2026)
    started = time.perf_counter()
    fixed = sum(false_call(study(rng, 0.0, FIXED_N)[0]) for _ in range(a.repeats))
    seq = 0
    for _ in range(a.repeats):
        seq += any(false_call(c) for c in study(rng, 0.0, SEQ))
    power = {}
    for pts in (1, 2):
        shift = logit_shift(pts, np.random.default_rng(pts))
        power[pts] = sum(found(study(rng, shift, FIXED_N)[0]) for _ in range(a.repeats)) / a.repeats
    f, flo, fhi = share(fixed, a.repeats)
    s, slo, shi = share(seq, a.repeats)
    print(
        f"A/A, {VARIANTS} variants, {FIXED_N} shared final seeds, tuned on validation over {len(LRS)} rates: "
        f"studies with a false call {fixed}/{a.repeats} = {f:.3f} (Clopper-Pearson 95% {flo:.3f}-{fhi:.3f})"
    )
    print(
        f"A/A sequential, seeds {SEQ.start}..{SEQ.stop - 1} with a look after each: "
        f"{seq}/{a.repeats} = {s:.3f} ({slo:.3f}-{shi:.3f})"
    )
    print(f"validation/test accuracy r over seeds: {correlation(np.random.default_rng(0)):.2f}")
    print(
        f"power at {FIXED_N} seeds: +1 point {power[1]:.3f}, +2 points {power[2]:.3f}; "
        f"{time.perf_counter() - started:.0f} s"
    )
    print(
        f"fwer={f:.3f} fwer_hi={fhi:.3f} fwer_seq={s:.3f} power_1pt={power[1]:.3f} power_2pt={power[2]:.3f}"
    )


if __name__ == "__main__":
    main()
