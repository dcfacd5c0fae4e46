"""`trainlab study ...`: one-line errors with exit 2, and a tiny grid end to end as JSON."""

import json

import pytest

from trainlab.cli import main
from trainlab.track.store import Store

TINY = ["data.name=moons", "data.options.n=200", "model.options.width=8", "train.epochs=1"]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["--vary", "optim.nam=sgd,adam"],
            "error: --vary optim.nam='sgd': unknown field 'optim.nam'",
        ),
        (["--vary", "regularize.dropout=0,1.5"], "error: --vary regularize.dropout=1.5"),
        (["--vary", "model.options.widht=4"], "not an option of model 'mlp'; did you mean 'width'"),
        (["--vary", "optim.name=sgd", "--workers", "0"], "error: --workers 0: must be 1 or more"),
    ],
)
def test_bad_grid_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], said: str
) -> None:
    code, out, err = cli(capsys, "study", "grid", *TINY, *args)
    assert code == 2 and out == ""
    assert said in err and len(err.strip().splitlines()) == 1


def test_bad_budget_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "study", "optimizers", "--budget", "huge")
    assert code == 2 and err.strip() == "error: --budget 'huge': choose one of quick, full"


def test_grid_json_and_rerun_reuses(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["study", "grid", *TINY, "--vary", "optim.name=sgd,adam", "--seeds", "2", "--workers", "1", "--json"]  # fmt: skip
    code, out, _ = cli(capsys, *args)
    assert code == 0
    first = json.loads(out)
    assert first["kind"] == "grid" and first["counts"]["finished"] == 4
    assert Store().get_study(first["study_id"]).status == "finished"
    code, out, _ = cli(capsys, *args)
    again = json.loads(out)
    assert again["study_id"] == first["study_id"] and again["counts"]["reused"] == 4
    code, _, err = cli(capsys, *args[:-1])  # the readable view
    assert code == 0 and "Grid: test accuracy per variant" in err and "4 reused" in err


def test_record_puts_a_flight_record_in_every_run_trained_by_workers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["study", "grid", *TINY, "--vary", "optim.name=sgd,adam", "--seeds", "1"]
    code, out, err = cli(capsys, *args, "--workers", "2", "--record", "1", "--json")
    assert code == 0, err
    runs = [r for _, r in Store().study_runs(json.loads(out)["study_id"])]
    assert len(runs) == 2 and all(r.status == "finished" for r in runs)
    assert all((r.dir / "recorder.npz").is_file() for r in runs)
    code, _, err = cli(capsys, *args, "--record", "0")
    assert code == 2 and "--record 0: must be a step interval >= 1" in err
