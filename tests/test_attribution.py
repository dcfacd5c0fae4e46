"""Attribution through Captum: Integrated Gradients' completeness, the share on decisive tokens,
the cascading randomisation test, agreement across models, the CLI's errors and a tiny run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from trainlab import data as data_registry
from trainlab.cli import main
from trainlab.config import load_config
from trainlab.data.spec import Dataset, DataSpec
from trainlab.errors import ConfigError
from trainlab.inspect import from_model
from trainlab.inspect.attribution import (
    attribute,
    cascading_randomisation,
    check_methods,
    decisive_share,
    inspect_attribution,
    rank_correlation,
    seed_agreement,
)
from trainlab.track.store import Store


class TokenNet(nn.Module):
    """Embedding -> flatten -> tanh -> linear: position-aware, trains on seq_pair in a second."""

    def __init__(self, vocab: int = 10, length: int = 16, classes: int = 4) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 8)
        self.hidden = nn.Linear(8 * length, 32)
        self.out = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.hidden(self.embed(x).flatten(1))))


class SignalNet(nn.Module):
    """A user's conv net on (B, 1, 16) signals."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 6, 3, padding=1)
        self.fc = nn.Linear(6 * 16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.tanh(self.conv(x)).flatten(1))


@pytest.fixture(scope="module")
def seq_pair() -> tuple[TokenNet, Dataset]:
    cfg = load_config(None, ["data.name=seq_pair", "data.options.n=1200"])
    ds = data_registry.load(cfg.data, 0, "cpu")
    torch.manual_seed(0)
    net = TokenNet()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(300):
        i = torch.randint(0, len(ds.y_train), (64,), generator=torch.Generator().manual_seed(step))
        loss = nn.functional.cross_entropy(net(ds.x_train[i]), ds.y_train[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval(), ds


def test_integrated_gradients_sum_to_the_logit_difference() -> None:
    torch.manual_seed(1)
    net = SignalNet().eval()
    x, y = torch.randn(8, 1, 16), torch.randint(0, 3, (8,))
    ig = attribute(net, x, y, "ig", "signal")
    assert ig.shape == (8, 16)
    with torch.no_grad():
        diff = (net(x) - net(torch.zeros_like(x))).gather(1, y[:, None])[:, 0]
    assert torch.allclose(ig.sum(1), diff, rtol=0.01, atol=1e-4)


def test_integrated_gradients_on_tokens_start_from_the_zero_embedding(
    seq_pair: tuple[TokenNet, Dataset],
) -> None:
    net, ds = seq_pair
    x, y = ds.x_test[:8], ds.y_test[:8]
    ig = attribute(net, x, y, "ig", "tokens")
    assert ig.shape == (8, 16)
    with torch.no_grad():
        zero = net.out(torch.tanh(net.hidden(torch.zeros(8, 8 * 16))))
        diff = (net(x) - zero).gather(1, y[:, None])[:, 0]
    assert torch.allclose(ig.sum(1), diff, rtol=0.01, atol=1e-4)
    assert isinstance(net.embed, nn.Embedding)  # captum's swap is undone


def test_trained_maps_point_at_the_decisive_tokens(seq_pair: tuple[TokenNet, Dataset]) -> None:
    net, ds = seq_pair
    x, y = ds.x_test[:128], ds.y_test[:128]
    mask = ds.extras["decisive_mask_test"][:128]
    chance = float(mask.float().mean())
    assert chance == pytest.approx(2 / 16)
    for method in ("saliency", "ig"):
        assert decisive_share(attribute(net, x, y, method, "tokens"), mask) > 2 * chance
    uniform = torch.ones(4, 16)
    assert decisive_share(uniform, mask[:4]) == pytest.approx(chance)


def test_randomisation_separates_trained_from_random(seq_pair: tuple[TokenNet, Dataset]) -> None:
    net, ds = seq_pair
    x, y = ds.x_test[:32], ds.y_test[:32]
    maps = attribute(net, x, y, "saliency", "tokens")
    assert rank_correlation(maps, maps) == pytest.approx([1.0] * 32)
    test = cascading_randomisation(net, x, y, ("saliency", "ig"), "tokens")
    assert test.layers == ["out", "hidden", "embed"]  # top down
    for method in ("saliency", "ig"):
        assert test.rho[method][-1] < 0.5, test.rho
    assert test.flagged == []
    same = attribute(net, x, y, "ig", "tokens")  # the model itself was not touched
    assert torch.allclose(same, attribute(net, x, y, "ig", "tokens"))
    agree = seed_agreement([net, net], x, y, "tokens", "ig")
    assert agree.mean == pytest.approx(1.0) and agree.pairs[0][:2] == (0, 1)


def test_bad_method_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="'foo': choose from saliency, ig, gradcam"):
        check_methods(["foo"])
    assert main(["inspect", "attribution", "--method", "foo"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--method='foo'" in err and "gradcam" in err


def test_user_module_through_the_python_api() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 16, generator=g), torch.randint(0, 3, (64,), generator=g)
    spec = DataSpec("user-signals", "signal", (1, 16), 3, ("a", "b", "c"))
    ds = Dataset(spec, x[:32], y[:32], x[32:48], y[32:48], x[48:], y[48:])
    torch.manual_seed(0)
    result = inspect_attribution(from_model(SignalNet(), ds), Store(), budget="quick")
    data = result.summary.data
    assert data["methods"] == ["saliency", "ig", "gradcam"]
    assert data["randomisation"]["layers"] == ["fc", "conv"]
    assert (result.dir / "attribution-maps.png").exists()
    json.dumps(result.to_json(), allow_nan=False)  # strict JSON
    with pytest.raises(ConfigError, match="gradcam"):
        inspect_attribution(from_model(TokenNet(), _tokens()), Store(), ["gradcam"])


def _tokens() -> Dataset:
    cfg = load_config(None, ["data.name=seq_pair", "data.options.n=40"])
    return data_registry.load(cfg.data, 0, "cpu")


def test_cli_on_a_sequence_task_then_on_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["inspect", "attribution", "--data", "seq_marker", "--model", "transformer"]
    tiny = ["--epochs", "1", "data.options.n=400", "model.options.dim=16", "model.options.depth=1"]
    assert main([*args, *tiny, "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    data = res["data"]
    assert data["methods"] == ["saliency", "ig"]  # no conv layer: no Grad-CAM
    assert data["chance"] == pytest.approx(1 / 16)
    assert set(data["decisive_share"]) == {"saliency", "ig"}
    assert all(0 <= v <= 1 for v in data["decisive_share"].values())
    assert len(data["randomisation"]["rho"]["ig"]) == len(data["randomisation"]["layers"])
    folder = Path(res["dir"])
    for f in res["figures"]:
        assert all((folder / f["file"]).with_suffix(s).exists() for s in (".png", ".svg", ".pdf"))
    json.dumps(res, allow_nan=False)
    run = res["run_ids"][0]
    assert main(["inspect", "attribution", "--run", run, "--method", "ig", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["data"]["methods"] == ["ig"] and again["study_id"] == res["study_id"]
