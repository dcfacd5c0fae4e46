"""Seeds trained as one vectorized model equal the same seeds trained one by one, epoch by epoch
(to 1e-5 on losses, 1e-6 on accuracies: batched matmul kernels sum in another order, so bits
may differ), with every optimizer, penalty, label smoothing, bf16 and augmentation; with dropout, in
distribution; a diverged member is masked out while the others go on; a fallback says why; each
member run keeps a heartbeat while the group trains."""

from __future__ import annotations

import functools
import math
import re
import time
from pathlib import Path

import pytest
import torch

from trainlab.config import RunConfig
from trainlab.execute import ExecSettings, Job, execute, vectorized
from trainlab.track.liveness import Heartbeat
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
        {"optim.name": "adamw", "optim.weight_decay": 0.05},
        {"optim.name": "rmsprop", "optim.lr": 0.003, "optim.momentum": 0.5},
        {"optim.name": "adagrad", "optim.lr": 0.05},
        {"regularize.l1": 1e-3},
        {"regularize.label_smoothing": 0.1},
        {"train.precision": "bf16"},  # autocast through the shared step (fp32 differs by ~1e-3)
        # each member draws its own augmentation, as its lone run does
        {"model.name": "cnn", "model.options": {"width": 4},
         "data.augment": {"crop": 2, "flip": True, "cutout": 0.5}},
        {"data.augment": {"mix": "cutmix", "flip": True}, "regularize.label_smoothing": 0.1},
        {"data.augment": {"mix": "mixup", "crop": 1, "pad": "zeros"}},
    ],
    ids=["mlp-adam", "mlp-sgd-clip-l2", "cnn-batchnorm", "adamw", "rmsprop", "adagrad", "l1",
         "label-smoothing", "bf16", "augment-crop-flip-cutout", "cutmix", "mixup"],
)  # fmt: skip
def test_vectorized_seeds_equal_lone_runs_per_epoch(
    overrides: dict[str, object], tmp_path: Path
) -> None:
    cfg = RunConfig.model_validate(BASE).with_overrides(overrides)
    jobs = seeds(cfg)
    vs, ls = Store(tmp_path / "v"), Store(tmp_path / "l")  # two stores: the lone runs are trained
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
    assert not any(one.reused for one in lone)
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


@pytest.mark.parametrize(
    ("overrides", "why"),
    [({"train.early_stopping": 2}, "early stopping ends each seed at its own epoch"),
     ({"train.precision": "fp16"},
      "fp16's grad scaler would skip every seed's step when one seed overflows"),
     ({"train.channels_last": True, "model.name": "cnn", "model.options": {"width": 4}},
      "train.channels_last is applied to lone runs only (the stack regroups channels)")],
    ids=["early-stopping", "fp16", "channels-last"],
)  # fmt: skip
def test_a_config_that_cannot_vectorize_runs_alone_and_says_why(
    overrides: dict[str, object], why: str
) -> None:
    cfg = RunConfig.model_validate(BASE).with_overrides({**overrides, "train.epochs": 1})
    store = Store()
    out = execute(
        store, store.open_study("e", "grid", {}).id, seeds(cfg, 2), workers=1, settings=AUTO
    )
    assert [o.status for o in out] == ["finished", "finished"]
    assert {o.note for o in out} == {f"not vectorized: {why}"}


def test_dropout_masks_are_drawn_per_member_with_the_lone_rate() -> None:
    """In distribution: each member drops its own units at rate p, independently of the others."""
    p, k, b, d = 0.3, 4, 50, 200
    eye = torch.nn.Linear(d, d, bias=False)
    torch.nn.init.eye_(eye.weight)
    stacked = stack_modules([torch.nn.Sequential(eye, torch.nn.Dropout(p)) for _ in range(k)])
    torch.manual_seed(0)
    out = stacked(torch.ones(k * b, d)).view(k, b * d)
    kept = out != 0
    assert torch.allclose(out[kept], torch.tensor(1 / (1 - p)))  # inverted dropout, as lone
    rates = 1 - kept.float().mean(1)
    assert torch.allclose(rates, torch.tensor(p), atol=0.015)  # 10,000 units: SE 0.0046
    agree = (kept[0] == kept[1]).float().mean()
    assert abs(agree - (p * p + (1 - p) * (1 - p))) < 0.02  # independent masks, not shared


def test_dropout_members_train_like_their_lone_runs_in_distribution(tmp_path: Path) -> None:
    cfg = RunConfig.model_validate(BASE).with_overrides({"regularize.dropout": 0.3})
    jobs = seeds(cfg)
    vs, ls = Store(tmp_path / "v"), Store(tmp_path / "l")
    vec = execute(vs, vs.open_study("v", "grid", {}).id, jobs, workers=1, settings=AUTO)
    lone = execute(ls, ls.open_study("l", "grid", {}).id, jobs, workers=1, settings=OFF)
    pairs = [(v.run.summary, one.run.summary) for v, one in zip(vec, lone, strict=True)
             if v.run and one.run]  # fmt: skip
    assert len(pairs) == 4 and {o.note for o in vec} == {"vectorized: 4 seeds as one model"}
    assert all(a["train_loss"] != b["train_loss"] for a, b in pairs)  # other masks, other path
    assert all(abs(a["val_acc"] - b["val_acc"]) < 0.15 for a, b in pairs)
    mean = sum(a["val_acc"] - b["val_acc"] for a, b in pairs) / 4
    assert abs(mean) < 0.05


def test_a_compiled_config_compiles_the_stacked_model(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled: list[str] = []

    def spy(model: torch.nn.Module) -> torch.nn.Module:
        compiled.append(type(model).__name__)
        return model

    monkeypatch.setattr(torch, "compile", spy)
    cfg = RunConfig.model_validate(BASE).with_overrides({"train.compile": True, "train.epochs": 1})
    store = Store()
    out = execute(store, store.open_study("c", "grid", {}).id, seeds(cfg, 2), workers=1,
                  settings=AUTO)  # fmt: skip
    assert {o.note for o in out} == {"vectorized: 2 seeds as one model"}
    assert compiled == ["Members"]  # the stack (k models as one), once


def test_a_training_group_keeps_its_runs_alive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An epoch longer than the stale threshold (here 0.2 s, normally 600 s) does not get the
    group's runs marked dead: every member run has a heartbeat while the group trains."""
    beat = functools.partial(Heartbeat, every=0.02)
    monkeypatch.setattr(vectorized, "Heartbeat", beat, raising=False)  # absent: no beats at all
    store = Store(tmp_path, stale_after=0.2)
    study = store.open_study("h", "grid", {})
    seen: list[tuple[int, list[str]]] = []
    log_epoch = store.log_epoch

    def slow_epoch(run_id: str, epoch: int, metrics: dict[str, float]) -> None:
        time.sleep(0.4)  # the epoch runs on past the stale threshold
        ids = [r.id for r in store.list_runs()]
        seen.append((store.mark_dead_runs(), [store.get_run(i).status for i in ids]))
        log_epoch(run_id, epoch, metrics)

    monkeypatch.setattr(store, "log_epoch", slow_epoch)
    cfg = RunConfig.model_validate(BASE).with_overrides({"train.epochs": 2})
    answers = vectorized.train_group(store, study.id, seeds(cfg, 2))
    assert [a["status"] for a in answers] == ["finished", "finished"]
    assert seen == [(0, ["running", "running"])] * 4  # 2 epochs x 2 members, none marked dead


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
