"""Metrics beyond accuracy (`train.metrics`: F1, AUROC, ... or the user's function) measured on
validation and test and usable by a search and a study; and the regression task: standardised
targets, MSE, rmse/mae/r2 in the targets' units, selection on val_rmse (lower), from a CSV, the
built-in diabetes set or the user's code — with every classification config hashing as before."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from sklearn.linear_model import LinearRegression

from trainlab.cli import main
from trainlab.config import RunConfig
from trainlab.data import load
from trainlab.data.spec import DataSpec
from trainlab.errors import ConfigError
from trainlab.execute import Job
from trainlab.execute.groups import why_alone
from trainlab.search import SearchSettings, parse_space, run_search
from trainlab.studies import StudyOptions, run_grid
from trainlab.track.store import Store
from trainlab.train.experiment import run
from trainlab.train.metrics import outputs_of, regression_scores, scores

TINY = {
    "name": "tiny",
    "data": {"name": "moons", "options": {"n": 200}},
    "model": {"name": "mlp", "options": {"width": 8}},
    "train": {"epochs": 2, "batch_size": 50, "checkpoint": "none"},
}
ALL = ["f1_macro", "f1_weighted", "precision_macro", "recall_macro", "auroc", "mcc"]
# y = x @ W + noise with var(x @ W) = |W|^2 = 4 and noise variance 1: the best R² is 4/5.
W, NOISE, BEST_R2 = np.array([1.2, -0.8, 1.2, 0.4]), 1.0, 0.8
LINEAR = """
import numpy as np

def make(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = x @ np.array([1.2, -0.8, 1.2, 0.4]) + rng.normal(0.0, 1.0, n)
    return x, (3.0 * y + 50.0).astype(np.float32)  # in units of 3, around 50
"""


def tiny(**over: object) -> RunConfig:
    return RunConfig.model_validate(TINY).with_overrides(dict(over))


def spec(classes: int = 3) -> DataSpec:
    return DataSpec("t", "vector", (2,), classes, tuple(str(i) for i in range(classes)))


def test_f1_auroc_and_the_others_equal_sklearn_on_fixed_logits() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(60) % 3
    logits = torch.randn(60, 3, generator=g) + 1.5 * torch.nn.functional.one_hot(y, 3)
    got = scores(ALL, logits, y, spec())
    pred, prob = logits.argmax(1).numpy(), logits.softmax(1).numpy()
    want = {
        "f1_macro": skm.f1_score(y, pred, average="macro"),
        "f1_weighted": skm.f1_score(y, pred, average="weighted"),
        "precision_macro": skm.precision_score(y, pred, average="macro"),
        "recall_macro": skm.recall_score(y, pred, average="macro"),
        "auroc": skm.roc_auc_score(y, prob, multi_class="ovr", average="macro"),
        "mcc": skm.matthews_corrcoef(y, pred),
    }
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key


def test_rmse_mae_r2_by_hand_in_the_targets_units() -> None:
    s = DataSpec("t", "vector", (2,), 1, ("y",), task="regression", target_mean=(10.0,),
                 target_std=(4.0,))  # fmt: skip
    target = torch.tensor([0.5, -1.0, 2.0, 0.0])  # standardised
    out = torch.tensor([[0.0], [-1.5], [1.0], [0.5]])
    got = regression_scores(out, target, s)
    err = (out.squeeze(1) - target).numpy() * 4.0  # [-2, -2, -4, 2] in the targets' units
    assert got["rmse"] == pytest.approx(math.sqrt(np.mean(err**2)))  # sqrt(28 / 4)
    assert got["rmse"] == pytest.approx(math.sqrt(7.0))
    assert got["mae"] == pytest.approx(2.5)
    assert got["loss"] == pytest.approx(np.mean((err / 4.0) ** 2))
    assert got["r2"] == pytest.approx(skm.r2_score(target.numpy(), out.squeeze(1).numpy()))


def test_asked_metrics_are_stored_per_epoch_and_in_the_summary_as_strict_json() -> None:
    store = Store()
    result = run(tiny(**{"train.metrics": ["f1_macro", "auroc"]}), store)
    rec = result.record
    assert rec is not None
    s = rec.summary
    assert {"val_f1_macro", "val_auroc", "test_f1_macro", "test_auroc", "test_acc"} <= set(s)
    assert all("val_f1_macro" in e and "val_auroc" in e for e in store.epochs(rec.id))
    data = result.dataset
    logits = outputs_of(result.model, data.x_test).float()
    pred = logits.argmax(1).numpy()
    assert s["test_f1_macro"] == pytest.approx(skm.f1_score(data.y_test, pred, average="macro"))
    prob = logits.softmax(1)[:, 1].numpy()
    assert s["test_auroc"] == pytest.approx(skm.roc_auc_score(data.y_test, prob), abs=1e-6)
    raw = sqlite3.connect(store.db_path).execute("SELECT summary FROM runs").fetchone()[0]
    json.loads(raw, parse_constant=lambda c: pytest.fail(f"non-finite {c} stored"))


def test_a_users_metric_by_import_path(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text(
        "def share_of_class_one(logits, labels):\n"
        "    return float((logits.argmax(1) == 1).float().mean())\n"
    )
    cfg = tiny(**{"train.metrics": [f"{tmp_path}/mine.py:share_of_class_one"]})
    result = run(cfg)
    logits = outputs_of(result.model, result.dataset.x_test)
    want = float((logits.argmax(1) == 1).float().mean())
    assert result.summary["test_share_of_class_one"] == pytest.approx(want)
    assert 0 <= result.summary["val_share_of_class_one"] <= 1


def test_a_search_optimises_val_f1_macro_upward() -> None:
    store = Store()
    base = tiny(**{"train.metrics": ["f1_macro"]})
    space = parse_space({"optim.lr": {"log_uniform": [1e-3, 1e-1]}})
    settings = SearchSettings("random", trials=2, metric="val_f1_macro")
    assert settings.resolved_direction() == "maximize"
    result = run_search(base, space, settings, store)
    done = [t for t in result.trials if t.value is not None]
    assert len(done) == 2
    for t in done:
        assert t.value == pytest.approx(store.get_run(t.run_id).summary["val_f1_macro"])
    with pytest.raises(ConfigError, match="val_f1_macro"):  # not asked for: not on offer
        run_search(tiny(), space, SearchSettings("random", trials=1, metric="val_f1_macro"), store)


def test_a_grid_study_judges_test_f1_macro_beside_test_acc() -> None:
    base = tiny(**{"train.metrics": ["f1_macro"]})
    result = run_grid(
        base,
        ["optim.lr=0.01,0.3"],
        seeds=2,
        selection_seeds=1,
        options=StudyOptions(workers=1, progress=False),
    )
    comp = result.summary.data["comparison"]
    assert comp["metrics"] == ["test_acc", "test_f1_macro"]
    by_metric = {c["metric"]: c for c in comp["comparisons"]}
    assert by_metric["test_f1_macro"]["higher_is_better"] is True
    assert by_metric["test_f1_macro"]["diff"] is not None
    assert "Grid: test_f1_macro per variant" in [t.title for t in result.summary.tables]


def test_a_classification_config_hashes_as_on_main() -> None:
    # Hashes computed on main before `train.metrics` existed: every stored run stays found.
    assert RunConfig().hash() == "3e2b228b4bcf"
    moons = {"data.name": "moons", "optim.lr": 0.03, "train.epochs": 5}
    assert RunConfig().with_overrides(moons).hash() == "0c0540b500b6"
    assert "metrics" not in RunConfig().canonical_json()
    asked = RunConfig().with_overrides({"train.metrics": ["f1_macro"]})
    assert asked.hash() != RunConfig().hash()  # a run that measures F1 is not one that did not


def test_a_bad_metric_name_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--data", "moons", "--epochs", "1", "train.metrics=[f2]"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "train.metrics" in err and "'f2'" in err and "f1_macro" in err and "auroc" in err
    with pytest.raises(ConfigError, match="classification metric"):
        run(RunConfig().with_overrides({"data.name": "diabetes", "train.metrics": ["auroc"]}))


def test_diabetes_loads_as_a_standardised_regression() -> None:
    d = load(RunConfig().with_overrides({"data.name": "diabetes"}).data, seed=0)
    assert d.spec.task == "regression" and d.spec.num_classes == 1
    assert d.y_train.dtype == torch.float32 and d.y_train.shape == (len(d.x_train),)
    assert abs(float(d.y_train.mean())) < 1e-5 and float(d.y_train.std()) == pytest.approx(1.0)
    assert d.spec.target_std is not None and 70 < d.spec.target_std[0] < 85  # sklearn: std 77
    assert sum(d.sizes.values()) == 442


def test_linear_regression_reaches_the_known_r2_and_least_squares(tmp_path: Path) -> None:
    (tmp_path / "linear.py").write_text(LINEAR)
    cfg = RunConfig().with_overrides({
        "data.name": f"{tmp_path}/linear.py:make", "data.options": {"task": "regression"},
        "model.name": "logreg", "optim.lr": 0.05, "train.epochs": 15, "train.batch_size": 64,
    })  # fmt: skip
    result = run(cfg)
    s, d = result.summary, result.dataset
    assert "test_acc" not in s and s["best_epoch"] >= 1
    ols = LinearRegression().fit(d.x_train.numpy(), d.y_train.numpy())
    ols_r2 = skm.r2_score(d.y_test.numpy(), ols.predict(d.x_test.numpy()))
    assert s["test_r2"] == pytest.approx(ols_r2, abs=0.01)  # gradient descent reaches OLS
    assert s["test_r2"] == pytest.approx(BEST_R2, abs=0.05)  # 1 - noise_var / var(y)
    assert s["test_rmse"] == pytest.approx(3.0 * NOISE, rel=0.1)  # noise std in y's units


def test_early_stopping_keeps_the_epoch_of_lowest_val_rmse() -> None:
    cfg = RunConfig().with_overrides({
        "data.name": "diabetes", "model.name": "mlp", "model.options": {"width": 64},
        "optim.lr": 0.03, "train.epochs": 12, "train.early_stopping": 3, "train.batch_size": 32,
    })  # fmt: skip
    result = run(cfg)
    epochs, s = result.history.epochs, result.summary
    lowest = min(epochs, key=lambda e: e["val_rmse"])
    assert s["tested_epoch"] == s["best_epoch"] == lowest["epoch"]
    assert s["val_rmse"] == s["best_val_rmse"] == lowest["val_rmse"]
    assert all("val_acc" not in e and "train_acc" not in e for e in epochs)
    if len(epochs) < 12:
        assert result.history.reason.startswith("early stop: no val_rmse gain")


def test_a_regression_csv_runs_end_to_end_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2))
    y = 2.0 * x[:, 0] - x[:, 1] + rng.normal(0, 0.3, 300) + 10.0
    rows = ["a,b,price"] + [f"{a:.4f},{b:.4f},{t:.4f}" for (a, b), t in zip(x, y, strict=True)]
    (tmp_path / "houses.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "cfg.yaml").write_text(
        f"data:\n  name: csv\n  options: {{path: {tmp_path / 'houses.csv'}, target: price,"
        " task: regression}\nmodel: {name: logreg}\noptim: {lr: 0.05}\n"
        "train: {epochs: 10, batch_size: 32}\n"
    )
    code = main(["run", str(tmp_path / "cfg.yaml"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["status"] == "finished"
    assert out["test_r2"] > 0.9 and 0.2 < out["test_rmse"] < 0.45  # noise std 0.3
    rec = Store().get_run(out["id"])
    assert not (rec.dir / "test_examples.npz").exists()  # correct/wrong bits are a classifier's
    assert why_alone(Job("v", rec.config)).startswith("regression runs train alone")


def test_a_regression_grid_study_chooses_and_judges_on_rmse_downward() -> None:
    base = RunConfig().with_overrides({
        "name": "reg", "data.name": "diabetes", "model.name": "logreg",
        "train.epochs": 3, "train.batch_size": 64, "train.checkpoint": "none",
    })  # fmt: skip
    result = run_grid(
        base,
        ["optim.lr=0.003,0.1"],
        seeds=2,
        selection_seeds=1,
        options=StudyOptions(workers=1, progress=False),
    )
    comp = result.summary.data["comparison"]
    assert comp["selection_metric"] == "val_rmse" and comp["metrics"] == ["test_rmse"]
    (c,) = comp["comparisons"]
    assert c["higher_is_better"] is False and c["p_examples"] is None
    (best,) = comp["best"]
    scores_ = result.summary.data["selection"]
    assert best["variant"] == min(scores_, key=scores_.get)  # lowest validation RMSE is chosen
