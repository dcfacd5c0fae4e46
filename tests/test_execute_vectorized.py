"""Seeds trained as one vectorized model equal the same seeds trained one by one, epoch by epoch
(to 1e-5 on losses, 1e-6 on accuracies: batched matmul kernels sum in another order, so bits
may differ); a diverged member is masked out while the others go on; a fallback says why."""

from __future__ import annotations

import math
import re

import pytest
import torch

from trainlab.config import RunConfig
from trainlab.execute import ExecSettings, Job, execute
from trainlab.track.store import Store
from trainlab.train.experiment import prepare
from trainlab.train.stacked import Stack
from trainlab.train.stacking import Unsupported, stack_modules

BASE = {
    "data": {"name": "digits"},
    "model": {"name": "mlp", "options": {"width": 16}},
    "train": {"epochs": 3, "batch_size": 64, "checkpoint": "none"},
}
KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "step")
SUMMARY = ("test_loss", "test_acc", "ece", "train_eval_loss", "gen_gap", "weight_norm")
AUTO, OFF = ExecSettings(vectorize="auto"), ExecSettings(vectorize="off")


def close(a: float, b: float, key: str) -> bool:
    return abs(a - b) <= (1e-6 if "acc" in key or key in ("lr", "step") else 1e-5)


def seeds(cfg: RunConfig, n: int = 4) -> list[Job]:
    return [Job("v", cfg.with_overrides({"seed": s})) for s in range(n)]


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # adam, cosine schedule
        {"optim.name": "sgd", "optim.momentum": 0.9, "optim.lr": 0.05,
         "regularize.grad_clip": 0.5, "regularize.l2": 1e-3, "schedule.name": "onecycle"},
        {"model.name": "cnn", "model.options": {"width": 8}},  # batch norm: stacked running stats
    ],
    ids=["mlp-adam", "mlp-sgd-clip-l2", "cnn-batchnorm"],
)  # fmt: skip
def test_vectorized_seeds_equal_lone_runs_per_epoch(overrides: dict[str, object]) -> None:
    cfg = RunConfig.model_validate(BASE).with_overrides(overrides)
    jobs = seeds(cfg)
    vs, ls = Store(), Store()
    vec = execute(vs, vs.open_study("v", "grid", {}).id, jobs, workers=1, settings=AUTO)
    lone = execute(ls, ls.open_study("l", "grid", {}).id, jobs, workers=1, settings=OFF)
    assert {o.note for o in vec} == {"vectorized: 4 seeds as one model"}
    for v, one in zip(vec, lone, strict=True):
        assert v.run is not None and one.run is not None
        assert v.run.config_hash == one.run.config_hash  # resume by hash sees the same run
        ev, el = vs.epochs(v.run.id), ls.epochs(one.run.id)
        assert len(ev) == len(el) == 3 and set(ev[0]) == set(el[0])
        for a, b in zip(ev, el, strict=True):
            assert all(close(a[k], b[k], k) for k in KEYS), (a, b)
        assert set(v.run.summary) == set(one.run.summary)
        assert all(close(v.run.summary[k], one.run.summary[k], k) for k in SUMMARY)
    assert len({v.run.summary["test_loss"] for v in vec if v.run}) == 4  # four different seeds
    again = execute(ls, ls.open_study("l2", "grid", {}).id, jobs, workers=1, settings=AUTO)
    assert all(o.reused for o in again)  # lone runs count as done for a vectorized rerun


def test_a_diverged_member_is_masked_out_and_the_others_match_their_lone_runs() -> None:
    cfg = RunConfig.model_validate(BASE).with_overrides({"schedule.name": "constant"})
    cfgs = [cfg.with_overrides({"seed": s}) for s in range(3)]
    stack = Stack([prepare(c) for c in cfgs])
    with torch.no_grad():
        next(iter(stack.params.values()))[1].fill_(math.inf)  # member 1 blows up at once
    hists = stack.fit(lambda j, m: None)
    assert [h.status for h in hists] == ["finished", "diverged", "finished"]
    assert hists[1].epochs == [] and "epoch 1" in hists[1].reason
    store = Store()
    lone = execute(store, store.open_study("l", "grid", {}).id,
                   [Job("v", cfgs[0]), Job("v", cfgs[2])], workers=1, settings=OFF)  # fmt: skip
    for hist, out in zip([hists[0], hists[2]], lone, strict=True):
        assert out.run is not None
        for a, b in zip(hist.epochs, store.epochs(out.run.id), strict=True):
            assert all(close(a[k], b[k], k) for k in KEYS)


def test_a_config_that_cannot_vectorize_runs_alone_and_says_why() -> None:
    cfg = RunConfig.model_validate(BASE).with_overrides({"train.early_stopping": 2})
    store = Store()
    out = execute(
        store, store.open_study("e", "grid", {}).id, seeds(cfg, 2), workers=1, settings=AUTO
    )
    assert [o.status for o in out] == ["finished", "finished"]
    assert {o.note for o in out} == {
        "not vectorized: early stopping ends each seed at its own epoch"
    }


class _Mix(torch.nn.Module):
    """Mixes the samples of a batch: stacking it would couple the members."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - x.mean(0)


@pytest.mark.parametrize("dims", [1, 2])
def test_a_stacked_module_computes_each_member_on_its_own_rows(dims: int) -> None:
    conv, bn = (torch.nn.Conv1d, torch.nn.BatchNorm1d) if dims == 1 else (torch.nn.Conv2d, torch.nn.BatchNorm2d)  # fmt: skip
    torch.manual_seed(0)
    models = [torch.nn.Sequential(conv(2, 3, 3, stride=2, padding=1), bn(3), torch.nn.ReLU(),
                                  torch.nn.Flatten(), torch.nn.Linear(3 * 2**dims, 4))
              for _ in range(3)]  # fmt: skip
    x = torch.randn(3, 5, 2, *[4] * dims)  # (k, B, C, ...): member j reads x[j]
    stacked = stack_modules(models)
    for train in (True, False):  # batch statistics, then the running ones both updated
        stacked.train(train)
        out = stacked(x.reshape(15, *x.shape[2:])).view(3, 5, 4)
        for j, m in enumerate(models):
            m.train(train)
            torch.testing.assert_close(out[j], m(x[j]), rtol=1e-5, atol=1e-6)
    for j, m in enumerate(models):
        torch.testing.assert_close(stacked.get_buffer("1.running_var")[j], m[1].running_var)
    assert dict(stacked.named_parameters()).keys() == dict(models[0].named_parameters()).keys()


@pytest.mark.parametrize(
    ("layer", "says"),
    [(torch.nn.LayerNorm(4), "0 (LayerNorm) holds tensors of its own"),
     (_Mix(), "0 (_Mix) is not a known per-sample layer"),
     (torch.nn.Flatten(0), "0 flattens the batch axis")],
)  # fmt: skip
def test_a_layer_that_could_couple_members_is_refused_by_name(layer: torch.nn.Module, says: str) -> None:  # fmt: skip
    with pytest.raises(Unsupported, match=re.escape(says)):
        stack_modules([torch.nn.Sequential(layer, torch.nn.Linear(4, 2)) for _ in range(2)])
