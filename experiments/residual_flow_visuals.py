"""Residual flow with trainlab: resnet vs plainnet — gradient norms vs depth at initialisation,
training curves, ‖F(x)‖/‖x‖ per block, lesions, loss-landscape slices, and activation std at
initialisation for Xavier vs Kaiming.

Run: `.venv/bin/python experiments/residual_flow_visuals.py [--quick] [--depth 20]`. Rerunning
reuses finished runs of the same configs.
"""

from __future__ import annotations

import argparse

from trainlab import Store, load_config
from trainlab.inspect import residual_study


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="one depth, few epochs: about a minute")
    p.add_argument("--depth", type=int, default=20, help="6n+2 layers: 8, 20, 56, ...")
    a = p.parse_args()
    base = load_config(
        None,
        [
            "data.name=mnist1d",
            "model.name=resnet",
            f"model.options.depth={a.depth}",
            "model.options.width=8" if a.quick else "model.options.width=16",
            f"train.epochs={6 if a.quick else 20}",
        ],
    )
    result = residual_study(base, Store(), "quick" if a.quick else "full")
    print(result.summary.title)
    for line in result.summary.verdicts:
        print(f"  {line}")
    print(f"  -> {result.dir}")


if __name__ == "__main__":
    main()
