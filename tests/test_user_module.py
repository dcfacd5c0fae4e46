"""`trainlab.run(cfg, model=...)` with the user's class, factory or instance: the seed governs init."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import trainlab
from trainlab.config import load_config
from trainlab.errors import ConfigError
from trainlab.inspect.target import from_run
from trainlab.models.user import reinitialise
from trainlab.track.store import Store


class Net(nn.Module):
    def __init__(self, num_classes: int, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(input_shape[0], 16), nn.ReLU())
        self.head = nn.Linear(16, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class Scaled(nn.Module):  # a parameter with no reset_parameters()
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.scale = nn.Parameter(torch.ones(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * self.scale


CFG = ["data.name=moons", "data.options.n=200", "train.epochs=2"]


def test_a_class_with_one_seed_gives_identical_metrics_twice() -> None:
    cfg = load_config(None, CFG)
    a, b = trainlab.run(cfg, model=Net), trainlab.run(cfg, model=Net)
    assert a.summary["test_loss"] == b.summary["test_loss"]
    assert a.summary["val_acc"] == b.summary["val_acc"]
    c = trainlab.run(cfg.with_overrides(["seed=1"]), model=Net)
    assert c.summary["test_loss"] != a.summary["test_loss"]


def test_an_instance_is_reinitialised_under_the_seed() -> None:
    cfg = load_config(None, CFG)
    torch.manual_seed(1)
    first = trainlab.run(cfg, model=Net(2, (2,)))
    torch.manual_seed(2)  # a different init before trainlab sees it
    second = trainlab.run(cfg, model=Net(2, (2,)))
    assert first.summary["test_loss"] == second.summary["test_loss"]
    assert first.model.__class__ is Net


def test_a_factory_is_built_after_seeding_and_named_in_the_config() -> None:
    cfg = load_config(None, CFG)

    def factory(num_classes: int) -> nn.Module:
        return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, num_classes))

    a, b = trainlab.run(cfg, model=factory), trainlab.run(cfg, model=factory)
    assert a.summary["test_loss"] == b.summary["test_loss"]
    assert a.model[0].weight.tolist() == b.model[0].weight.tolist()


def test_modules_without_reset_parameters_are_named_in_a_warning() -> None:
    with pytest.warns(UserWarning, match="seed does not govern them: Scaled"):
        reinitialise(Scaled())


def test_a_class_where_an_instance_is_needed_is_a_clear_error(tmp_path: str) -> None:
    store = Store(tmp_path)
    rec = trainlab.run(load_config(None, CFG), store, model=Net).record
    assert rec is not None
    with pytest.raises(ConfigError, match=r"needs an instance of your module \(e.g. Net\(...\)\)"):
        from_run(store, rec.id, model=Net)  # type: ignore[arg-type]
    loaded = from_run(store, rec.id, model=Net(2, (2,)))
    assert loaded.model.head.out_features == 2
