"""What crop + flip buy on `shapes32`: test accuracy of the image CNN with and without
`data.augment` (crop 4, reflect padding; flip), n seeds each, paired by seed (same split, same
initial weights, same batch order), with 95% t-intervals from `trainlab.studies.stats`.

The seeds of each config train as one stacked model (execute's `vectorize=auto`). Prints one
line per variant and the paired difference; the last line is `augment_gain=<mean difference>`.
Run: `.venv/bin/python benchmarks/augment_effect.py [--seeds 3] [--epochs 40]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from trainlab import RunConfig, Store
from trainlab.execute import ExecSettings, Job, execute
from trainlab.studies.stats import describe

BASE = {
    "data": {"name": "shapes32"},  # 200 training-pool images (180 train, 20 val), 2000 test
    "model": {"name": "cnn", "options": {"width": 16}},
    "optim": {"name": "adam", "lr": 3e-3},
    "train": {"batch_size": 32, "checkpoint": "none", "threads": 1},
}
VARIANTS = {"none": {}, "crop+flip": {"crop": 4, "flip": True}}


def accuracies(epochs: int, seeds: int, root: Path) -> dict[str, list[float]]:
    """Test accuracy per variant, in seed order."""
    store = Store(root)
    out: dict[str, list[float]] = {}
    for name, aug in VARIANTS.items():
        base = RunConfig.model_validate(BASE).with_overrides(
            {"train.epochs": epochs, "data.augment": aug}
        )
        jobs = [Job(name, base.with_overrides({"seed": s})) for s in range(seeds)]
        study = store.open_study(f"augment-{name}", "grid", {})
        done = execute(store, study.id, jobs, workers=1, settings=ExecSettings(vectorize="auto"))
        out[name] = [float(o.run.summary["test_acc"]) for o in done if o.run is not None]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        acc = accuracies(args.epochs, args.seeds, Path(tmp))
    for name, values in acc.items():
        s = describe(values, bounds=(0.0, 1.0))
        print(f"{name:>10}: test_acc {s.mean:.3f}, 95% CI [{s.ci_low:.3f}, {s.ci_high:.3f}], "
              f"n={s.n} seeds: {', '.join(f'{v:.3f}' for v in values)}")  # fmt: skip
    diff = [a - b for a, b in zip(acc["crop+flip"], acc["none"], strict=True)]
    d = describe(diff, bounds=(-1.0, 1.0))
    print(f"crop+flip - none (paired by seed): {d.mean:+.3f}, 95% CI [{d.ci_low:+.3f}, "
          f"{d.ci_high:+.3f}], n={d.n}; {time.perf_counter() - t0:.0f} s in all")  # fmt: skip
    print(f"augment_gain={d.mean:.3f}")


if __name__ == "__main__":
    main()
