"""The flight record drawn and stored: each statistic vs step per layer, histograms over time, and
plain-words verdicts (`trainlab inspect recorder`). The recorder itself is a training callback:
`trainlab.train.recorder`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trainlab.inspect.target import Inspection, Output
from trainlab.plots import recorder as pr
from trainlab.track.store import Store
from trainlab.track.summary import Summary, Table
from trainlab.train.recorder import FlightRecord


def inspect_recorder(store: Store, run: Any, flight: FlightRecord, label: str = "") -> Inspection:
    """Figures of a run's flight record: each statistic vs step per layer, histograms over time."""
    out = Output(
        store,
        "inspect-recorder",
        f"recorder-{run.id}",
        {"every": flight.every},
        {label or run.id: run},
    )
    out.figure(
        pr.plot_recorder_stats(flight.steps, flight.layers, flight.stats),
        "recorder-stats",
        "Per-layer statistics vs step",
    )
    out.figure(
        pr.plot_colorful_dimension(
            flight.steps, flight.layers, flight.hist_counts, flight.hist_low, flight.hist_high
        ),
        "colorful-dimension",
        "Activation histograms over training",
    )
    last = {k: v[-1].tolist() for k, v in flight.stats.items()} if len(flight.steps) else {}
    rows = [[layer, *(last[k][j] for k in last)] for j, layer in enumerate(flight.layers)]
    summary = Summary(
        kind="inspect-recorder",
        title=f"Flight record of run {run.id}",
        text=[
            f"{len(flight.steps)} records, every {flight.every} steps, {len(flight.layers)} layers."
        ],
        verdicts=recorder_verdicts(flight),
        tables=[
            Table(
                f"Last record (step {int(flight.steps[-1]) if len(flight.steps) else 0})",
                ["layer", *last],
                rows,
            )
        ],
        data={
            "steps": flight.steps.tolist(),
            "layers": flight.layers,
            "stats": {k: v.tolist() for k, v in flight.stats.items()},
        },
    )
    return out.finish(summary)


def recorder_verdicts(flight: FlightRecord) -> list[str]:
    """Plain words for a flight record: the layer with most near-zero activations and the range
    of update-to-weight ratios, first record vs last."""
    if not len(flight.steps):
        return ["nothing was recorded (fewer steps than the interval)"]
    first, last = int(flight.steps[0]), int(flight.steps[-1])
    zero, ratio = flight.stats["act_near_zero"], flight.stats["update_ratio"]
    j = int(np.nanargmax(zero[-1])) if np.isfinite(zero[-1]).any() else 0
    return [
        f"share of activations near 0, {flight.layers[j]}: {zero[0, j]:.2f} at step {first} -> "
        f"{zero[-1, j]:.2f} at step {last}",
        f"update / weight ratio at step {first}: {np.nanmin(ratio[0]):.2g}..{np.nanmax(ratio[0]):.2g}"
        f" across layers; at step {last}: {np.nanmin(ratio[-1]):.2g}..{np.nanmax(ratio[-1]):.2g}",
    ]
