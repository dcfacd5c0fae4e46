"""A/A test of the study verdicts: how often do they call identical variants different?

Each repeat is a study of 6 identical variants (the same config, each with its own 5 seeds; a
small MLP on digits) judged the way every study is — each variant against the reference (the
first), Welch's t-test (no shared seeds), Holm over the 5 comparisons, alpha 0.05. The share of
repeats with any "better"/"worse" verdict is the family-wise error (goal <= 0.05 plus binomial
noise; uncorrected p-values would give ~0.2). Power: the same repeat with the last variant at a
harmful learning rate; the share where that variant is found worse. Runs train in this process,
one after another, without a store.
Run: `.venv/bin/python benchmarks/false_positives.py [--repeats 20] [--epochs 3]`.
Last line: `fwer=<share> power=<share>`.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from scipy.stats import binomtest

from trainlab.config import RunConfig
from trainlab.studies.verdicts import Arm, Metric, judge
from trainlab.train.experiment import run

VARIANTS, SEEDS = 6, 5
HARMFUL_LR = 1e-4  # adam at 1e-4 for a few epochs: clearly under-trained next to the default 1e-2


def accuracy(base: RunConfig, seed: int, lr: float | None = None) -> float:
    over: dict[str, Any] = {"seed": seed}
    if lr is not None:
        over["optim.lr"] = lr
    return float(run(base.with_overrides(over)).history.summary["test_acc"])


def study(base: RunConfig, repeat: int, harmful: bool, cache: dict[int, float]) -> dict[str, Any]:
    """One A/A study (or, with `harmful`, its last variant at HARMFUL_LR); seeds never repeat
    across variants or repeats, so each variant is an independent sample of one config."""
    arms = []
    for v in range(VARIANTS):
        seeds = [100_000 + repeat * 1000 + v * SEEDS + j for j in range(SEEDS)]
        bad = harmful and v == VARIANTS - 1
        values = {
            s: accuracy(base, s, HARMFUL_LR) if bad else _cached(base, s, cache) for s in seeds
        }
        arms.append(Arm("aa", f"v{v}", SEEDS, {"test_acc": values, "val_acc": values}, f"v{v}"))
    return judge(arms, {"aa": "v0"}, [Metric("test_acc")])


def _cached(base: RunConfig, seed: int, cache: dict[int, float]) -> float:
    if seed not in cache:
        cache[seed] = accuracy(base, seed)
    return cache[seed]


def share(k: int, n: int) -> str:
    ci = binomtest(k, n).proportion_ci(0.95)
    return f"{k}/{n} = {k / n:.3f} (95% CI {ci.low:.3f}-{ci.high:.3f})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--width", type=int, default=32)
    a = p.parse_args()
    base = RunConfig.model_validate({"name": "aa", "data": {"name": "digits"},
                                     "model": {"name": "mlp", "options": {"width": a.width}},
                                     "train": {"epochs": a.epochs, "threads": 1}})  # fmt: skip
    started = time.perf_counter()
    any_hit = raw_hit = found = 0
    cache: dict[int, float] = {}
    for r in range(a.repeats):
        null = study(base, r, False, cache)
        calls = [c for c in null["comparisons"] if c["verdict"] in ("better", "worse")]
        any_hit += bool(calls)
        raw_hit += any(c["p"] is not None and c["p"] < 0.05 for c in null["comparisons"])
        alt = study(base, r, True, cache)
        last = next(c for c in alt["comparisons"] if c["variant"] == f"v{VARIANTS - 1}")
        found += last["verdict"] == "worse"
        print(f"repeat {r + 1}/{a.repeats}: {len(calls)} false calls; harmful lr: {last['verdict']}"
              f" ({time.perf_counter() - started:.0f} s)", file=sys.stderr)  # fmt: skip
    n = a.repeats
    print(f"A/A: {n} studies of {VARIANTS} identical variants x {SEEDS} seeds (mlp width "
          f"{a.width} on digits, {a.epochs} epochs), Welch + Holm over {VARIANTS - 1}, alpha 0.05")  # fmt: skip
    print(f"family-wise error (any better/worse after Holm): {share(any_hit, n)}")
    print(f"uncorrected (any raw p < 0.05), for contrast:    {share(raw_hit, n)}")
    print(f"power (lr {HARMFUL_LR:g} found worse):               {share(found, n)}")
    print(f"seconds: {time.perf_counter() - started:.1f}")
    print(f"fwer={any_hit / n:.3f} power={found / n:.3f}")


if __name__ == "__main__":
    main()
