"""Device choice, fused kernels, precision, determinism and resume state, on CPU (GPU availability
monkeypatched where the logic branches on it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import trainlab
from trainlab.config import load_config
from trainlab.data import load
from trainlab.errors import ConfigError
from trainlab.inspect import target as inspect_target
from trainlab.train import seed as seed_mod
from trainlab.train.loop import RESUME_FILE, fit, lone_loss
from trainlab.train.optim import fast_kernels
from trainlab.train.regularize import penalized_params
from trainlab.train.seed import resolve_device
from trainlab.train.step import Step

CFG = ["data.name=moons", "data.options.n=200", "train.epochs=2"]


@pytest.mark.parametrize(
    ("cuda", "mps", "want"), [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")]
)
def test_auto_device_prefers_cuda_then_mps_then_cpu(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, want: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert resolve_device("auto").type == want
    assert inspect_target.device_for("auto") == want


def test_inspection_device_falls_back_to_cpu_when_the_accelerator_is_absent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert inspect_target.device_for("cuda:1") == "cpu"


def test_fused_adagrad_only_on_cpu_fused_adam_sgd_on_cuda() -> None:
    assert fast_kernels("adagrad", "cpu") == {"fused": True}
    assert fast_kernels("adagrad", "cuda") == {"foreach": True}
    for name in ("adam", "adamw", "sgd"):
        assert fast_kernels(name, "cuda") == {"fused": True}
    assert fast_kernels("rmsprop", "cuda") == {"foreach": True}
    assert fast_kernels("adam", "mps") == {}


def test_deterministic_flag_sets_torch_and_cudnn(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        seed_mod.set_deterministic(True)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        seed_mod.set_deterministic(False)
        assert not torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.benchmark
    finally:
        seed_mod.set_deterministic(True)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_and_fp16_uses_a_scaler(precision: str, tmp_path: Path) -> None:
    cfg = load_config(None, [*CFG, f"train.precision={precision}", "train.checkpoint=every_epoch"])
    result = trainlab.run(cfg)
    assert result.history.status == "finished"
    assert 0.5 < result.summary["test_acc"] <= 1.0
    assert all(p.dtype == torch.float32 for p in result.model.parameters())  # master weights
    model, data = result.model, result.dataset
    step = Step(model, cfg, 1, lone_loss(cfg), penalized_params(model))
    step(data.x_train[:32], data.y_train[:32])
    # fp16 steps through an enabled grad scaler (its scale above 1, the loss multiplied by it);
    # bf16 has fp32's exponent range and needs none.
    assert step.scaler.is_enabled() is (precision == "fp16")
    assert (step.scaler.get_scale() > 1.0) is (precision == "fp16")
    fit(
        result.model,
        result.dataset,
        cfg.with_overrides(["train.epochs=1"]),
        checkpoint_dir=tmp_path,
    )
    scaler = torch.load(tmp_path / RESUME_FILE, weights_only=True)["scaler"]
    if precision == "fp16":  # the scaler's state: its scale, grown or backed off as it steps
        assert scaler["scale"] > 0 and scaler["_growth_tracker"] >= 0
    else:
        assert scaler == {}  # bf16 has fp32's exponent range: no scaler


def test_bad_precision_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"train\.precision='fp8'.*'fp32', 'bf16' or 'fp16'"):
        load_config(None, ["train.precision=fp8"])


def test_channels_last_conv_net_matches_the_default_layout() -> None:
    base = ["data.name=digits", "model.name=cnn", "model.options.width=4", "train.epochs=1"]
    plain = trainlab.run(load_config(None, base))
    nhwc = trainlab.run(load_config(None, [*base, "train.channels_last=true"]))
    assert abs(plain.summary["test_loss"] - nhwc.summary["test_loss"]) < 1e-3


def test_resume_restores_the_cuda_rng_state_when_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The resume file carries `cuda_rng`; on resume it is handed to torch.cuda."""
    cfg = load_config(None, [*CFG, "train.checkpoint=every_epoch"])
    state_path = tmp_path / "ckpt"
    model = trainlab.run(cfg).model
    dataset = load(cfg.data, cfg.seed)
    fit(model, dataset, cfg.with_overrides(["train.epochs=1"]), checkpoint_dir=state_path)
    state = torch.load(state_path / RESUME_FILE, weights_only=True)
    assert "cuda_rng" in state and state["cuda_rng"] == []
    state["cuda_rng"] = [torch.ByteTensor([1, 2, 3])]
    torch.save(state, state_path / RESUME_FILE)
    seen: list[object] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", seen.append)
    fit(model, dataset, cfg, checkpoint_dir=state_path)
    assert len(seen) == 1 and seen[0][0].tolist() == [1, 2, 3]  # type: ignore[index]
