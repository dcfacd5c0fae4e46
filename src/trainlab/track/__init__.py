"""Run tracking: the SQLite run store, environment capture, exporters to TensorBoard and MLflow."""

from trainlab.track.env import available_cores, capture_env
from trainlab.track.store import STATUSES, RunRecord, Store, StudyRecord

__all__ = ["STATUSES", "RunRecord", "Store", "StudyRecord", "available_cores", "capture_env"]
