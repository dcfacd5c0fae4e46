import json
from pathlib import Path
from typing import Any

import pytest

import trainlab
from trainlab.cli import main
from trainlab.config import RunConfig, load_config
from trainlab.errors import ConfigError
from trainlab.search import SearchSettings, load_trials, parse_space, run_search
from trainlab.search import objective as objective_module
from trainlab.track.store import Store

BASE = {
    "name": "tiny",
    "data": {"name": "moons"},
    "model": {"name": "mlp", "options": {"width": 8}},
    "train": {"epochs": 2, "batch_size": 64, "checkpoint": "none"},
}
LR = {"optim.lr": {"log_uniform": [1e-3, 1e-1], "points": 3}}
MIXED = {**LR, "model.options.width": {"choice": [4, 8]}}


def base(**over: Any) -> RunConfig:
    return RunConfig.model_validate(BASE).with_overrides(over)


@pytest.mark.parametrize("method", ["grid", "random", "tpe", "gp", "cmaes"])
def test_each_method_runs_a_tiny_search_of_linked_runs(method: str) -> None:
    store = Store()
    space = parse_space(LR if method in ("grid", "cmaes") else MIXED)
    result = run_search(base(), space, SearchSettings(method=method, trials=4), store)
    expected = 3 if method == "grid" else 4  # the grid has 3 points
    assert [t.number for t in result.trials] == list(range(expected))
    assert all(t.state == "COMPLETE" and t.epochs == 2 for t in result.trials)
    links = dict(store.study_runs(result.study_id))
    for t in result.trials:
        run = links[f"trial-{t.number}"]
        assert run.id == t.run_id and run.status == "finished"
        assert run.summary["val_acc"] == t.value  # the objective: the final epoch's val_acc
        assert run.config.optim.lr == pytest.approx(t.params["optim.lr"])
    assert result.best_value == max(t.value or 0 for t in result.trials)
    if method == "grid":
        assert sorted(t.params["optim.lr"] for t in result.trials) == pytest.approx(
            [1e-3, 1e-2, 1e-1]
        )


def test_pruning_prunes_on_the_per_epoch_metric() -> None:
    space = parse_space({"optim.lr": {"log_uniform": [1e-4, 1.0]}})
    # val_loss: continuous, so no ties with the median (the pruner prunes strictly worse trials)
    settings = SearchSettings("random", trials=12, prune="median", seed=1, metric="val_loss")
    store = Store()
    result = run_search(base(**{"train.epochs": 4}), space, settings, store)
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert pruned, "no trial was pruned"
    for t in pruned:
        assert t.pruned_epoch is not None and 2 <= t.pruned_epoch < 4 and t.epochs == t.pruned_epoch
        assert t.value is None and t.last_value is not None
        record = store.get_run(t.run_id or "")
        assert record.status == "pruned" and len(store.epochs(record.id)) == t.pruned_epoch
    complete = [t for t in result.trials if t.state == "COMPLETE"]
    assert len(complete) >= 5 and all(t.epochs == 4 for t in complete)


def test_best_config_yaml_reproduces_its_trial_metric() -> None:
    store = Store()
    result = run_search(base(), parse_space(MIXED), SearchSettings("random", trials=3), store)
    assert result.best is not None and result.best_config_path is not None
    cfg = load_config(result.best_config_path)
    assert cfg.hash() == store.get_run(result.best.run_id or "").config_hash
    again = trainlab.run(cfg, store)
    assert again.summary["val_acc"] == result.best.value


def test_rerun_with_the_same_name_resumes_up_to_the_total_budget() -> None:
    store, space = Store(), parse_space(MIXED)
    first = run_search(base(), space, SearchSettings("tpe", trials=2), store)
    second = run_search(base(), space, SearchSettings("tpe", trials=4), store)
    third = run_search(base(), space, SearchSettings("tpe", trials=4), store)
    assert second.name == first.name == third.name and second.study_id == first.study_id
    assert [t.number for t in second.trials] == [0, 1, 2, 3]
    assert [t.run_id for t in second.trials[:2]] == [t.run_id for t in first.trials]
    assert [t.run_id for t in third.trials] == [t.run_id for t in second.trials]
    assert len(store.list_runs()) == 4


def test_a_failing_trial_is_recorded_and_the_search_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = objective_module.run

    def flaky(cfg: RunConfig, *args: Any, **kwargs: Any) -> Any:
        if cfg.model.options["width"] == 4:
            raise RuntimeError("width 4 is broken\nsecond line")
        return real(cfg, *args, **kwargs)

    monkeypatch.setattr(objective_module, "run", flaky)
    space = parse_space({"model.options.width": {"choice": [4, 8]}})
    result = run_search(base(), space, SearchSettings("grid"), Store())
    states = {t.params["model.options.width"]: t for t in result.trials}
    assert states[4].state == "FAIL" and states[4].error == "width 4 is broken"
    assert states[8].state == "COMPLETE" and result.best is states[8]


def test_minimising_a_loss_and_refusing_test_metrics() -> None:
    settings = SearchSettings("random", trials=2, metric="val_loss")
    result = run_search(base(), parse_space(MIXED), settings, Store())
    assert settings.resolved_direction() == "minimize" and not result.maximize
    for t in result.trials:
        epochs = Store().epochs(t.run_id or "")
        assert t.value == epochs[-1]["val_loss"]
    with pytest.raises(ConfigError, match="test metrics are never used to choose"):
        run_search(base(), parse_space(MIXED), SearchSettings("random", 2, metric="test_acc"))


def test_a_name_cannot_be_reused_for_another_space() -> None:
    store = Store()
    run_search(base(), parse_space(LR), SearchSettings("random", 1, name="mine"), store)
    with pytest.raises(ConfigError, match="exists with a different base config, space"):
        run_search(base(), parse_space(MIXED), SearchSettings("random", 1, name="mine"), store)


def write_inputs(tmp_path: Path, space: dict[str, Any]) -> tuple[str, str]:
    (tmp_path / "base.yaml").write_text(json.dumps(BASE))
    (tmp_path / "space.yaml").write_text(json.dumps(space))
    return str(tmp_path / "base.yaml"), str(tmp_path / "space.yaml")


def test_cli_run_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b, s = write_inputs(tmp_path, MIXED)
    args = ["search", "run", b, s, "train.epochs=1", "--method", "random", "--trials", "2"]
    assert main([*args, "--name", "cli", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["name"] == "cli" and len(got["trials"]) == 2
    assert load_config(got["best_config"]).train.epochs == 1
    assert main(["search", "show", "cli", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [t["run_id"] for t in shown["trials"]] == [t["run_id"] for t in got["trials"]]
    _, trials = load_trials(Store(), "cli")
    assert [t.number for t in trials] == [0, 1]


@pytest.mark.parametrize(
    ("space", "extra", "needle"),
    [
        ({"optim.lrr": {"uniform": [0.1, 1]}}, [], "unknown field 'optim.lrr'"),
        (LR, ["--method", "bayes"], "--method 'bayes'"),
        (LR, ["--prune", "always"], "--prune 'always'"),
        ({"model.options.widht": {"choice": [4]}}, [], "model.options.widht"),
        (LR, ["--method", "tpe", "--trials", "0"], "--trials 0"),
        (LR, ["--heartbeat", "0"], "--heartbeat 0"),
        (
            LR,
            ["--storage", "postgresql+pg8000://u:pw@db/x"],
            "u:***@db/x: its database driver (pg8000)",
        ),
    ],
)
def test_cli_user_errors_are_one_line_and_store_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], space: Any, extra: list[str], needle: str
) -> None:
    b, s = write_inputs(tmp_path, space)
    code = main(["search", "run", b, s, "--method", "random", "--trials", "2", *extra])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    store = Store()
    assert store.list_studies() == [] and store.list_runs() == []
