"""`data.augment`: what each option does to a known tensor, that only training batches are
augmented, that a seed fixes the draws (and another seed changes them), that a resumed run
continues the same draws, the config errors, and that a config without it hashes as before."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from trainlab.config import AugmentConfig, RunConfig
from trainlab.errors import ConfigError
from trainlab.train.augment import DRAWS, STREAM, Augment
from trainlab.train.callbacks import Callback
from trainlab.train.experiment import prepare
from trainlab.train.loop import RESUME_FILE, fit

TINY = {
    "data": {"name": "digits", "augment": {"crop": 2, "flip": True, "cutout": 0.5}},
    "model": {"name": "cnn", "options": {"width": 4}},
    "train": {"epochs": 2, "batch_size": 128, "checkpoint": "none", "threads": 1},
}


def uniforms(seed: int, b: int) -> torch.Tensor:
    """The first batch's per-image draws of a run with `seed` (as `Augment` makes them)."""
    return torch.rand(b, DRAWS, generator=torch.Generator().manual_seed(seed + STREAM))


def test_flip_reverses_the_last_axis_of_the_images_it_picks() -> None:
    x = torch.arange(6 * 2 * 3 * 4, dtype=torch.float32).view(6, 2, 3, 4)
    out, y = Augment(AugmentConfig(flip=True), [5], 10)(x, torch.zeros(6, dtype=torch.long))
    flipped = uniforms(5, 6)[:, 2] < 0.5
    assert 0 < int(flipped.sum()) < 6  # both cases occur in this draw
    assert torch.equal(out[flipped], x[flipped].flip(-1))
    assert torch.equal(out[~flipped], x[~flipped])
    assert torch.equal(y, torch.zeros(6, dtype=torch.long))  # labels untouched


def test_a_zero_padded_crop_moves_the_content_by_its_offset() -> None:
    p, n = 3, 8
    x = torch.rand(n, 2, 7, 9) + 1.0  # never 0, so the padding shows as zeros
    aug = AugmentConfig(crop=p, pad="zeros")
    out, _ = Augment(aug, [1], 10)(x, torch.zeros(n, dtype=torch.long))
    u = uniforms(1, n)
    for i in range(n):
        dy, dx = int(u[i, 0] * (2 * p + 1)), int(u[i, 1] * (2 * p + 1))
        want = torch.zeros(2, 7 + 2 * p, 9 + 2 * p)
        want[:, p : p + 7, p : p + 9] = x[i]
        assert torch.equal(out[i], want[:, dy : dy + 7, dx : dx + 9]), i
    offsets = {(int(a * 7), int(b * 7)) for a, b in u[:, :2].tolist()}
    assert len(offsets) > 1  # not one shift for the whole batch


def test_reflect_padding_mirrors_the_border() -> None:
    x = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out, _ = Augment(AugmentConfig(crop=1), [0], 10)(x, torch.zeros(64, dtype=torch.long))
    # every value comes from the image (reflect padding adds no new values) and shifts by <= 1
    assert set(out.unique().tolist()) <= set(range(16))
    assert len({tuple(o.flatten().tolist()) for o in out}) == 9  # all 3 x 3 offsets occur


def test_cutout_zeroes_one_square_of_the_set_size() -> None:
    x = torch.ones(200, 1, 8, 8)
    aug = AugmentConfig(cutout=1.0, cutout_size=0.5)
    out, _ = Augment(aug, [3], 10)(x, torch.zeros(200, dtype=torch.long))
    holes = out[:, 0] == 0
    assert holes.sum((1, 2)).max() == 16  # a 4 x 4 square at most, clipped at the edges
    assert (holes.sum((1, 2)) > 0).all()
    rows, cols = holes.any(2), holes.any(1)  # a square: the zeros are exactly rows x cols
    assert torch.equal(holes, rows[:, :, None] & cols[:, None, :])


@pytest.mark.parametrize("mix", ["mixup", "cutmix"])
def test_mixed_targets_sum_to_one_and_give_each_label_its_share(mix: str) -> None:
    b, k = 16, 3
    # Image i of member j is constant j * 100 + i: a pixel's value says whose it is.
    x = (torch.arange(k)[:, None] * 100 + torch.arange(b)).float()[:, :, None, None, None]
    x = x.expand(k, b, 1, 8, 8).contiguous()
    y = torch.arange(b).repeat(k, 1) % 10
    out, target = Augment(AugmentConfig(mix=mix, alpha=0.7), [0, 1, 2], 10)(x, y)
    assert target.shape == (k, b, 10)
    assert torch.allclose(target.sum(-1), torch.ones(k, b))
    own = target.gather(-1, y[..., None])[..., 0]  # the weight of each example's own label
    if mix == "cutmix":  # the share of its own pixels, whatever the partner's label
        share = (out == x).float().mean((2, 3, 4))
        partner_same = (y == target.argmax(-1)) & (own == 1)
        assert torch.allclose(own[~partner_same], share[~partner_same], atol=1e-6)
    else:  # one λ per member and batch, between the two images
        lam = (out[:, :, 0, 0, 0] - x[:, :, 0, 0, 0]).abs()
        assert ((own >= 0) & (own <= 1)).all() and lam.max() > 0


class InputLog(nn.Module):
    """Wraps a model; keeps every input it sees, by mode (train or eval)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.train_inputs: list[torch.Tensor] = []
        self.eval_inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (self.train_inputs if self.training else self.eval_inputs).append(x.detach().clone())
        out: torch.Tensor = self.model(x)
        return out


def logged_fit(cfg: RunConfig) -> tuple[InputLog, dict[str, object], list[dict[str, float]]]:
    cfg, model, data = prepare(cfg)
    log = InputLog(model)
    hist = fit(log, data, cfg)
    return log, hist.summary, hist.epochs


def test_only_training_batches_are_augmented() -> None:
    cfg = RunConfig.model_validate(TINY)
    _, _, data = prepare(cfg)
    log, _, _ = logged_fit(cfg)
    seen = torch.cat(log.eval_inputs)  # val each epoch, then test and train in the summary
    want = torch.cat([data.x_val, data.x_val, data.x_test, data.x_train])
    assert torch.equal(seen, want)
    train = torch.cat(log.train_inputs[: len(log.train_inputs) // 2])  # epoch 1
    assert train.shape == data.x_train.shape
    rows = {tuple(r.flatten().tolist()) for r in data.x_train}
    unchanged = sum(tuple(r.flatten().tolist()) in rows for r in train)
    assert unchanged < 0.2 * len(train)  # crop + flip + cutout leave few images as they were


def test_a_seed_fixes_the_augmented_batches_and_another_seed_changes_them() -> None:
    cfg = RunConfig.model_validate(TINY)
    a, sa, ea = logged_fit(cfg)
    b, sb, eb = logged_fit(cfg)
    assert all(torch.equal(p, q) for p, q in zip(a.train_inputs, b.train_inputs, strict=True))
    assert sa == {**sb, "train_seconds": sa["train_seconds"], "epoch_seconds": sa["epoch_seconds"]}
    assert [e["train_loss"] for e in ea] == [e["train_loss"] for e in eb]
    c, sc, _ = logged_fit(cfg.with_overrides({"seed": 1}))
    assert not torch.equal(a.train_inputs[0], c.train_inputs[0])
    assert sc["test_loss"] != sa["test_loss"]


def test_augmentation_leaves_the_batch_order_and_initial_weights_alone() -> None:
    """Turning augmentation on changes the images, not which images form a batch."""
    plain = RunConfig.model_validate({**TINY, "data": {"name": "digits"}})
    flip_only = plain.with_overrides({"data.augment.flip": True})
    a, _, _ = logged_fit(plain)
    b, _, _ = logged_fit(flip_only)
    first_a, first_b = a.train_inputs[0], b.train_inputs[0]
    same = torch.isclose(first_a, first_b).flatten(1).all(1)
    mirrored = torch.isclose(first_a.flip(-1), first_b).flatten(1).all(1)
    assert (same | mirrored).all() and mirrored.any() and same.any()


class _Kill(Callback):
    def on_epoch(self, epoch: int, model: nn.Module, metrics: dict[str, float]) -> None:
        if epoch == 1:
            raise KeyboardInterrupt


@pytest.mark.parametrize("mix", ["none", "mixup"])
def test_a_resumed_run_continues_the_same_draws(tmp_path: Path, mix: str) -> None:
    cfg = RunConfig.model_validate(TINY).with_overrides(
        {"train.checkpoint": "every_epoch", "train.epochs": 3, "data.augment.mix": mix}
    )
    c, model, data = prepare(cfg)
    full = fit(model, data, c, checkpoint_dir=tmp_path / "a")
    c, model, data = prepare(cfg)
    with pytest.raises(KeyboardInterrupt):
        fit(model, data, c, [_Kill()], checkpoint_dir=tmp_path / "b")
    assert (tmp_path / "b" / RESUME_FILE).exists()
    c, model, data = prepare(cfg)
    resumed = fit(model, data, c, checkpoint_dir=tmp_path / "b")
    assert [e["train_loss"] for e in resumed.epochs] == [e["train_loss"] for e in full.epochs]


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ({"data.augment.pad": "edge"}, "data.augment.pad='edge': must be one of 'reflect' or 'zeros'"),
        ({"data.augment.mix": "mixupp"}, "data.augment.mix='mixupp': must be one of 'none', 'mixup' or 'cutmix'"),
        ({"data.augment.cutout": 1.5}, "data.augment.cutout=1.5: input should be less than or equal to 1"),
        ({"data.augment.alpha": 0}, "data.augment.alpha=0: input should be greater than 0"),
        ({"data.augment.flp": True}, "unknown field 'data.augment.flp'; allowed here: crop, pad, flip"),
    ],
    ids=["pad", "mix", "cutout", "alpha", "typo"],
)  # fmt: skip
def test_bad_options_are_one_line_naming_field_value_and_choices(
    override: dict[str, object], says: str
) -> None:
    with pytest.raises(ConfigError) as err:
        RunConfig().with_overrides(override)
    assert str(err.value).startswith(says) and "\n" not in str(err.value)


def test_augment_on_data_that_is_not_images_is_refused_before_training() -> None:
    cfg = RunConfig.model_validate(
        {"data": {"name": "moons", "augment": {"flip": True}}, "train": {"threads": 1}}
    )
    with pytest.raises(ConfigError, match=r"^data.augment: augmentation needs image data; "
                       r"dataset 'moons' is vector data"):  # fmt: skip
        prepare(cfg)


def test_a_reflect_crop_wider_than_the_image_says_what_fits() -> None:
    cfg = RunConfig.model_validate({"data": {"name": "digits", "augment": {"crop": 8}}})
    with pytest.raises(ConfigError, match=r"data.augment.crop=8: .* choose 1..7 or data.augment.pad=zeros"):  # fmt: skip
        prepare(cfg)


def test_a_config_without_augment_hashes_as_before_it_existed() -> None:
    # Hashes computed by trainlab before `data.augment` existed (commit bae84f9): stores keep
    # finding their runs.
    assert RunConfig().hash() == "3e2b228b4bcf"
    old = RunConfig.model_validate(
        {"data": {"name": "mnist1d"}, "model": {"name": "cnn", "options": {"width": 8}},
         "optim": {"name": "sgd", "lr": 0.1, "momentum": 0.9}}
    )  # fmt: skip
    assert old.hash() == "770d7b6f305b"
    assert "augment" not in RunConfig().canonical_json()
    on = old.with_overrides({"data.augment.flip": True})
    assert on.hash() != old.hash() and '"augment"' in on.canonical_json()
    assert on.with_overrides({"data.augment.flip": False}).hash() == old.hash()


def test_mixing_labels_of_a_regression_is_refused() -> None:
    from trainlab.data.spec import DataSpec
    from trainlab.train.augment import check_augment

    spec = DataSpec("ages", "image", (1, 8, 8), 1, ("age",), task="regression")
    cfg = RunConfig().with_overrides({"data.augment.mix": "mixup"})
    with pytest.raises(ConfigError, match=r"^data.augment.mix='mixup': mixes class labels; "
                       r"dataset 'ages' is a regression task"):  # fmt: skip
        check_augment(cfg, spec)
    check_augment(RunConfig().with_overrides({"data.augment.flip": True}), spec)  # fine
