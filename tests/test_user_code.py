"""The user's own model and data by import path, CSV tables, standardisation and what the hash covers."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from torch import nn

import trainlab
from trainlab.cli import main
from trainlab.config import load_config
from trainlab.data import load
from trainlab.errors import ConfigError, DataError
from trainlab.inspect.target import from_run
from trainlab.track.store import Store

NET = """
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes, input_shape, width=8):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], width), nn.ReLU())
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.body(x))


def make_net(spec, width=4):
    return nn.Sequential(nn.Linear(spec.input_shape[0], width), nn.ReLU(), nn.Linear(width, spec.num_classes))


class NotAModule:
    pass


class ThreeLogits(nn.Module):  # moons has 2 classes
    def __init__(self, input_shape):
        super().__init__()
        self.fc = nn.Linear(input_shape[0], 3)

    def forward(self, x):
        return self.fc(x)


class Broken(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 2)  # moons has 2 features

    def forward(self, x):
        return self.fc(x)
"""

DATA = """
import numpy as np


def make(n=120):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    x = rng.normal(size=(n, 3)).astype("float32") + 3 * y[:, None]
    return {"x": x, "y": y, "class_names": ["neg", "pos"]}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "mynet.py").write_text(NET)
    (tmp_path / "mydata.py").write_text(DATA)
    return tmp_path


def _cfg(folder: Path, *items: str) -> trainlab.RunConfig:
    yaml_file = folder / "exp.yaml"
    yaml_file.write_text("model: {name: mynet.py:Net}\ndata: {name: moons, options: {n: 200}}\n")
    return load_config(yaml_file, ["train.epochs=2", *items])


def test_model_path_resolves_beside_the_yaml_and_is_stored_absolute(folder: Path) -> None:
    cfg = _cfg(folder)
    assert cfg.model.name == f"{folder / 'mynet.py'}:Net"
    store = Store(folder / "store")
    rec = trainlab.run(cfg, store).record
    assert rec is not None and rec.status == "finished"
    assert rec.env["model_class"] == "Net"
    assert rec.env["model_import"] == cfg.model.name
    import hashlib

    assert rec.env["model_sha256"] == hashlib.sha256((folder / "mynet.py").read_bytes()).hexdigest()
    target = from_run(store, rec.id)  # rebuilt from the import path, weights from the checkpoint
    assert type(target.model).__name__ == "Net"
    assert next(target.model.parameters()).device == target.dataset.x_train.device
    assert target.model.head.weight.tolist() == trainlab.run(cfg).model.head.weight.tolist()


def test_model_options_and_a_factory_function(folder: Path) -> None:
    cfg = _cfg(folder, f"model.name={folder / 'mynet.py'}:make_net", "model.options.width=3")
    result = trainlab.run(cfg)
    assert [m.out_features for m in result.model if isinstance(m, nn.Linear)] == [3, 2]


def test_editing_the_model_file_changes_the_hash_touching_it_does_not(folder: Path) -> None:
    before = _cfg(folder).hash()
    src = folder / "mynet.py"
    src.write_text(src.read_text())  # same bytes, new mtime
    assert _cfg(folder).hash() == before
    src.write_text(src.read_text().replace("width=8", "width=9"))
    assert _cfg(folder).hash() != before


def test_execution_settings_do_not_change_the_hash(folder: Path) -> None:
    base = _cfg(folder)
    for item in ("train.checkpoint=every_epoch", "train.threads=1", "train.eval_batch_size=7"):
        assert base.with_overrides([item]).hash() == base.hash(), item
    assert base.with_overrides(["train.precision=bf16"]).hash() != base.hash()
    assert base.with_overrides(["optim.lr=0.5"]).hash() != base.hash()


def test_edited_data_file_is_a_new_config(tmp_path: Path) -> None:
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((10, 2), np.float32), y=np.arange(10) % 2)
    cfg = load_config(None, ["data.name=npz", f"data.options.path={path}"])
    first = cfg.hash()
    np.savez(path, x=np.ones((10, 2), np.float32), y=np.arange(10) % 2)
    assert cfg.hash() != first


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("missing.py:Net", "does not exist"),
        ("mynet.py:Nope", "has no 'Nope'; it defines: Broken, Net, NotAModule, ThreeLogits"),
        ("mynet.py:NotAModule", "is a class but not a torch.nn.Module"),
        (
            "mynet.py:ThreeLogits",
            "gives (2, 3); a classifier must return (batch, num_classes) = (2, 2) logits",
        ),
        (
            "mynet.py:Broken",
            "(inputs (2, 2)): its forward fails: RuntimeError: mat1 and mat2 shapes",
        ),
    ],
)
def test_bad_model_paths_are_one_line_exit_2_and_store_nothing(
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    needle: str,
) -> None:
    monkeypatch.chdir(folder)
    store = folder / "st"
    code = main(["run", "--data", "moons", "--model", name, "--epochs", "1", "--store", str(store)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and len(err.splitlines()) == 1, err
    assert Store(store).list_runs() == []


def test_data_by_import_path_with_class_names(folder: Path) -> None:
    cfg = load_config(None, [f"data.name={folder / 'mydata.py'}:make", "data.options.n=60"])
    ds = load(cfg.data, 0)
    assert ds.spec.class_names == ("neg", "pos")
    assert sum(ds.sizes.values()) == 60


def _write_csv(path: Path, rows: int = 60) -> Path:
    lines = ["size,weight,target"]
    for i in range(rows):
        kind = "cat" if i % 2 else "dog"
        lines.append(f"{i % 7 + (10 if kind == 'dog' else 0)},{1000 * (i % 3)},{kind}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_trains_with_class_names_and_standardised_features(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "pets.csv")
    cfg = load_config(None, ["data.name=csv", f"data.options.path={path}", "train.epochs=3"])
    ds = load(cfg.data, 0)
    assert ds.spec.class_names == ("cat", "dog") and ds.spec.input_shape == (2,)
    assert np.allclose(ds.x_train.mean(0).numpy(), 0, atol=1e-5)
    assert np.allclose(ds.x_train.std(0).numpy(), 1, atol=1e-5)
    assert not np.allclose(ds.x_val.mean(0).numpy(), 0, atol=1e-5)  # val uses train statistics
    result = trainlab.run(cfg)
    assert result.history.status == "finished" and result.summary["test_acc"] > 0.7


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        (
            ["data.options.target=label"],
            "no such column in pets.csv; columns: size, weight, target",
        ),
        (["data.options.path=nowhere.csv"], "does not exist"),
    ],
)
def test_bad_csv_inputs_name_the_file_or_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], needle: str
) -> None:
    path = _write_csv(tmp_path / "pets.csv")
    store = tmp_path / "st"
    argv = ["run", "data.name=csv", f"data.options.path={path}", *options, "--store", str(store)]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and needle in err and len(err.splitlines()) == 1
    assert Store(store).list_runs() == []


def test_non_numeric_feature_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,colour,target\n1,red,x\n2,blue,y\n3,red,x\n")
    with pytest.raises(DataError, match="column 'colour' is not numeric"):
        load(load_config(None, ["data.name=csv", f"data.options.path={path}"]).data, 0)


def _wine_like(path: Path) -> Path:
    rng = np.random.default_rng(0)
    y = np.arange(150) % 3
    x = np.stack([rng.normal(y, 0.5), rng.normal(1000 * y, 300)], 1).astype(np.float32)
    np.savez(path, x=x, y=y)
    return path


def test_npz_standardize_and_the_scale_warning(tmp_path: Path) -> None:
    path = _wine_like(tmp_path / "wine.npz")
    raw_cfg = load_config(None, ["data.name=npz", f"data.options.path={path}"])
    with pytest.warns(UserWarning, match="feature scales differ by .*standardize=true"):
        load(raw_cfg.data, 0)
    std_cfg = raw_cfg.with_overrides(["data.options.standardize=true"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = load(std_cfg.data, 0)
    assert np.allclose(ds.x_train.std(0).numpy(), 1, atol=1e-4)
    with pytest.raises(ConfigError, match="standardize='yes': must be true or false"):
        load(raw_cfg.with_overrides({"data.options.standardize": "yes"}).data, 0)


def test_run_takes_an_override_with_a_path_as_first_positional(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _wine_like(tmp_path / "wine.npz")
    code = main(
        [
            "run",
            "--data",
            "npz",
            f"data.options.path={path}",
            "--model",
            "mlp",
            "--epochs",
            "1",
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and json.loads(out)["config"]["data"]["options"]["path"] == str(path)


def test_missing_yaml_is_config_file_does_not_exist(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["run", "nope.yaml"],
        ["study", "grid", "nope.yml"],
        ["inspect", "features", "nope.yaml"],
    ):
        assert main(argv) == 2
        assert "config file 'nope.y" in capsys.readouterr().err


def _write_gappy_csv(path: Path, rows: int = 60) -> tuple[Path, int]:
    """`id` (the row number, never missing), `a` with every fifth cell empty, and a class."""
    lines, blanks = ["id,a,target"], 0
    for i in range(rows):
        cell = "" if i % 5 == 2 else str(i * i % 17 + 0.25 * i)
        blanks += cell == ""
        lines.append(f"{i},{cell},{'yes' if i % 2 else 'no'}")
    path.write_text("\n".join(lines) + "\n")
    return path, blanks


def test_missing_csv_value_error_names_the_option_and_its_choices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = _write_gappy_csv(tmp_path / "gaps.csv")
    store = tmp_path / "st"
    code = main(["run", "data.name=csv", f"data.options.path={path}", "--store", str(store)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "column 'a' has a missing value (line 4: '')" in err
    assert "data.options.missing to one of drop, mean, median" in err
    bad = main(["run", "data.name=csv", f"data.options.path={path}", "data.options.missing=zero"])
    assert bad == 2
    assert "data.options.missing='zero': choose one of error, drop, mean, median" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("how", ["mean", "median"])
def test_missing_csv_values_are_filled_from_the_train_split_only(tmp_path: Path, how: str) -> None:
    path, blanks = _write_gappy_csv(tmp_path / "gaps.csv")
    items = [f"data.options.path={path}", f"data.options.missing={how}"]
    cfg = load_config(None, ["data.name=csv", *items, "data.options.standardize=false"])
    ds = load(cfg.data, 3)
    column = {i: (np.nan if i % 5 == 2 else i * i % 17 + 0.25 * i) for i in range(60)}
    train_ids = [int(i) for i in ds.x_train[:, 0]]
    stat = np.nanmean if how == "mean" else np.nanmedian
    want = stat([column[i] for i in train_ids])
    pool = stat([column[int(i)] for i in (*ds.x_train[:, 0], *ds.x_val[:, 0], *ds.x_test[:, 0])])
    assert abs(want - pool) > 1e-3  # the check below tells train-only from all-split statistics
    for part in ("x_train", "x_val", "x_test"):
        x = getattr(ds, part)
        for i, a in zip(x[:, 0].tolist(), x[:, 1].tolist(), strict=True):
            assert a == pytest.approx(want if int(i) % 5 == 2 else column[int(i)], abs=1e-5)
    assert ds.imputed == blanks == 12
    result = trainlab.run(cfg.with_overrides({"train.epochs": 1}))
    assert result.summary["imputed_values"] == 12 and result.summary["dropped_rows"] == 0


def test_missing_csv_rows_can_be_dropped(tmp_path: Path) -> None:
    path, blanks = _write_gappy_csv(tmp_path / "gaps.csv")
    cfg = load_config(
        None,
        [
            "data.name=csv",
            f"data.options.path={path}",
            "data.options.missing=drop",
            "data.options.standardize=false",
        ],
    )
    ds = load(cfg.data, 0)
    assert sum(ds.sizes.values()) == 60 - blanks and ds.dropped == blanks and ds.imputed == 0
    kept = {int(i) for part in (ds.x_train, ds.x_val, ds.x_test) for i in part[:, 0].tolist()}
    assert kept.isdisjoint(range(2, 60, 5))


def test_missing_features_of_a_regression_csv_are_filled_too(tmp_path: Path) -> None:
    lines = ["a,b,target"] + [f"{'' if i % 4 == 1 else i},{i % 3},{0.5 * i}" for i in range(40)]
    path = tmp_path / "reg.csv"
    path.write_text("\n".join(lines) + "\n")
    items = ["data.options.task=regression", "data.options.missing=median"]
    cfg = load_config(None, ["data.name=csv", f"data.options.path={path}", *items])
    ds = load(cfg.data, 0)
    assert ds.imputed == 10 and ds.spec.task == "regression"
    for part in (ds.x_train, ds.x_val, ds.x_test):
        assert not part.isnan().any()
