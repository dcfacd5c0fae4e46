"""Issue 10's done-when: a fresh folder with only `mynet.py` and a YAML naming `mynet.py:TinyTx`;
run, a 2-worker grid study, a 2-worker search and the attention inspection all finish, every stored
run records the source digest, and editing mynet.py makes the next run a new config."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from trainlab.cli import main
from trainlab.track.store import Store

MYNET = """
import torch
from torch import nn


class TinyTx(nn.Module):
    def __init__(self, num_classes, input_shape, vocab=16, dim=8):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(0.02 * torch.randn(input_shape[0], dim))
        self.encoder = nn.TransformerEncoderLayer(dim, 2, 16, dropout=0.0, batch_first=True)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x) + self.pos).mean(1))
"""
YAML = """
data: {name: seq_pair, options: {n: 200}}
model: {name: mynet.py:TinyTx}
train: {epochs: 1, batch_size: 50}
"""


def _fresh_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "fresh"
    work.mkdir()
    (work / "mynet.py").write_text(MYNET)
    (work / "exp.yaml").write_text(YAML)
    (work / "space.yaml").write_text("optim.lr: {log_uniform: [1.0e-3, 1.0e-2], points: 2}\n")
    # Workers are fresh interpreters started in `work`: a relative PYTHONPATH must stay valid there.
    paths = [
        str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p
    ]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    monkeypatch.chdir(work)
    return work


def _check_runs(store: Path, work: Path, at_least: int) -> None:
    digest = hashlib.sha256((work / "mynet.py").read_bytes()).hexdigest()
    runs = Store(store).list_runs()
    assert len(runs) >= at_least
    assert all(r.status == "finished" for r in runs)
    assert {r.env["model_sha256"] for r in runs} == {digest}
    assert {r.env["model_class"] for r in runs} == {"TinyTx"}
    assert {r.config.model.name for r in runs} == {f"{work / 'mynet.py'}:TinyTx"}


def test_own_transformer_by_path_in_run_and_inspect_and_edit_makes_a_new_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work = _fresh_folder(tmp_path, monkeypatch)
    store = ["--store", str(tmp_path / "store")]
    assert main(["run", "exp.yaml", "--json", *store]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["inspect", "attention", "exp.yaml", *store]) == 0
    capsys.readouterr()
    _check_runs(tmp_path / "store", work, 1)  # the inspection reuses the run

    (work / "mynet.py").write_text(MYNET.replace("dim=8", "dim=12"))
    assert main(["run", "exp.yaml", "--json", *store]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["config_hash"] != first["config_hash"] and second["id"] != first["id"]
    assert second["params"] > first["params"]


@pytest.mark.slow  # four worker processes start torch: ~60 s on a loaded 2-core machine
def test_own_transformer_by_path_in_two_worker_grid_study_and_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work = _fresh_folder(tmp_path, monkeypatch)
    store = ["--store", str(tmp_path / "store")]
    grid = ["study", "grid", "exp.yaml", "--vary", "optim.lr=0.02,0.005", "--seeds", "1"]
    assert main([*grid, "--workers", "2", *store]) == 0
    search = ["search", "run", "exp.yaml", "space.yaml", "--trials", "2", "--workers", "2"]
    assert main([*search, *store]) == 0
    capsys.readouterr()
    _check_runs(tmp_path / "store", work, 4)  # 2 grid variants + 2 trials
