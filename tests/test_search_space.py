from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.search import load_space, parse_space
from trainlab.search.samplers import check_method

SPACE = """
optim.lr: {log_uniform: [1e-4, 1e-1], points: 4}
model.options.width: {choice: [64, 128, 256]}
regularize.dropout: {uniform: [0, 0.5], step: 0.25}
train.batch_size: {int: [32, 256], log: true, grid: [32, 128]}
optim.name: [adam, sgd]
optim.momentum: {uniform: [0.0, 0.9], step: 0.45, when: {optim.name: sgd}}
"""


def base() -> RunConfig:
    return RunConfig.model_validate({"model": {"name": "mlp"}, "data": {"name": "moons"}})


def test_space_file_parses_to_optuna_distributions(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(SPACE)
    space = load_space(path)
    params = {p.field: p for p in space.params}
    assert space.names[-1] == "optim.momentum"  # a conditional field comes after its condition
    assert params["optim.lr"].distribution() == FloatDistribution(1e-4, 1e-1, log=True)
    assert params["train.batch_size"].distribution() == IntDistribution(32, 256, log=True)
    assert params["regularize.dropout"].distribution() == FloatDistribution(0, 0.5, step=0.25)
    assert params["optim.name"].distribution() == CategoricalDistribution(("adam", "sgd"))
    assert params["optim.lr"].grid_values() == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])
    assert params["regularize.dropout"].grid_values() == [0.0, 0.25, 0.5]
    space.check(base())


def test_grid_leaves_inactive_fields_out_so_no_point_repeats() -> None:
    space = parse_space(
        {
            "optim.name": {"choice": ["adam", "sgd"]},
            "optim.momentum": {"uniform": [0.0, 0.9], "step": 0.45, "when": {"optim.name": "sgd"}},
            "optim.lr": {"choice": [0.1, 0.01]},
        }
    )
    points = space.grid_points(base())
    assert len(points) == 2 * 1 + 2 * 3  # adam x 2 lr, sgd x 3 momentum x 2 lr
    assert all(("optim.momentum" in p) == (p["optim.name"] == "sgd") for p in points)
    assert len({tuple(sorted(p.items())) for p in points}) == len(points)
    shuffled = space.grid_points(base(), seed=3)
    assert shuffled == space.grid_points(base(), seed=3) != points
    assert sorted(map(str, shuffled)) == sorted(map(str, points))


def test_condition_on_a_fixed_config_field() -> None:
    space = parse_space({"optim.momentum": {"uniform": [0, 0.9], "when": {"optim.name": "sgd"}}})
    study = optuna.create_study()
    assert space.suggest(study.ask(), base()) == {}
    sgd = base().with_overrides({"optim.name": "sgd"})
    assert list(space.suggest(study.ask(), sgd)) == ["optim.momentum"]


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({}, "must map dotted config fields"),
        ({"optim.lr": 0.1}, "space field 'optim.lr': expected a mapping"),
        ({"optim.lr": {"loguniform": [1e-4, 1]}}, "unknown key 'loguniform'"),
        ({"optim.lr": {"uniform": [0.1, 0.01]}}, "low must be below high"),
        ({"optim.lr": {"log_uniform": [0, 0.1]}}, "positive lower bound"),
        ({"optim.lr": {"uniform": [0.1]}}, "needs [low, high] numbers"),
        ({"train.epochs": {"int": [1.5, 4]}}, "int needs integer bounds"),
        ({"model.options.width": {"choice": []}}, "non-empty list"),
        ({"model.options.width": {"choice": [[1, 2]]}}, "choice values must be"),
        ({"optim.lr": {"uniform": [0, 1], "choice": [1]}}, "exactly one of"),
        ({"optim.lr": {"uniform": [0.1, 1], "points": 1}}, "points=1"),
        ({"optim.lr": {"uniform": [0.1, 1], "step": -1}}, "step=-1"),
        ({"optim.lr": {"uniform": [0.1, 1], "when": "sgd"}}, "when must map fields"),
        ({"optim.lr": {"uniform": [0.1, 1], "log": "yes"}}, "log='yes' must be true or false"),
        ({"model.options.width": {"choice": [4, 8], "points": 3}}, "`points` does not apply"),
        ({"model.options.width": {"choice": [4, 8], "grid": [16]}}, "grid value 16 is not one"),
        ({"train.batch_size": {"int": [32, 256], "grid": [512]}}, "grid value 512 must be"),
        ({"train.batch_size": {"int": [32, 256], "grid": [64.5]}}, "must be an integer"),
        (
            {
                "optim.name": ["adam", "sgd"],
                "optim.momentum": {"uniform": [0, 0.9], "when": {"optim.name": "rmsprop"}},
            },
            "`when: optim.name: 'rmsprop'` is not one of optim.name's choices",
        ),
    ],
)
def test_bad_spaces_give_one_line_naming_the_field(raw: object, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_space(raw)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (
            {"optim.lrr": {"uniform": [0.1, 1]}},
            "space field 'optim.lrr': unknown field 'optim.lrr'",
        ),
        ({"regularize.dropout": {"uniform": [0, 1]}}, "space field 'regularize.dropout'"),
        ({"optim.name": {"choice": ["adam", "sgdd"]}}, "optim.name='sgdd'"),
        (
            {"optim.momentum": {"uniform": [0, 0.9], "when": {"optim.nam": "sgd"}}},
            "unknown field 'optim.nam'",
        ),
    ],
)
def test_spaces_are_checked_against_the_config_schema(raw: object, needle: str) -> None:
    with pytest.raises(ConfigError, match="space field") as err:
        parse_space(raw).check(base())
    assert needle in str(err.value)


def test_grid_needs_steps_for_continuous_fields() -> None:
    space = parse_space({"optim.lr": {"log_uniform": [1e-4, 1e-1]}})
    with pytest.raises(ConfigError, match="grid search needs `step`, `points` or `grid`"):
        space.grid_points(base())


def test_cmaes_only_where_the_space_allows() -> None:
    check_method("cmaes", parse_space({"optim.lr": {"log_uniform": [1e-4, 1e-1]}}))
    with pytest.raises(ConfigError, match=r"'optim\.name' is a choice"):
        check_method("cmaes", parse_space({"optim.name": ["adam", "sgd"]}))
    with pytest.raises(ConfigError, match="--method 'bayes'"):
        check_method("bayes", parse_space({"optim.name": ["adam", "sgd"]}))


def test_missing_or_broken_space_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_space(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("optim.lr: {uniform: [0, 1]\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_space(tmp_path / "bad.yaml")
