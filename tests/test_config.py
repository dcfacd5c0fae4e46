from pathlib import Path

import pytest

from trainlab.config import RunConfig, get_dotted, load_config, parse_overrides
from trainlab.errors import ConfigError


def test_hash_ignores_name_and_key_order(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text("name: one\noptim: {name: sgd, lr: 0.1}\nseed: 3\n")
    b.write_text("seed: 3\noptim: {lr: 0.1, name: sgd}\nname: two\n")
    assert load_config(a).hash() == load_config(b).hash()
    assert load_config(a).hash() != load_config(a, ["seed=4"]).hash()


def test_overrides_are_parsed_as_yaml_values() -> None:
    cfg = load_config(
        None,
        [
            "optim.lr=0.01",
            "model.options.width=64",
            "optim.nesterov=true",
            "optim.name=sgd",
            "optim.momentum=0.9",
            "regularize.grad_clip=null",
        ],
    )
    assert cfg.optim.lr == 0.01 and cfg.model.options == {"width": 64} and cfg.optim.nesterov
    assert get_dotted(cfg, "model.options.width") == 64
    assert get_dotted(cfg, "nope.field") is None


def test_canonical_json_is_sorted_and_excludes_name() -> None:
    js = RunConfig(name="x").canonical_json()
    assert '"name":"x"' not in js and js.index('"data"') < js.index('"model"')


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["optim.lr=-1"], "optim.lr=-1"),
        (["optim.lrr=0.1"], "unknown field 'optim.lrr'; allowed here: name, lr"),
        (["optim.name=adamx"], "optim.name='adamx': must be one of 'sgd', 'adam'"),
        (["train.epochs=abc"], "train.epochs='abc'"),
        (["schedule.name=step", "schedule.options.gama=0.5"], "schedule.options.gama"),
        (["optim.nesterov=true"], "optim.nesterov=True needs optim.name='sgd'"),
        (["train.device=gpu"], "train.device='gpu': value error, must be one of cpu"),
        (["lr"], "override 'lr' must look like field=value"),
    ],
)
def test_bad_values_name_the_field(overrides: list[str], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, overrides)
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_malformed_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: {lr: 0.1\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(listy)


def test_parse_overrides_keeps_strings() -> None:
    assert parse_overrides(["data.name=digits", "x.y=1e-3"]) == {"data.name": "digits", "x.y": 1e-3}


def test_example_configs_validate() -> None:
    for path in sorted(Path(__file__).parents[1].joinpath("configs").glob("*.yaml")):
        if "space" in path.stem:
            continue
        load_config(path)
