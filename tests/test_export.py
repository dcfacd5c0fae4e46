"""`trainlab export tensorboard|mlflow`: what the tools read back equals what the store holds;
each needs its extra only when used, with a one-line error naming it when missing."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trainlab
from trainlab.cli import main
from trainlab.config import RunConfig
from trainlab.errors import MissingExtraError
from trainlab.track import export
from trainlab.track.store import RunRecord, Store
from trainlab.train.recorder import Recorder, load_record

TINY = {
    "name": "exp",
    "data": {"name": "moons"},
    "model": {"name": "mlp", "options": {"width": 8}},
    "optim": {"lr": 0.02},
    "train": {"epochs": 3, "batch_size": 128, "checkpoint": "none"},
}
EPOCH_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, RunRecord, RunRecord]:
    """A flight-recorded run with its inspection figures in its folder, and a plain run."""
    root = tmp_path_factory.mktemp("export") / "store"
    store = Store(root)
    recorder = Recorder(every=4)
    cfg = RunConfig.model_validate(TINY)
    recorded = trainlab.run(cfg, store, [recorder]).record
    plain = trainlab.run(cfg.with_overrides({"name": "plain", "seed": 1}), store).record
    assert recorded is not None and plain is not None
    recorder.save(recorded.dir)
    assert main(["inspect", "recorder", "--run", recorded.id, "--store", str(root)]) == 0
    return store, recorded, plain


def test_tensorboard_events_hold_the_stored_epochs_recorder_and_hparams(
    made: tuple[Store, RunRecord, RunRecord], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    store, run, _ = made
    out = tmp_path / "tb"
    for _ in range(2):  # a rerun replaces the events instead of doubling every point
        code = main(
            ["export", "tensorboard", run.id, "--out", str(out), "--store", str(store.root)]
        )
        assert code == 0
    assert capsys.readouterr().out.splitlines() == [str(out)] * 2
    (folder,) = out.iterdir()
    assert folder.name == f"exp-{run.id}" and len(list(folder.glob("events.*"))) == 1
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    acc.Reload()
    epochs = store.epochs(run.id)
    for key in EPOCH_METRICS:
        points = acc.Scalars(key)
        assert [p.step for p in points] == [1, 2, 3]
        assert [p.value for p in points] == pytest.approx([e[key] for e in epochs], rel=1e-6)
    (final,) = acc.Scalars("final/test_acc")
    assert final.step == 3 and final.value == pytest.approx(run.summary["test_acc"], rel=1e-6)
    record = load_record(run.dir)
    layer = record.layers[0]
    grad = acc.Scalars(f"recorder/grad_norm/{layer}")
    assert [p.step for p in grad] == record.steps.tolist()
    assert [p.value for p in grad] == pytest.approx(record.stats["grad_norm"][:, 0], rel=1e-6)
    hists = acc.Histograms(f"activations/{layer}")
    assert [h.step for h in hists] == record.steps.tolist()
    last = hists[-1].histogram_value
    assert list(last.bucket) == record.hist_counts[-1, 0].tolist()
    assert last.num == record.hist_counts[-1, 0].sum()
    assert last.min == pytest.approx(record.hist_low[-1, 0])
    assert last.max == pytest.approx(record.hist_high[-1, 0])
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert start.hparams["optim.lr"].number_value == pytest.approx(0.02)
    assert start.hparams["model.name"].string_value == "mlp"
    assert start.hparams["train.epochs"].number_value == 3


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # MLflow's own SQLAlchemy use
def test_mlflow_run_holds_params_metric_history_and_artifacts(
    made: tuple[Store, RunRecord, RunRecord], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    store, run, plain = made
    monkeypatch.chdir(tmp_path)  # MLflow puts artifacts of a sqlite store in ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    batches: list[int] = []
    real_batch = MlflowClient.log_batch

    def log_batch(self: Any, run_id: str, metrics: Any = (), **kw: Any) -> Any:
        batches.append(len(metrics))
        return real_batch(self, run_id, metrics, **kw)

    def log_metric(*args: Any, **kw: Any) -> None:
        raise AssertionError("one log_metric call per point is ~8 ms each on SQLite")

    monkeypatch.setattr(MlflowClient, "log_batch", log_batch)
    monkeypatch.setattr(MlflowClient, "log_metric", log_metric)
    done = export.export_mlflow(store, [run, plain], uri, "trainlab-test")
    assert [d.run_id for d in done] == [run.id, plain.id] and not any(d.skipped for d in done)
    assert len(batches) == 2  # one log_batch per run, every point in it
    client = MlflowClient(tracking_uri=uri)
    got = client.get_run(done[0].target)
    assert got.info.run_name == "exp" and got.info.status == "FINISHED"
    assert got.data.tags[export.RUN_ID_TAG] == run.id
    assert got.data.tags["trainlab.config_hash"] == run.config_hash
    assert got.data.params["optim.lr"] == "0.02" and got.data.params["model.options.width"] == "8"
    assert got.data.params["optim.betas"] == json.dumps(run.config.optim.betas)
    epochs = store.epochs(run.id)
    for key in EPOCH_METRICS:
        history = sorted(client.get_metric_history(got.info.run_id, key), key=lambda m: m.step)
        assert [(m.step, m.value) for m in history] == [(e["epoch"], e[key]) for e in epochs]
    assert got.data.metrics["final/test_acc"] == run.summary["test_acc"]
    assert got.data.metrics["final/ece"] == run.summary["ece"]
    assert (tmp_path / "mlruns").is_dir()
    files = {a.path for a in client.list_artifacts(got.info.run_id)}
    assert {"config.yaml", "inspect"} <= files
    figures = {a.path for a in client.list_artifacts(got.info.run_id, "inspect/recorder")}
    assert "inspect/recorder/recorder-stats.png" in figures
    again = export.export_mlflow(store, [run], uri, "trainlab-test")
    assert again[0].skipped and again[0].target == got.info.run_id  # found by its tag
    assert len(client.search_runs([got.info.experiment_id])) == 2


@pytest.mark.parametrize(
    ("target", "modules"),
    [
        ("tensorboard", ["torch.utils.tensorboard", "torch.utils.tensorboard.summary"]),
        ("mlflow", ["mlflow", "mlflow.entities", "mlflow.tracking"]),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(
    made: tuple[Store, RunRecord, RunRecord],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    target: str,
    modules: list[str],
) -> None:
    store, run, _ = made
    for name in modules:
        monkeypatch.setitem(sys.modules, name, None)  # `import` now raises ImportError
    code = main(["export", target, run.id, "--store", str(store.root)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == f"error: {MissingExtraError(target, target)}\n"
    assert f"pip install 'trainlab[{target}]'" in err


def test_export_of_an_unknown_run_is_one_line_exit_2(
    made: tuple[Store, RunRecord, RunRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["export", "tensorboard", "nope", "--store", str(made[0].root)])
    err = capsys.readouterr().err
    assert code == 2 and "'nope' is not a run or study id" in err and err.count("\n") == 1


def test_hparams_are_scalars_for_both_tools(made: tuple[Store, RunRecord, RunRecord]) -> None:
    flat = export.hparams(made[1])
    assert flat["seed"] == 0 and flat["optim.lr"] == 0.02
    assert flat["data.options"] == "{}" and flat["regularize.grad_clip"] == "null"
    assert all(isinstance(v, (str, int, float, bool)) for v in flat.values())
    assert np.isfinite(list(export.final_metrics(made[1]).values())).all()


def test_track_imports_no_higher_layer_and_no_extra_at_import_time() -> None:
    """DESIGN: track knows nothing of the report; the extras are imported inside the exporters."""
    allowed = ("trainlab.track", "trainlab.config", "trainlab.errors")
    for path in (Path(export.__file__).parent).glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:  # module level only: imports inside functions are lazy
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(("tensorboard", "mlflow", "torch.utils.tensorboard"))
                if name.startswith("trainlab"):
                    assert name.startswith(allowed), f"{path.name} imports {name}"
