"""`trainlab inspect ...` end to end on tiny budgets: from a config and from a stored run, each
writing PNG + SVG figures and a Summary study that the report finds by kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainlab.cli import main
from trainlab.inspect import residual
from trainlab.track.store import Store


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    out = json.loads(captured.out) if code == 0 and "--json" in args else {}
    return code, out, captured.err


def _figures(result: dict) -> list[Path]:
    folder = Path(result["dir"])
    files = [folder / f["file"] for f in result["figures"]]
    assert files and all(f.exists() and f.with_suffix(".svg").exists() for f in files)
    assert all(f.with_suffix(".pdf").exists() for f in files)
    return files


def test_features_from_a_config_then_from_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    code, res, err = cli(
        capsys,
        "inspect",
        "features",
        "--data",
        "digits",
        "--model",
        "cnn",
        "--epochs",
        "1",
        "--json",
    )
    assert code == 0, err
    _figures(res)
    assert res["kind"] == "inspect-features" and len(res["run_ids"]) == 1
    assert {r["layer"] for r in res["data"]["layers"]} == {
        "features.block1.conv",
        "features.block2.conv",
    }
    run_id = res["run_ids"][0]
    store = Store()
    copies = list((store.run_dir(run_id) / "inspect" / "features").glob("*.png"))
    assert len(copies) == len(res["figures"])
    code, again, _ = cli(
        capsys, "inspect", "features", "--run", run_id[:6], "--layer", "features.block1", "--json"
    )
    assert code == 0 and [r["layer"] for r in again["data"]["layers"]] == ["features.block1"]
    assert again["study_id"] == res["study_id"]  # one study per run and kind
    assert [s.kind for s in store.list_studies("inspect-features")] == ["inspect-features"]


def test_attention_reports_decisive_mass(capsys: pytest.CaptureFixture[str]) -> None:
    code, res, err = cli(
        capsys,
        "inspect",
        "attention",
        "--data",
        "seq_pair",
        "--model",
        "transformer",
        "--epochs",
        "1",
        "model.options.dim=16",
        "model.options.depth=1",
        "--json",
    )
    assert code == 0, err
    _figures(res)
    data = res["data"]
    assert data["row_sum_error"] < 1e-5 and data["check_error"] < 1e-4
    assert 0 < data["chance"] < 1 and len(data["decisive_mass"]) == 1


def test_inception_and_recorder(capsys: pytest.CaptureFixture[str]) -> None:
    code, res, err = cli(
        capsys,
        "inspect",
        "inception",
        "--epochs",
        "2",
        "model.options.width=4",
        "model.options.depth=2",
        "--json",
    )
    assert code == 0, err
    _figures(res)
    assert res["data"]["concat_error"] == 0.0
    assert res["data"]["epochs"] == [0, 1, 2]
    for shares in res["data"]["shares"].values():
        assert sum(shares.values()) == pytest.approx(1.0)
    code, _, err = cli(
        capsys, "run", "--data", "digits", "--model", "mlp", "--epochs", "2", "--record", "3"
    )
    assert code == 0, err
    run_id = Store().list_runs(limit=1)[0].id
    code, rec, err = cli(capsys, "inspect", "recorder", "--run", run_id, "--json")
    assert code == 0, err
    _figures(rec)
    assert rec["data"]["steps"][:2] == [3, 6]


def test_residual_study_on_a_tiny_budget(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Depth 14 is valid but not among the budget's depths: it once crashed after training.
    tiny = {"depths": (8, 20), "more_depths": (), "samples": 128, "steps_1d": 5, "steps_2d": 3}
    monkeypatch.setitem(residual.BUDGETS, "quick", tiny)
    monkeypatch.setattr(residual, "LANDSCAPE_SAMPLES", 128)
    monkeypatch.setattr(residual, "GRAD_BATCHES", 1)
    code, res, err = cli(
        capsys,
        "inspect",
        "residual",
        "--epochs",
        "1",
        "model.options.depth=14",
        "model.options.width=4",
        "--json",
    )
    assert code == 0, err
    assert len(_figures(res)) == 8
    data = res["data"]
    assert (
        set(data["init_grad_ratio"]) == {"resnet", "plainnet"}
        and len(data["init_grad_ratio"]["resnet"]) == 3
    )
    assert data["depths"] == [8, 14, 20] and set(data["trained_grad_ratio"]["resnet"]) == {"14"}
    assert [len(v) for v in data["grad_norms"].values()] == [14, 14, 14, 14]
    assert len(res["run_ids"]) == 2
    assert data["lesion"]["resnet"][0]["block"] == "none"


def test_user_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "inspect", "features", "--budget", "huge")
    assert code == 2 and "--budget" in err and "quick" in err
    code, _, err = cli(capsys, "inspect", "residual", "--model", "mlp")
    assert code == 2 and "resnet and plainnet" in err
    code, _, err = cli(
        capsys, "inspect", "inception", "--data", "digits", "--model", "cnn", "--epochs", "1"
    )
    assert code == 2 and "no Inception blocks" in err
