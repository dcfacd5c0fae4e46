"""`trainlab study ...`: one-line errors with exit 2, and a tiny grid end to end as JSON."""

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainlab.cli import main
from trainlab.track.store import Store

from conftest import sigint_as_at_a_terminal

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
    assert first["kind"] == "grid" and first["counts"]["finished"] == 6  # 4 final, 2 selection
    assert Store().get_study(first["study_id"]).status == "finished"
    code, out, _ = cli(capsys, *args)
    again = json.loads(out)
    assert again["study_id"] == first["study_id"] and again["counts"]["reused"] == 6
    assert again["look"] == first["look"] == 1  # the same runs again: the same look
    for key in ("selection_metric", "reference", "correction", "variants", "comparisons"):
        assert first[key] == first["data"]["comparison"][key]
    assert first["correction"] == "holm" and first["reference"] == "optim.name=sgd"
    c = first["comparisons"][0]
    assert {"diff", "diff_ci", "p", "p_adj", "test", "verdict"} <= set(c)
    assert {(v["n"], v["n_finished"]) for v in first["variants"]} == {(2, 2)}
    code, out, err = cli(capsys, *args[:-1])  # the readable view: results on stdout
    assert code == 0 and "Grid: test accuracy per variant" in out and "6 reused" in out
    assert "Answers (corrected):" in out and "Grid: test accuracy" not in err
    # each variant's seeds compared after the study, in --json and in the stored summary
    seeds = first["data"]["across_seeds"]
    assert [v["variant"] for v in seeds["variants"]] == ["optim.name=sgd", "optim.name=adam"]
    assert Store().get_study(first["study_id"]).summary["data"]["across_seeds"] == seeds
    assert "across seeds: 2 variant(s) compared, 0 not" in err


FAILS_IN_TRAINING = """
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes, input_shape, width=8):
        super().__init__()
        self.fc = nn.Linear(input_shape[0], num_classes)

    def forward(self, x):
        if self.training:
            raise RuntimeError("fails only in training")
        return self.fc(x)
"""


def test_a_study_where_no_run_finished_exits_3_with_the_first_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "net.py").write_text(FAILS_IN_TRAINING)
    args = ["study", "grid", *TINY, f"model.name={tmp_path / 'net.py'}:Net",
            "--vary", "optim.lr=0.1,0.01", "--seeds", "1", "--selection-seeds", "0", "--workers", "1"]  # fmt: skip
    code, out, err = cli(capsys, *args, "--json")
    assert code == 3 and json.loads(out)["counts"]["failed"] == 2  # the record is still printed
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith(
            "finished (2 runs: 2 failed); the first error: RuntimeError: fails only in training"
        )
    )
    code, _, err = cli(capsys, "study", "grid", *TINY, "--vary", "optim.lr=0.1", "--seeds", "1")
    assert code == 0 and "no run of study" not in err  # one finished run is a result


def test_a_reused_name_with_a_new_plan_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["study", "grid", *TINY, "--seeds", "1", "--workers", "1", "--name", "mine", "--json"]
    code, _, _ = cli(capsys, *args, "--vary", "optim.name=sgd,adam")
    assert code == 0
    code, out, err = cli(capsys, *args, "--vary", "optim.name=sgd,rmsprop")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith(
        "error: --name 'mine': a grid study of that name exists with a different plan"
    )


def test_regularization_takes_a_base_config_and_overrides(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["study", "regularization", *TINY[:3], "train.epochs=1", "--methods", "dropout 0.5",
            "--seeds", "2", "--workers", "1", "--json"]  # fmt: skip
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    result = json.loads(out)
    links = Store().study_links(result["study_id"], role="final")
    assert len(links) == 4 and {link.run.config.data.name for link in links} == {"moons"}
    assert {link.run.config.model.options["width"] for link in links} == {8}
    assert result["reference"] == "none" and result["selection_metric"] == "val_acc"


def test_record_puts_a_flight_record_in_every_run_trained_by_workers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["study", "grid", *TINY, "--vary", "optim.name=sgd,adam", "--seeds", "1", "--selection-seeds", "0"]  # fmt: skip
    code, out, err = cli(capsys, *args, "--workers", "2", "--record", "1", "--json")
    assert code == 0, err
    runs = [r for _, r in Store().study_runs(json.loads(out)["study_id"])]
    assert len(runs) == 2 and all(r.status == "finished" for r in runs)
    assert all((r.dir / "recorder.npz").is_file() for r in runs)
    code, _, err = cli(capsys, *args, "--record", "0")
    assert code == 2 and "--record 0: must be a step interval >= 1" in err


def test_ctrl_c_prints_one_resume_line_and_exits_130(tmp_path: Path) -> None:
    root = tmp_path / "store"
    args = [sys.executable, "-m", "trainlab", "study", "grid", *TINY[:3], "train.epochs=100000",
            "--vary", "optim.name=sgd,adam", "--seeds", "1", "--selection-seeds", "0", "--workers", "1",
            "--store", str(root)]  # fmt: skip
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_as_at_a_terminal,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not _a_run_is_training(root):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and out == ""
    lines = [line for line in err.strip().splitlines() if not line.startswith("trainlab: ")]
    *counts, last = lines  # stderr is no terminal: run counts come first (after the notes)
    assert all(re.fullmatch(r"grid grid-\S+: \d+/2 runs", line) for line in counts), counts
    assert "Traceback" not in err
    assert (
        last.startswith("interrupted: study grid-")
        and "0 runs done, the runs in progress were stopped" in last
    )
    assert last.endswith(f"--store {root}") and "resume with: trainlab study grid" in last


def _a_run_is_training(root: Path) -> bool:
    db = root / "trainlab.db"
    if not db.exists():
        return False
    try:
        with sqlite3.connect(db, timeout=1) as c:
            return bool(c.execute("SELECT count(*) FROM epochs").fetchone()[0])
    except sqlite3.Error:
        return False


def test_regularization_help_lists_every_method_name(capsys: pytest.CaptureFixture[str]) -> None:
    from trainlab.cli.study import METHODS
    from trainlab.studies.regularization import METHODS as QUICK
    from trainlab.studies.regularization import MORE

    assert sorted(METHODS) == sorted({**QUICK, **MORE})
    code, out, _ = cli(capsys, "study", "regularization", "--help")
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", out).split())  # rich's box, then one line
    assert code == 0 and "e.g. 'dropout 0.5,l2 1e-3'" in text
    listed = text.split("of: ", 1)[1].split(" (default: the budget's)")[0].split(" | ")
    assert listed == list(METHODS)


@pytest.mark.parametrize("bad", ["adamw+cosin", "adamx+cosine", "adamw+"])
def test_a_bad_optimizer_schedule_pair_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    code, out, err = cli(capsys, "study", "optimizers", "--optimizers", f"momentum,{bad}")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.strip().startswith(f"error: --optimizers {bad!r}: choose from sgd, momentum")
    assert "+schedule, one of constant, step, cosine, onecycle, warmup_cosine" in err
