"""Stored runs -> TensorBoard event files or an MLflow tracking server, from the store alone.

Each target needs its extra (`trainlab[tensorboard]`, `trainlab[mlflow]`), imported here only
when used; without it a MissingExtraError says what to install.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainlab.config import flatten
from trainlab.errors import MissingExtraError, StoreError
from trainlab.track.store import RunRecord, Store
from trainlab.track.strictjson import dumps

TB_FOLDER = "tensorboard"  # default output: <store>/tensorboard/<run name>-<run id>/
EXPERIMENT = "trainlab"  # default MLflow experiment
RUN_ID_TAG = "trainlab.run_id"  # on every exported MLflow run: a rerun finds it and skips it
# The flight record, as train/recorder.py (FlightRecord.save) writes it into the run folder:
# recorder.npz holds steps (S,), one (S, L) array per stat and hist_counts (S, L, bins) over
# [hist_low, hist_high] (S, L); recorder.json holds the L layer names and the stat names.
RECORD_FILE, META_FILE = "recorder.npz", "recorder.json"
ARTIFACTS = ("config.yaml", "*.png", "*.svg", "*.pdf")  # patterns under the run folder, recursive
EPOCH_KEYS_SKIPPED = ("epoch", "step")  # bookkeeping, not metrics
MLFLOW_STATUS = {
    "finished": "FINISHED",
    "running": "RUNNING",
    "failed": "FAILED",
    "diverged": "FAILED",
    "interrupted": "KILLED",
    "pruned": "KILLED",
}


@dataclass
class Exported:
    """One run's export: where it went (a log folder or an MLflow run id) and what was sent."""

    run_id: str
    target: str
    scalars: int = 0  # metric points
    histograms: int = 0
    artifacts: int = 0
    skipped: bool = False  # already in MLflow from an earlier export

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def hparams(run: RunRecord) -> dict[str, str | int | float | bool]:
    """The run's config as dotted fields (`optim.lr`) with scalar values; lists, dicts and None
    as JSON text (both TensorBoard and MLflow take only scalars)."""
    flat = flatten(run.config.model_dump(mode="json"))
    flat["seed"] = run.seed
    return {k: v if isinstance(v, (str, int, float, bool)) else dumps(v) for k, v in flat.items()}


def final_metrics(run: RunRecord) -> dict[str, float]:
    """The run's summary numbers (test_acc, ece, best_val_acc, ...), without texts or flags."""
    return {
        k: float(v)
        for k, v in run.summary.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def epoch_points(store: Store, run: RunRecord) -> list[tuple[int, float, dict[str, float]]]:
    """(epoch, seconds since the run started, numeric metrics) per stored epoch."""
    points = []
    for n, e in enumerate(store.epochs(run.id), start=1):
        metrics = {
            k: float(v)
            for k, v in e.items()
            if k not in EPOCH_KEYS_SKIPPED
            and isinstance(v, (int, float))
            and not isinstance(v, bool)
        }
        points.append((int(e.get("epoch", n)), float(e.get("seconds", 0.0)), metrics))
    return points


def export_tensorboard(
    store: Store, runs: Sequence[RunRecord], out: Path | None = None
) -> list[Exported]:
    """One log folder per run under `out` (default <store>/tensorboard): per-epoch metrics as
    scalars (step = epoch), the summary as `final/<metric>`, the flight record (if the run has
    one) as `recorder/<stat>/<layer>` scalars and `activations/<layer>` histograms (step =
    optimizer step), and the config as hparams. Re-exporting a run replaces its events."""
    try:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams as hparams_summary
    except ImportError as exc:
        raise MissingExtraError("tensorboard", "tensorboard") from exc
    root = Path(out) if out is not None else store.root / TB_FOLDER
    done = []
    for run in runs:
        folder = root / f"{_safe(run.name)}-{run.id}"
        for old in folder.glob("events.out.tfevents.*"):
            old.unlink()  # a rerun replaces, never duplicates, the points
        result = Exported(run.id, str(folder))
        with SummaryWriter(log_dir=str(folder)) as writer:
            last = 0
            for epoch, seconds, metrics in epoch_points(store, run):
                for key, value in metrics.items():
                    writer.add_scalar(key, value, epoch, walltime=run.created + seconds)
                    result.scalars += 1
                last = epoch
            end = run.ended or run.created
            final = {f"final/{k}": v for k, v in final_metrics(run).items()}
            for tag, value in final.items():
                writer.add_scalar(tag, value, last, walltime=end)
                result.scalars += 1
            for tag, step, value in _recorder_scalars(run.dir):
                writer.add_scalar(tag, value, step, walltime=run.created)
                result.scalars += 1
            for tag, step, hist in _recorder_histograms(run.dir):
                writer.add_histogram_raw(tag, global_step=step, walltime=run.created, **hist)
                result.histograms += 1
            for summary in hparams_summary(hparams(run), final):
                writer._get_file_writer().add_summary(summary, walltime=end)
        done.append(result)
    return done


def export_mlflow(
    store: Store,
    runs: Sequence[RunRecord],
    tracking_uri: str | None = None,
    experiment: str = EXPERIMENT,
) -> list[Exported]:
    """One MLflow run per stored run in `experiment`: the config as params, tags (trainlab run
    id, name, status, config hash, git commit), every per-epoch metric (step = epoch) and the
    summary metrics in one `log_batch`, then config.yaml and the run folder's figures as
    artifacts. A run exported before (found by its `trainlab.run_id` tag) is skipped."""
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise MissingExtraError("mlflow", "mlflow") from exc
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    exp_id = found.experiment_id if found is not None else client.create_experiment(experiment)
    done = []
    for run in runs:
        old = client.search_runs([exp_id], f"tags.`{RUN_ID_TAG}` = '{run.id}'", max_results=1)
        if old:
            done.append(Exported(run.id, old[0].info.run_id, skipped=True))
            continue
        start = _ms(run.created)
        created = client.create_run(exp_id, start_time=start, run_name=run.name)
        mlflow_id = created.info.run_id
        metrics = [
            Metric(key, value, start + _ms(seconds), epoch)
            for epoch, seconds, points in epoch_points(store, run)
            for key, value in points.items()
        ]
        epochs = store.epochs(run.id)
        last = int(epochs[-1].get("epoch", len(epochs))) if epochs else 0
        end = _ms(run.ended or run.created)
        # Per-epoch metrics keep their names; the summary repeats some of them (val_acc, ...),
        # so its values go under final/ and never add a point to an epoch curve.
        metrics += [Metric(f"final/{k}", v, end, last) for k, v in final_metrics(run).items()]
        params = [Param(k, str(v)) for k, v in hparams(run).items()]
        tags = [RunTag(k, str(v)) for k, v in _tags(run).items()]
        client.log_batch(mlflow_id, metrics=metrics, params=params, tags=tags)
        result = Exported(run.id, mlflow_id, scalars=len(metrics))
        for path in _artifacts(run.dir):
            rel = path.parent.relative_to(run.dir)
            client.log_artifact(mlflow_id, str(path), None if rel == Path() else rel.as_posix())
            result.artifacts += 1
        status = MLFLOW_STATUS.get(run.status, "FINISHED")
        if status != "RUNNING":
            client.set_terminated(mlflow_id, status, end_time=end)
        done.append(result)
    return done


def _tags(run: RunRecord) -> dict[str, Any]:
    tags = {
        RUN_ID_TAG: run.id,
        "trainlab.name": run.name,
        "trainlab.status": run.status,
        "trainlab.config_hash": run.config_hash,
    }
    if run.env.get("git_commit"):
        tags["mlflow.source.git.commit"] = run.env["git_commit"]
    if run.error:
        tags["trainlab.error"] = run.error[:4000]
    return tags


def _artifacts(folder: Path) -> list[Path]:
    found = {p for pattern in ARTIFACTS for p in folder.rglob(pattern) if p.is_file()}
    return sorted(found)


def _load_record(folder: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    path, meta_path = folder / RECORD_FILE, folder / META_FILE
    if not path.exists() or not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        with np.load(path) as z:
            return meta, {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError) as exc:
        raise StoreError(f"the flight record in {folder} cannot be read: {exc}") from exc


def _recorder_scalars(folder: Path) -> list[tuple[str, int, float]]:
    """(tag, step, value) of every finite per-layer statistic in the run's flight record."""
    record = _load_record(folder)
    if record is None:
        return []
    meta, arrays = record
    out = []
    for stat in meta.get("stats", []):
        values = arrays.get(stat)
        if values is None:
            continue
        for i, step in enumerate(arrays["steps"]):
            for j, layer in enumerate(meta["layers"]):
                if math.isfinite(values[i, j]):
                    out.append((f"recorder/{stat}/{layer}", int(step), float(values[i, j])))
    return out


def _recorder_histograms(folder: Path) -> list[tuple[str, int, dict[str, Any]]]:
    """(tag, step, add_histogram_raw arguments) per recorded step and layer with any counts."""
    record = _load_record(folder)
    if record is None:
        return []
    meta, arrays = record
    counts, low, high = arrays["hist_counts"], arrays["hist_low"], arrays["hist_high"]
    out = []
    for i, step in enumerate(arrays["steps"]):
        for j, layer in enumerate(meta["layers"]):
            c = counts[i, j].astype(np.float64)
            if c.sum() == 0 or not (math.isfinite(low[i, j]) and math.isfinite(high[i, j])):
                continue
            edges = np.linspace(low[i, j], high[i, j], len(c) + 1)
            centers = (edges[:-1] + edges[1:]) / 2  # sums are estimated from bin centres
            hist = {
                "min": float(edges[0]),
                "max": float(edges[-1]),
                "num": float(c.sum()),
                "sum": float((c * centers).sum()),
                "sum_squares": float((c * centers**2).sum()),
                "bucket_limits": edges[1:].tolist(),
                "bucket_counts": c.tolist(),
            }
            out.append((f"activations/{layer}", int(step), hist))
    return out


def _safe(name: str) -> str:
    """A run name as a folder name: letters, digits, `-`, `_` and `.` kept, the rest `-`."""
    out = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip(".-")
    return out[:60] or "run"


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
