import math
from pathlib import Path

import pytest
import torch
from torch import nn

from trainlab.config import OPTIMIZERS, SCHEDULES, RunConfig
from trainlab.data.spec import Dataset
from trainlab.search.objective import restores_best, scored_epoch
from trainlab.train.loop import MODEL_FILE, RESUME_FILE, Callback, StopTraining, fit
from trainlab.train.metrics import evaluate, expected_calibration_error, reliability_bins
from trainlab.train.optim import build_optimizer, build_schedule

from conftest import BoringModel, make_blobs


def cfg(**over: object) -> RunConfig:
    base = RunConfig.model_validate(
        {
            "train": {"epochs": 4, "batch_size": 32},
            "optim": {"lr": 0.01},
            "schedule": {"name": "constant"},
        }
    )
    return base.with_overrides(dict(over))


def test_fit_learns_blobs_and_reports_every_metric(blobs: Dataset) -> None:
    hist = fit(BoringModel(), blobs, cfg(**{"train.epochs": 8}))
    assert hist.status == "finished" and len(hist.epochs) == 8
    assert set(hist.epochs[0]) >= {
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
        "seconds",
    }
    s = hist.summary
    assert s["test_acc"] > 0.9 and 0 <= s["ece"] <= 1 and s["epochs"] == 8
    assert s["steps"] == 8 * math.ceil(len(blobs.y_train) / 32)
    assert s["gen_gap"] == pytest.approx(s["train_eval_acc"] - s["test_acc"])


@pytest.mark.parametrize("optim", OPTIMIZERS)
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_every_optimizer_and_schedule_steps(optim: str, schedule: str, blobs: Dataset) -> None:
    over = {"optim.name": optim, "schedule.name": schedule, "train.epochs": 3}
    if schedule == "warmup_cosine":
        over["schedule.warmup"] = 1
    hist = fit(BoringModel(), blobs, cfg(**over))
    assert hist.status == "finished"
    assert all(math.isfinite(e["train_loss"]) for e in hist.epochs)
    lrs = [e["lr"] for e in hist.epochs]
    if schedule in ("cosine", "step", "exponential", "onecycle", "warmup_cosine"):
        assert lrs[0] != lrs[-1]
    if schedule == "constant":
        assert lrs == [0.01] * 3


def test_schedule_shapes() -> None:
    p = [nn.Parameter(torch.zeros(2, 2))]
    c = cfg(**{"schedule.name": "warmup_cosine", "schedule.warmup": 1, "train.epochs": 4})
    opt = build_optimizer(p, c.optim)
    sched = build_schedule(opt, c.schedule, epochs=4, steps_per_epoch=10)
    lrs = []
    for _ in range(40):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step_batch()
    assert lrs[0] == pytest.approx(0.001) and lrs[9] == pytest.approx(0.01)  # linear warm-up
    assert lrs[-1] < 0.0005 and max(lrs) == pytest.approx(0.01)  # cosine to ~0


def test_same_seed_is_bit_identical_other_seed_differs(blobs: Dataset) -> None:
    def once(seed: int) -> list[float]:
        torch.manual_seed(123)  # model init is not what we test here
        model = BoringModel()
        hist = fit(model, blobs, cfg(seed=seed))
        return [e["train_loss"] for e in hist.epochs] + [hist.summary["test_loss"]]

    assert once(1) == once(1)
    assert once(1) != once(2)


class _Kill(Callback):
    def __init__(self, at_epoch: int) -> None:
        self.at = at_epoch

    def on_epoch(self, epoch: int, model: nn.Module, metrics: dict[str, float]) -> None:
        if epoch == self.at:
            raise KeyboardInterrupt


def test_resume_from_epoch_checkpoint_matches_uninterrupted(tmp_path: Path, blobs: Dataset) -> None:
    c = cfg(**{"train.epochs": 6, "train.checkpoint": "every_epoch", "regularize.dropout": 0.2})
    torch.manual_seed(0)
    full = fit(BoringModel(), blobs, c, checkpoint_dir=tmp_path / "a")
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        fit(BoringModel(), blobs, c, [_Kill(3)], checkpoint_dir=tmp_path / "b")
    assert (tmp_path / "b" / RESUME_FILE).exists()
    resumed = fit(BoringModel(), blobs, c, checkpoint_dir=tmp_path / "b")
    strip = [{k: v for k, v in e.items() if "seconds" not in k} for e in resumed.epochs]
    want = [{k: v for k, v in e.items() if "seconds" not in k} for e in full.epochs]
    assert strip == want
    assert resumed.summary["test_loss"] == full.summary["test_loss"]
    assert (tmp_path / "b" / MODEL_FILE).exists()


def test_nan_loss_ends_run_as_diverged(blobs: Dataset) -> None:
    bad = make_blobs()
    bad.x_train[0, 0] = float("nan")
    hist = fit(BoringModel(), bad, cfg())
    assert hist.status == "diverged" and "non-finite" in hist.reason
    assert "test_acc" not in hist.summary


def test_callback_can_stop_with_status(blobs: Dataset) -> None:
    class Prune(Callback):
        def on_epoch(self, epoch: int, model: nn.Module, metrics: dict[str, float]) -> None:
            if epoch == 2:
                raise StopTraining("pruned", "median rule")

    hist = fit(BoringModel(), blobs, cfg(), [Prune()])
    assert hist.status == "pruned" and len(hist.epochs) == 2


def test_early_stopping_keeps_best_weights(blobs: Dataset) -> None:
    hist = fit(BoringModel(), blobs, cfg(**{"train.epochs": 60, "train.early_stopping": 2}))
    assert len(hist.epochs) < 60 and "early stop" in hist.reason
    assert hist.summary["val_acc"] <= hist.summary["best_val_acc"]


def test_early_stopping_summary_gives_the_val_metrics_of_the_weights_it_tested(
    blobs: Dataset,
) -> None:
    c = cfg(**{"train.epochs": 60, "train.early_stopping": 2, "optim.lr": 0.5})
    torch.manual_seed(0)
    model = BoringModel()
    hist = fit(model, blobs, c)
    s, last = hist.summary, hist.epochs[-1]
    assert last["val_acc"] < s["best_val_acc"] == 1.0  # the last epoch is not the one kept
    val = evaluate(model, blobs.x_val, blobs.y_val, c.train.eval_batch_size)  # the tested weights
    assert (s["val_acc"], s["val_loss"]) == (val.acc, val.loss) == (1.0, s["val_loss"])
    assert s["tested_epoch"] == s["best_epoch"] < last["epoch"]
    kept = scored_epoch(hist.epochs, restores_best(c, hist.status))  # what a search scores
    assert (kept["val_acc"], kept["val_loss"]) == (s["val_acc"], s["val_loss"])


def test_summary_train_seconds_leave_validation_out(blobs: Dataset) -> None:
    hist = fit(BoringModel(), blobs, cfg())
    s, epochs = hist.summary, hist.epochs
    assert s["train_seconds"] == sum(e["train_seconds"] for e in epochs)
    assert s["epoch_seconds"] == sum(e["seconds"] for e in epochs) > s["train_seconds"]


def test_l1_and_l2_shrink_weights(blobs: Dataset) -> None:
    def norm(**over: object) -> float:
        torch.manual_seed(0)
        return fit(BoringModel(), blobs, cfg(**over)).summary["weight_norm"]

    plain = norm()
    assert norm(**{"regularize.l2": 0.5}) < plain
    assert norm(**{"regularize.l1": 0.05}) < plain


def test_ece_by_hand() -> None:
    # Two bins' worth: 3 samples at confidence 0.9 (2 right), 1 at 0.6 (wrong).
    probs = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.6, 0.4]])
    labels = torch.tensor([0, 0, 0, 1])
    _, _, count = reliability_bins(probs, labels, bins=10)
    assert count[9] == 3 and count[6] == 1  # 0.9 falls in the last bin, [0.9, 1.0]
    want = 0.75 * abs(2 / 3 - 0.9) + 0.25 * abs(0.0 - 0.6)
    assert expected_calibration_error(probs, labels, bins=10) == pytest.approx(want)


def test_store_resumes_by_hash_when_only_execution_settings_changed(tmp_path: Path) -> None:
    from trainlab.config import load_config
    from trainlab.track.store import Store
    from trainlab.train.experiment import run

    store = Store(tmp_path)
    base = ["data.name=moons", "data.options.n=200", "train.epochs=4"]
    c = load_config(None, [*base, "train.checkpoint=every_epoch"])
    with pytest.raises(KeyboardInterrupt):
        run(c, store, [_Kill(2)])
    (first,) = store.list_runs()
    again = c.with_overrides(["train.eval_batch_size=64", "train.threads=1"])
    assert again.hash() == c.hash()
    resumed = run(again, store).record
    assert resumed is not None and resumed.id == first.id and resumed.status == "finished"
    assert len(store.epochs(first.id)) == 4
    full = run(load_config(None, base)).summary
    assert resumed.summary["test_loss"] == pytest.approx(full["test_loss"], abs=0.0)
