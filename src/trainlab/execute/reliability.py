"""Test-set results stored beside a finished run, so a report or a comparison needs no model:
the reliability bins (the reliability diagram) and each test example's outcome (correct or not,
and its loss), which let a comparison count the test set's own sampling noise."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainlab.track.store import RunRecord
from trainlab.track.strictjson import dumps

RELIABILITY_FILE = "reliability.json"  # test-set reliability bins of a finished run
# Per-example test outcomes: correct as packed bits, loss as float16, and a digest of the labels
# (two runs' outcomes pair only on the same test set). 10,000 examples: 1,250 B of bits and
# 20,000 B of losses before compression.
EXAMPLES_FILE = "test_examples.npz"


@dataclass
class Examples:
    """One run's test outcomes, example by example, in the test set's order."""

    correct: np.ndarray  # (N,) bool
    loss: np.ndarray  # (N,) float32 (stored as float16)
    labels: str  # digest of the test labels


def save_reliability(folder: Path, model: Any, dataset: Any) -> None:
    """Store the test-set reliability bins and per-example outcomes of `model` in `folder`.
    A regression stores neither: calibration bins and correct/wrong bits are a classifier's,
    so its comparisons count seeds only (no test-examples test)."""
    from trainlab.train.feed import evaluate_split
    from trainlab.train.metrics import reliability_bins

    if dataset.spec.task == "regression":
        return

    ev = evaluate_split(model, dataset, "test", 1024, keep_probs=True)  # resident or streamed
    assert ev.probs is not None and ev.correct is not None and ev.losses is not None
    conf, acc, count = reliability_bins(ev.probs, ev.labels)
    payload = {"confidence": conf.tolist(), "accuracy": acc.tolist(), "count": count.tolist()}
    (folder / RELIABILITY_FILE).write_text(dumps(payload))
    save_examples(folder, ev.correct.numpy(), ev.losses.numpy(), ev.labels.numpy())


def save_examples(folder: Path, correct: np.ndarray, loss: np.ndarray, labels: np.ndarray) -> None:
    """Write the per-example outcomes (atomically: a kill never leaves half a file)."""
    tmp = folder / f"{EXAMPLES_FILE}.tmp.npz"
    np.savez_compressed(
        tmp,
        correct=np.packbits(correct.astype(bool)),
        n=np.int64(correct.size),
        loss=loss.astype(np.float16),
        labels=np.array(labels_digest(labels)),
    )
    tmp.replace(folder / EXAMPLES_FILE)


def labels_digest(labels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(labels.astype(np.int64)).tobytes()).hexdigest()[:16]


def load_examples(record: RunRecord) -> Examples | None:
    """A finished run's per-example test outcomes, or None where they were not stored (a run
    from before they were kept)."""
    path = record.dir / EXAMPLES_FILE
    if not path.exists():
        return None
    with np.load(path) as z:
        n = int(z["n"])
        correct = np.unpackbits(z["correct"], count=n).astype(bool)
        return Examples(correct, z["loss"].astype(np.float32), str(z["labels"]))


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
