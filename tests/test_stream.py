"""Data larger than `data.device_budget` stream from the host: memory-mapped .npz/.npy, a torch
Dataset class through a DataLoader; the same seed gives the same metrics as resident data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from trainlab import data
from trainlab.config import RunConfig, load_config, parse_budget
from trainlab.data.stream import ArraySource, Streamed, budget_bytes, load_or_stream, prefetched
from trainlab.errors import ConfigError
from trainlab.studies.output import planned
from trainlab.track.store import Store
from trainlab.train.experiment import prepare, run
from trainlab.train.stacked import Stack
from trainlab.train.stacking import Unsupported

METRICS = ("train_loss", "val_loss", "val_acc", "test_loss", "test_acc", "train_eval_acc", "ece")

DATASET_CLASS = """
import numpy as np
import torch


class Blobs(torch.utils.data.Dataset):
    classes = ("a", "b", "c")

    def __init__(self, train, path):
        with np.load(path) as f:
            self.x = f["x" if train else "x_test"]
            self.y = f["y" if train else "y_test"]

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return torch.from_numpy(self.x[i].astype(np.float32) / 255), int(self.y[i])
"""


def blobs(n: int = 300, n_test: int = 60) -> dict[str, np.ndarray]:
    """uint8 signals (N, 2, 6) of 3 classes: learnable, and converted (/255) on the way in."""
    rng = np.random.default_rng(0)
    centers = rng.uniform(40, 215, (3, 2, 6))
    y = rng.integers(0, 3, n + n_test)
    x = np.clip(centers[y] + rng.normal(0, 25, (n + n_test, 2, 6)), 0, 255).astype(np.uint8)
    return {"x": x[:n], "y": y[:n], "x_test": x[n:], "y_test": y[n:]}


def config(path: Path, **over: Any) -> RunConfig:
    base = RunConfig.model_validate(
        {
            "data": {"name": "npz", "options": {"path": str(path)}},
            "model": {"name": "mlp", "options": {"width": 16, "depth": 1}},
            "train": {"epochs": 2, "batch_size": 32, "eval_batch_size": 50},
            "schedule": {"name": "constant"},
        }
    )
    return base.with_overrides(over)


def metrics(cfg: RunConfig) -> tuple[dict[str, Any], list[dict[str, float]]]:
    hist = run(cfg).history
    assert hist.status == "finished"
    return hist.summary, [{k: e[k] for k in ("train_loss", "val_loss")} for e in hist.epochs]


@pytest.mark.parametrize("layout", ["npz", "compressed", "npy", "holdout"])
def test_streamed_runs_give_the_resident_metrics(tmp_path: Path, layout: str) -> None:
    arrays = blobs()
    if layout == "holdout":  # no x_test: the fixed stratified test split is taken from the file
        arrays = {"x": arrays["x"], "y": arrays["y"]}
    path = tmp_path / "d.npz"
    if layout == "npy":
        path = tmp_path / "d"
        path.mkdir()
        for key, a in arrays.items():
            np.save(path / f"{key}.npy", a)
    elif layout == "compressed":
        np.savez_compressed(path, **arrays)
    else:
        np.savez(path, **arrays)
    resident, resident_epochs = metrics(config(path))
    streamed, streamed_epochs = metrics(config(path, **{"data.device_budget": 1000}))
    assert resident["data_path"] == "resident"
    # a compressed member cannot be memory-mapped: it streams from host memory
    assert streamed["data_path"] == ("host" if layout == "compressed" else "memmap")
    assert streamed["data_budget"] == 1000 and streamed["data_bytes"] == resident["data_bytes"]
    assert streamed_epochs == resident_epochs
    assert {k: streamed[k] for k in METRICS} == {k: resident[k] for k in METRICS}


def test_metrics_beyond_accuracy_are_measured_alike_when_streamed(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", **blobs())
    over = {"train.metrics": ["f1_macro", "auroc"]}
    resident, _ = metrics(config(tmp_path / "d.npz", **over))
    streamed, _ = metrics(config(tmp_path / "d.npz", **over, **{"data.device_budget": 0}))
    keys = ("val_f1_macro", "val_auroc", "test_f1_macro", "test_auroc")
    assert {k: streamed[k] for k in keys} == {k: resident[k] for k in keys}
    assert 0.5 < resident["test_auroc"] <= 1


def test_a_torch_dataset_class_streams_through_a_dataloader(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", **blobs())
    (tmp_path / "blobs.py").write_text(DATASET_CLASS)
    resident, resident_epochs = metrics(config(tmp_path / "d.npz"))
    for workers in (0, 2):
        cfg = config(tmp_path / "d.npz", **{
            "data.name": f"{tmp_path / 'blobs.py'}:Blobs",
            "data.options": {"path": str(tmp_path / "d.npz")},
            "data.workers": workers,
        })  # fmt: skip
        streamed, streamed_epochs = metrics(cfg)
        assert streamed["data_path"] == "dataset"
        assert streamed_epochs == resident_epochs
        assert {k: streamed[k] for k in METRICS} == pytest.approx(
            {k: resident[k] for k in METRICS}, abs=1e-6
        )
    read = data.load(cfg.data, 0)  # an inspection reads the Dataset's items into tensors
    npz = data.load(config(tmp_path / "d.npz").data, 0)
    assert torch.equal(read.x_train, npz.x_train) and torch.equal(read.y_test, npz.y_test)
    assert read.spec.class_names == ("a", "b", "c") and read.spec.input_shape == (2, 6)


def test_the_run_record_says_how_the_data_came(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    np.savez(tmp_path / "d.npz", **blobs())
    store = Store(tmp_path / "store")
    record = run(config(tmp_path / "d.npz", **{"data.device_budget": "1kB"}), store).record
    assert capsys.readouterr().err == (
        "trainlab: d: 35.3 kB resident, over the device budget of 1 kB (data.device_budget): "
        "streamed memory-mapped from disk\n"
    )
    assert record is not None
    stored = store.get_run(record.id).summary
    assert stored["data_path"] == "memmap" and stored["data_budget"] == 1000
    assert stored["data_bytes"] == (270 + 30 + 60 + 270) * (12 * 4 + 8)  # splits + epoch copy


def test_a_budget_the_data_fit_keeps_them_resident(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", **blobs())
    cfg = config(tmp_path / "d.npz", **{"data.device_budget": "1MB"})
    data = load_or_stream(cfg.data, 0, torch.device("cpu"))
    assert not isinstance(data, Streamed) and len(data.y_train) == 270


def test_regression_data_stay_resident_whatever_the_budget() -> None:
    cfg = RunConfig.model_validate({"data": {"name": "diabetes", "device_budget": 0}})
    data = load_or_stream(cfg.data, 0, torch.device("cpu"))
    assert not isinstance(data, Streamed) and data.spec.task == "regression"


def test_stacked_seeds_fall_back_to_lone_runs_when_the_data_stream(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", **blobs())
    cfgs = [config(tmp_path / "d.npz", seed=s, **{"data.device_budget": 0}) for s in (0, 1)]
    with pytest.raises(
        Unsupported, match=r"^the data stream from the host \(over data.device_budget\)$"
    ):
        Stack([prepare(c) for c in cfgs])


def test_device_budget_and_workers_are_execution_settings(tmp_path: Path) -> None:
    cfg = config(tmp_path / "d.npz")
    other = cfg.with_overrides({"data.device_budget": "2GB", "data.workers": 4})
    assert other.hash() == cfg.hash()
    base = {"base": cfg.model_dump(mode="json")}
    assert planned(base) == planned({"base": other.model_dump(mode="json")})


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("2GB", ("bytes", 2e9)),
        ("512MiB", ("bytes", 512 * 2**20)),
        ("1.5g", ("bytes", 1.5e9)),
        (1000, ("bytes", 1000.0)),
        (0, ("bytes", 0.0)),
        (2e9, ("bytes", 2e9)),  # YAML's 2e9 is a float
        (0.25, ("share", 0.25)),
        ("50%", ("share", 0.5)),
    ],
)
def test_budget_forms(value: Any, parsed: tuple[str, float]) -> None:
    assert parse_budget(value) == parsed


def test_a_share_of_the_budget_is_of_free_memory() -> None:
    cpu = torch.device("cpu")
    assert 0 < budget_bytes("10%", cpu) < budget_bytes(0.5, cpu)


@pytest.mark.parametrize(
    ("text", "value"),
    [("2XB", "2XB"), ("-1", -1), ("150%", "150%"), ("lots", "lots"), ("0.0", 0.0), ("true", True)],
)
def test_a_bad_budget_is_one_line_naming_field_value_and_forms(text: str, value: Any) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(overrides=[f"data.device_budget={text}"])
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"data.device_budget={value!r}: ")
    assert "'2GB'" in msg and "'50%'" in msg and "integer" in msg


def test_prefetch_raises_the_readers_error_and_stops_when_left() -> None:
    src = ArraySource(
        np.arange(40, dtype=np.float32).reshape(20, 2),
        np.arange(20),
        np.zeros(20, np.int64),
        "vector",
    )
    batches = prefetched(src.batches(np.arange(20)[::-1].copy(), 8), torch.device("cpu"), depth=1)
    x, _ = next(batches)
    assert x[:, 0].tolist() == [38, 36, 34, 32, 30, 28, 26, 24]  # the order given, not the file's
    batches.close()  # leaving early joins the reader thread

    def broken() -> Any:
        yield torch.zeros(1), torch.zeros(1)
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(prefetched(broken(), torch.device("cpu")))
