import json
import subprocess
import sys
from pathlib import Path

import pytest

from trainlab.cli import main
from trainlab.track.store import Store


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


TINY = ["--data", "moons", "--model", "mlp", "--epochs", "2"]
RAY_GRID = ["study", "grid", "--vary", "optim.lr=0.1", "--executor", "ray", "--ray-address"]


def test_run_json_prints_one_record(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "run", *TINY, "--json", "model.options.width=16")
    assert code == 0
    rec = json.loads(out)
    assert rec["status"] == "finished" and 0 <= rec["test_acc"] <= 1
    assert {"id", "config_hash", "val_acc", "test_loss", "ece", "seconds"} <= set(rec)
    code, out, _ = cli(capsys, "runs", "show", rec["id"][:6], "--json")
    shown = json.loads(out)
    assert shown["id"] == rec["id"] and len(shown["epochs"]) == 2
    assert shown["env"]["packages"]["torch"]


def test_ls_and_compare(capsys: pytest.CaptureFixture[str]) -> None:
    ids = []
    for lr in ("0.01", "0.001"):
        _, out, _ = cli(capsys, "run", *TINY, f"optim.lr={lr}", "--json")
        ids.append(json.loads(out)["id"])
    code, out, _ = cli(capsys, "runs", "ls", "--where", "optim.lr=0.01", "--json")
    assert code == 0 and [r["id"] for r in json.loads(out)] == [ids[0]]
    code, out, _ = cli(capsys, "runs", "compare", *ids, "--json")
    assert code == 0 and json.loads(out)["differing"] == ["optim.lr"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--model", "resnt", "--data", "moons"], "model.name='resnt': unknown model"),
        (["run", "--data", "moons", "optim.lr=-0.1"], "optim.lr=-0.1"),
        (["run", "--data", "moons", "optim.lrr=0.1"], "unknown field 'optim.lrr'"),
        (["run", "--data", "npz", "data.options.path=/nonexistent/x.npz"], "/nonexistent/x.npz"),
        (["run", "--data", "digts"], "data.name='digts': unknown dataset"),
        (["runs", "show", "nope"], "run 'nope' not found"),
        (["ui", "--port", "99999"], "--port 99999: choose 0 (any free port) to 65535"),
        (
            ["study", "grid", "--vary", "optim.lr=0.1", "--devices", "cuda:7"],
            "--devices 'cuda:7': no such CUDA device here (visible: ",
        ),
        (["inspect", "recorder", "1a2b3c"], "a stored run is inspected with --run RUN_ID"),
        ([*RAY_GRID, "127.0.0.1:1"], "--ray-address '127.0.0.1:1': no Ray head answers there"),
        ([*RAY_GRID, "headnode"], "--ray-address 'headnode': give the Ray head's HOST:PORT"),
    ],
)
def test_user_errors_are_one_line_exit_2_and_store_nothing(
    capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    code, _, err = cli(capsys, *args)
    assert code == 2
    assert needle in err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert Store().list_runs() == []


def test_command_lists_give_each_command_one_unbroken_summary(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = cli(capsys, "--help")
    assert code == 0
    # gc's docstring breaks its line after "whose folder is"; the list must reflow it to the
    # panel's width, not break there (Typer's Rich mode kept the docstring's line breaks)
    assert any(
        "runs whose folder is gone; never a running run" in line for line in out.splitlines()
    )


def test_malformed_yaml_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    code, _, err = cli(capsys, "run", str(bad))
    assert code == 2 and "not valid YAML" in err and err.count("\n") == 1


def test_python_dash_m_works(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "trainlab", "run", "--model", "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: model.name='nope'")
    listing = subprocess.run(
        [sys.executable, "-m", "trainlab", "models"], capture_output=True, text=True
    )
    assert listing.returncode == 0 and "resnet" in listing.stdout


def test_killed_run_is_found_interrupted_and_resumes(tmp_path: Path) -> None:
    """SIGKILL a `trainlab run` mid-training: the next open marks it interrupted; a rerun resumes."""
    import os
    import signal
    import time

    store = tmp_path / "killed"
    args = [
        sys.executable,
        "-m",
        "trainlab",
        "run",
        "--data",
        "moons",
        "--model",
        "mlp",
        "--epochs",
        "400",
        "train.checkpoint=every_epoch",
        "data.options.n=4000",
        "--store",
        str(store),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        runs = Store(store).list_runs() if (store / "trainlab.db").exists() else []
        if runs and len(Store(store).epochs(runs[0].id)) >= 2:
            break
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (run,) = Store(store).list_runs()
    assert run.status == "interrupted"
    done = len(Store(store).epochs(run.id))
    assert done >= 2
    proc = subprocess.run([*args, "--json"], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    resumed = json.loads(proc.stdout)
    assert resumed["id"] == run.id and resumed["status"] == "finished"
    assert resumed["epochs"] == 400
