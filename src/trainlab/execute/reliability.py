"""Test-set reliability bins stored beside a finished run, so a report draws its reliability
diagram without reloading the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainlab.track.store import RunRecord

RELIABILITY_FILE = "reliability.json"  # test-set reliability bins of a finished run


def save_reliability(folder: Path, model: Any, dataset: Any) -> None:
    """Store the test-set reliability bins of `model` in `folder`."""
    from trainlab.train.metrics import evaluate, reliability_bins

    ev = evaluate(model, dataset.x_test, dataset.y_test, 1024, keep_probs=True)
    assert ev.probs is not None
    conf, acc, count = reliability_bins(ev.probs, ev.labels)
    payload = {"confidence": conf.tolist(), "accuracy": acc.tolist(), "count": count.tolist()}
    (folder / RELIABILITY_FILE).write_text(json.dumps(payload))


def load_reliability(record: RunRecord) -> dict[str, list[float]]:
    """A finished run's reliability bins: the stored file, else rebuilt from its checkpoint."""
    path = record.dir / RELIABILITY_FILE
    if path.exists():
        data: dict[str, list[float]] = json.loads(path.read_text())
        return data
    from trainlab import data as data_registry
    from trainlab.train.experiment import load_model

    model = load_model(record)
    save_reliability(record.dir, model, data_registry.load(record.config.data, record.seed, "cpu"))
    data = json.loads(path.read_text())
    return data
