"""What an inspection looks at (a finished run's model from its checkpoint, or a config trained
first) and where its output goes: figures and tables in a study folder, copies in the run folder.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure as MplFigure
from torch import nn

from trainlab import data as data_registry
from trainlab.config import RunConfig
from trainlab.data.spec import Dataset
from trainlab.errors import StoreError
from trainlab.models.user import require_instance
from trainlab.plots.style import FORMATS, save_figure
from trainlab.track.store import RunRecord, Store
from trainlab.track.strictjson import dumps
from trainlab.track.summary import Figure, Summary
from trainlab.train.experiment import describe_user_model, load_model, run
from trainlab.train.loop import Callback
from trainlab.train.seed import resolve_device

RUN_SUBDIR = "inspect"  # figures are copied to <run dir>/inspect/<kind>/
ARRAYS_FILE = "arrays.npz"  # maps behind the figures, beside summary.json
SAMPLES = {
    "quick": 256,
    "full": 1024,
}  # test inputs an inspection runs through the model, per budget


@dataclass
class Target:
    """A trained model with its data, config, stored run and per-epoch metrics."""

    model: nn.Module
    dataset: Dataset
    cfg: RunConfig
    record: RunRecord | None
    epochs: list[dict[str, float]] = field(default_factory=list)

    @property
    def label(self) -> str:
        opts = self.cfg.model.options
        depth = f"-{opts['depth']}" if "depth" in opts else ""
        return f"{self.cfg.model.name}{depth}"

    def runs(self) -> dict[str, RunRecord]:
        """The stored run under its label (empty if the model was never stored)."""
        return {self.label: self.record} if self.record is not None else {}


def study_name(kind: str, target: Target) -> str:
    """One inspection study per kind and run: inspecting a run again replaces its figures."""
    ref = target.record.id if target.record is not None else target.cfg.hash()
    return f"{kind}-{ref}"


def token_rows(target: Target, x: torch.Tensor) -> list[list[str]] | None:
    """The token names of each row of `x` (B, T) on a token task with named tokens, else None."""
    names = target.dataset.spec.token_names
    if target.dataset.spec.kind != "tokens" or names is None:
        return None
    return [[names[int(t)] for t in row] for row in x]


def device_for(name: str) -> str:
    """The device an inspection puts model and data on: the run's `train.device` resolved
    (`auto` -> cuda, mps, cpu), or cpu when that accelerator is not on this machine."""
    device = resolve_device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        return "cpu"
    if device.type == "mps" and not torch.backends.mps.is_available():
        return "cpu"
    return str(device)


def from_run(
    store: Store, run_id: str, device: str | None = None, model: nn.Module | None = None
) -> Target:
    """Load a finished run's model (checkpoint) and its data split (same seed) onto one device
    (default: `device_for` the run's train.device). A run of a user module passed in Python needs
    an instance of it, `model`, to load the weights into."""
    require_instance(model, "model")
    record = store.get_run(run_id)
    if record.status != "finished":
        raise StoreError(f"run {record.id} is {record.status}; inspect a finished run")
    device = device if device is not None else device_for(record.config.train.device)
    model = load_model(record, device, model)
    dataset = data_registry.load(record.config.data, record.seed, device)
    return Target(model, dataset, record.config, record, store.epochs(record.id))


def from_config(
    cfg: RunConfig,
    store: Store,
    callbacks: Sequence[Callback] = (),
    reuse: bool = False,
    model: nn.Module | None = None,
) -> Target:
    """Train `cfg` into the store (or, with `reuse`, load a finished run of the same config).

    `model`: train this user module instead of the zoo model `cfg.model` names (never reused).
    """
    if reuse and not callbacks and model is None:
        twin = store.find_run(cfg.hash(), ("finished",))
        if twin is not None and (twin.dir / "model.pt").exists():
            return from_run(store, twin.id, device_for(cfg.train.device))
    result = run(cfg, store, callbacks, model)
    if result.history.status != "finished":
        raise StoreError(
            f"training {cfg.model.name} on {cfg.data.name} ended {result.history.status}"
        )
    assert result.record is not None
    dataset = result.dataset
    if not isinstance(dataset, Dataset):  # streamed: inspections read their samples resident
        dataset = data_registry.load(cfg.data, cfg.seed, next(result.model.parameters()).device)
    return Target(
        result.model.eval(),
        dataset,
        result.record.config,
        result.record,
        result.history.epochs,
    )


def from_model(model: nn.Module, dataset: Dataset, cfg: RunConfig | None = None) -> Target:
    """A user's (trained) module and its data as a Target, as it is: nothing is trained or stored
    as a run; figures go to the inspection study only. `cfg` records how it was trained."""
    require_instance(model, "from_model(model)")
    cfg = (
        cfg if cfg is not None else RunConfig.model_validate({"data": {"name": dataset.spec.name}})
    )
    return Target(model.eval(), dataset, describe_user_model(cfg, model), None)


@dataclass
class Inspection:
    """What an inspection returns: its Summary and where the study is stored."""

    summary: Summary
    study_id: str
    dir: Path

    def to_json(self) -> dict[str, Any]:
        return {"study_id": self.study_id, "dir": str(self.dir), **self.summary.to_json()}


class Output:
    """An inspection study: figures and tables in its folder, each figure also copied into the
    folder of every linked run; `finish` stores the Summary for the report."""

    def __init__(
        self, store: Store, kind: str, name: str, config: dict[str, Any], runs: dict[str, RunRecord]
    ) -> None:
        self.store, self.kind = store, kind
        self.study = store.open_study(name, kind, config)
        self.dir = self.study.dir
        self.runs = runs
        folders = [self.dir, *(self._run_folder(r) for r in runs.values())]
        for folder in folders:  # inspecting again replaces the figures and tables, none linger
            for old in folder.glob("*"):
                if old.suffix in (*FORMATS, ".csv", ".md", ".tex", ".npz") and old.is_file():
                    old.unlink()
        for variant, record in runs.items():
            store.link(self.study.id, record.id, variant)
        self.figures: list[Figure] = []

    def _run_folder(self, record: RunRecord) -> Path:
        return record.dir / RUN_SUBDIR / self.kind.removeprefix("inspect-")

    def figure(self, fig: MplFigure, stem: str, title: str, caption: str = "") -> Path:
        """Save `fig` as PNG, SVG and PDF in the study folder (and copies in the run folders)."""
        png = save_figure(fig, self.dir / stem)
        for record in self.runs.values():
            dest = self._run_folder(record)
            dest.mkdir(parents=True, exist_ok=True)
            for suffix in FORMATS:
                shutil.copy2(png.with_suffix(suffix), dest / (stem + suffix))
        self.figures.append(Figure(title, png.name, caption))
        return png

    def arrays(self, **arrays: np.ndarray) -> Path:
        """Save the arrays behind the figures that are too big for the summary (feature maps,
        attention maps) as ARRAYS_FILE in the study folder; np.load reads them back."""
        path = self.dir / ARRAYS_FILE
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
        return path

    def finish(self, summary: Summary) -> Inspection:
        summary.figures = self.figures
        summary.run_ids = [r.id for r in self.runs.values()]
        summary.write_tables(self.dir)
        (self.dir / "summary.json").write_text(dumps(summary.to_json(), indent=1, default=str))
        self.store.finish_study(self.study.id, summary.to_json())
        return Inspection(summary, self.study.id, self.dir)
