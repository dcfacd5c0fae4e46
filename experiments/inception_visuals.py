"""Inception branches with trainlab: each branch's maps side by side, the concatenated channel
layout, each branch's share of the activation energy, and how the shares move during training.

Run: `.venv/bin/python experiments/inception_visuals.py [--quick] [--data digits|mnist1d]`.
"""

from __future__ import annotations

import argparse

from trainlab import Store, load_config
from trainlab import data as data_registry
from trainlab.inspect import BranchShares, from_config, inspect_inception


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer epochs: about a minute on 2 cores")
    p.add_argument("--data", default="digits", help="digits (2-D maps) or mnist1d (1-D signals)")
    a = p.parse_args()
    cfg = load_config(
        None,
        [f"data.name={a.data}", "model.name=inception", f"train.epochs={6 if a.quick else 30}"],
    )
    store = Store()
    # A fixed batch of test inputs whose branch shares are measured after every epoch.
    fixed = data_registry.load(cfg.data, cfg.seed, "cpu").x_test[:256]
    shares = BranchShares(fixed)
    target = from_config(cfg, store, [shares])
    result = inspect_inception(target, store, shares, "quick" if a.quick else "full")
    print(result.summary.title)
    for row in result.summary.tables[0].rows:
        print("  " + row[0] + ": " + ", ".join(f"{v:.0%}" for v in row[1:]))
    print(f"  -> {result.dir}")


if __name__ == "__main__":
    main()
