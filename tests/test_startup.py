"""Start-up: the CLI's listing commands and --help never import torch or scikit-learn."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainlab.data.catalog import CATALOG as DATA_CATALOG
from trainlab.data.registry import _DATASETS, _register_all
from trainlab.models.catalog import CATALOG as MODEL_CATALOG
from trainlab.models.registry import registered_models

SRC = str(Path(__file__).resolve().parents[1] / "src")
PROBE = """
import sys
from trainlab.cli import main
code = main(sys.argv[1:])
heavy = [m for m in ("torch", "sklearn", "matplotlib", "optuna") if m in sys.modules]
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
sys.exit(code)
"""


def _probe(*argv: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC, "TRAINLAB_STORE": str(tmp / "store")}
    return subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=env, timeout=120
    )


def test_importing_the_cli_does_not_import_torch() -> None:
    heavy = ("torch", "sklearn", "scipy", "matplotlib", "optuna")  # scipy alone costs 0.5 s
    code = f"import trainlab.cli, sys; print([m for m in {heavy!r} if m in sys.modules])"
    env = {**os.environ, "PYTHONPATH": SRC}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize("argv", [("--help",), ("models",), ("datasets",), ("runs", "ls")])
def test_listing_commands_stay_light_and_print_tsv_when_piped(
    tmp_path: Path, argv: tuple[str, ...]
) -> None:
    done = _probe(*argv, tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "HEAVY=\n" in done.stderr or done.stderr.rstrip().endswith("HEAVY=")
    if argv == ("models",):
        lines = done.stdout.splitlines()
        assert lines[0] == "name\ttakes\toptions\tdescription"
        assert "transformer\ttokens\tdim, depth, heads, mlp_ratio, pool\t" in done.stdout
        assert "…" not in done.stdout
    if argv == ("datasets",):
        assert (
            "csv\tvector\tpath=None, target=target, test_fraction=0.2, standardize=True"
            in done.stdout
        )
    if argv == ("runs", "ls"):
        assert done.stdout.splitlines()[0].split("\t")[:3] == ["id", "name", "status"]


def test_static_model_catalog_matches_the_registered_builders() -> None:
    assert sorted(MODEL_CATALOG, key=lambda m: m.name) == registered_models()


def test_static_dataset_catalog_matches_the_registered_loaders() -> None:
    _register_all()
    assert {d.name: d for d in DATA_CATALOG} == {n: info for n, (info, _) in _DATASETS.items()}
