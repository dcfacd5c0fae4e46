"""Every script in experiments/ runs its `main(argv)` at a tiny budget and stores what it says it
stored: each study named in its `trainlab report ...` line is finished, has runs linked and its
figures on disk. A broken script fails here, not in a user's hands."""

from __future__ import annotations

import ast
import importlib.util
import re
import shlex
from pathlib import Path
from types import ModuleType

import pytest

from trainlab import Store

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
# The smallest budget each script takes (one seed, one epoch, few variants), in-process workers.
TINY: dict[str, str] = {
    "run_baseline_models": "--seeds 1 --epochs 1 --datasets digits --workers 1",
    "optimizer_comparison": "--optimizers sgd,adam --schedules '' --seeds 1 --epochs 1 --workers 1",
    "regularization_experiments": "--methods 'dropout 0.5' --seeds 1 --epochs 1 --workers 1",
    "hyperparam_experiments": "--epochs 1 --trials 2 --repeats 1 --workers 1",
    "feature_visualizations": "--epochs 1",
    "attention_visuals": "--epochs 1",
    "inception_visuals": "--epochs 1",
    "residual_flow_visuals": "--epochs 1 --depth 8",
}
# How many studies each script's report line names.
STUDIES = {"feature_visualizations": 6, "attention_visuals": 3, "hyperparam_experiments": 2,
           "residual_flow_visuals": 2}  # fmt: skip


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"experiments_{name}", EXPERIMENTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_script_is_tested() -> None:
    assert sorted(p.stem for p in EXPERIMENTS.glob("*.py")) == sorted(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_script_uses_only_the_public_api(name: str) -> None:
    tree = ast.parse((EXPERIMENTS / f"{name}.py").read_text())
    private = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("trainlab")
        for alias in node.names
        if alias.name.startswith("_") or any(p.startswith("_") for p in node.module.split("."))
    ]
    assert private == []


@pytest.mark.parametrize("name", sorted(TINY))
def test_script_stores_what_it_prints(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "runs"
    load(name).main([*shlex.split(TINY[name]), "--store", str(root)])
    out = capsys.readouterr().out
    shown = re.search(r"trainlab report (.+) --store (\S+)", out)
    assert shown is not None, out
    assert Path(shown.group(2)) == root.resolve()
    assert f"trainlab ui --store {root.resolve()}" in out
    ids = shown.group(1).split()
    assert len(ids) == STUDIES.get(name, 1)
    store = Store(root)
    for ref in ids:
        study = store.get_study(ref)
        assert study.status == "finished"
        assert store.study_links(study.id), f"{study.name}: no runs linked"
        assert all(link.run.status == "finished" for link in store.study_links(study.id))
        figures = study.summary["figures"]
        assert figures, f"{study.name}: no figures"
        for fig in figures:
            assert (study.dir / fig["file"]).is_file(), fig["file"]
        assert str(study.dir) in out  # the script says where its figures are
