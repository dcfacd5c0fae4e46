import math

import pytest
import torch
from torch import nn

from trainlab.config import DataConfig
from trainlab.data import list_datasets, load
from trainlab.data.spec import DataSpec
from trainlab.errors import ConfigError
from trainlab.models import build, compatible, list_models
from trainlab.models.transformer import default_patch

DIGITS = tuple("0123456789")
SPECS = {
    "digits": DataSpec("digits", "image", (1, 8, 8), 10, DIGITS),
    "mnist5k": DataSpec("mnist5k", "image", (1, 28, 28), 10, DIGITS),
    "cifar": DataSpec("cifar", "image", (3, 32, 32), 10, DIGITS),
    "mnist1d": DataSpec("mnist1d", "signal", (1, 40), 10, DIGITS),
    "moons": DataSpec("moons", "vector", (2,), 2, ("a", "b")),
    "seq_pair": DataSpec("seq_pair", "tokens", (16,), 4, tuple("abcd"), vocab_size=12),
}
PAIRS = [(m.name, s) for m in list_models() for s in SPECS]


def batch(spec: DataSpec, n: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if spec.kind == "tokens":
        assert spec.vocab_size is not None
        return torch.randint(0, spec.vocab_size, (n, *spec.input_shape), generator=g)
    return torch.randn(n, *spec.input_shape, generator=g)


@pytest.mark.parametrize(("name", "spec_name"), PAIRS)
def test_every_model_trains_on_the_data_it_takes(name: str, spec_name: str) -> None:
    spec = SPECS[spec_name]
    if not compatible(name, spec):
        with pytest.raises(ConfigError, match=f"model '{name}' does not take {spec.kind} data"):
            build(name, spec)
        return
    torch.manual_seed(0)
    model = build(name, spec, dropout=0.1)
    x = batch(spec)
    logits = model(x)
    assert logits.shape == (4, spec.num_classes)
    nn.functional.cross_entropy(logits, torch.arange(4) % spec.num_classes).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    # The named stages: logits = head(features(x)), features one vector per sample.
    model.eval()
    feats = model.features(x)
    assert feats.dim() == 2 and feats.shape[0] == 4
    assert torch.allclose(model.head(feats), model(x), atol=1e-6)


@pytest.mark.parametrize("name", [m.name for m in list_models()])
def test_every_model_applies_dropout(name: str) -> None:
    spec = next(s for s in SPECS.values() if compatible(name, s))
    model = build(name, spec, dropout=0.3)
    rates = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert 0.3 in rates
    model.eval()
    x = batch(spec)
    assert torch.equal(model(x), model(x))


def test_list_models_is_sorted_and_derives_options_from_builders() -> None:
    infos = {m.name: m for m in list_models()}
    assert list(infos) == sorted(infos)
    assert set(infos) >= {
        "logreg",
        "mlp",
        "cnn",
        "resnet",
        "plainnet",
        "inception",
        "gru",
        "transformer",
        "vit",
    }
    assert infos["mlp"].options == ("width", "depth", "activation", "norm")
    assert infos["logreg"].options == ()
    assert infos["vit"].kinds == ("image",)
    assert all("dropout" not in m.options for m in infos.values())


def test_unknown_model_names_the_choices() -> None:
    with pytest.raises(ConfigError) as err:
        build("resnt", SPECS["digits"])
    msg = str(err.value)
    assert msg.startswith("model.name='resnt': unknown model;")
    assert "did you mean 'resnet'?" in msg
    assert "choose one of cnn, gru, inception, logreg" in msg
    assert "\n" not in msg


def test_unknown_option_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as err:
        build("mlp", SPECS["moons"], widht=3)
    msg = str(err.value)
    assert msg.startswith("model.options.widht: not an option of model 'mlp';")
    assert msg.endswith("allowed: width, depth, activation, norm")


def test_incompatible_data_names_the_dataset_and_the_kinds() -> None:
    with pytest.raises(ConfigError) as err:
        build("vit", SPECS["seq_pair"])
    assert (
        str(err.value)
        == "model 'vit' does not take tokens data (dataset 'seq_pair'); it takes: image"
    )


@pytest.mark.parametrize(
    ("name", "spec_name", "options", "message"),
    [
        ("resnet", "digits", {"depth": 10}, r"model.options.depth=10: must be 6n\+2"),
        ("plainnet", "mnist1d", {"depth": 4}, r"model.options.depth=4: must be an integer >= 8"),
        ("mlp", "moons", {"width": -1}, r"model.options.width=-1: must be an integer >= 1"),
        ("mlp", "moons", {"depth": 2.5}, r"model.options.depth=2.5: must be an integer"),
        ("mlp", "moons", {"activation": "relux"}, r"activation='relux': did you mean 'relu'"),
        ("mlp", "moons", {"norm": "yes"}, r"model.options.norm='yes': must be true or false"),
        ("cnn", "digits", {"kernel": 4}, r"model.options.kernel=4: must be odd"),
        (
            "vit",
            "mnist5k",
            {"patch": 5},
            r"patch=5: must divide the image size 28×28; choose one of 1, 2, 4, 7, 14, 28",
        ),
        ("transformer", "seq_pair", {"heads": 3}, r"model.options.heads=3: must divide dim=64"),
        (
            "transformer",
            "seq_pair",
            {"pool": "max"},
            r"model.options.pool='max': choose one of cls, mean",
        ),
        ("gru", "mnist1d", {"readout": "first"}, r"model.options.readout='first'"),
        (
            "resnet",
            "digits",
            {"dropout": 1.5},
            r"regularize.dropout=1.5: must be a number in \[0, 1\)",
        ),
    ],
)
def test_bad_option_values_name_the_option(
    name: str, spec_name: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build(name, SPECS[spec_name], **options)


@pytest.mark.parametrize("spec_name", ["digits", "mnist1d"])
def test_plainnet_is_the_resnet_without_skips(spec_name: str) -> None:
    spec = SPECS[spec_name]
    torch.manual_seed(0)
    res = build("resnet", spec, depth=14).eval()
    torch.manual_seed(0)
    plain = build("plainnet", spec, depth=14).eval()
    assert sum(p.numel() for p in res.parameters()) == sum(p.numel() for p in plain.parameters())
    assert [n for n, _ in res.named_modules()] == [n for n, _ in plain.named_modules()]
    assert list(res.state_dict()) == list(plain.state_dict())
    x = batch(spec)
    assert not torch.allclose(res(x), plain(x))


def test_resnet_depth_sets_blocks_per_stage() -> None:
    model = build("resnet", SPECS["digits"], depth=20)
    features = model.features
    assert isinstance(features, nn.Sequential)
    stages = [getattr(features, f"stage{k}") for k in (1, 2, 3)]
    assert [len(s) for s in stages] == [3, 3, 3]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) + 1 == 20  # 19 3×3 convs + the linear head


def test_resnet_zero_init_makes_every_identity_block_the_identity() -> None:
    model = build("resnet", SPECS["mnist1d"], depth=8, zero_init=True)
    block = model.features.stage1.block1
    x = batch(SPECS["mnist1d"]).repeat(1, 16, 1)  # (4, 16, 40): stage1's width
    assert torch.equal(block(x), x)


def test_mnist1d_defaults_follow_the_paper() -> None:
    spec = SPECS["mnist1d"]
    cnn = build("cnn", spec)
    convs = [m for m in cnn.modules() if isinstance(m, nn.Conv1d)]
    assert [(c.out_channels, c.kernel_size, c.stride, c.padding) for c in convs] == [
        (25, (5,), (2,), (2,))
    ] * 3
    assert cnn.features(batch(spec)).shape == (4, 125)  # 25 channels × length 5
    mlp = build("mlp", spec)
    assert [m.out_features for m in mlp.modules() if isinstance(m, nn.Linear)] == [100, 100, 10]
    gru = build("gru", spec)
    assert gru.features.gru.hidden_size == 6 and gru.features.gru.bidirectional


def test_image_cnn_pools_and_doubles_channels() -> None:
    model = build("cnn", SPECS["mnist5k"])
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64]
    assert model.features(batch(SPECS["mnist5k"])).shape == (4, 64 * 7 * 7)


@pytest.mark.parametrize(
    ("size", "patch"), [((8, 8), 2), ((28, 28), 4), ((32, 32), 4), ((7, 7), 1), ((30, 20), 5)]
)
def test_vit_default_patch_divides_the_image(size: tuple[int, int], patch: int) -> None:
    assert default_patch(*size) == patch
    h, w = size
    assert h % patch == 0 and w % patch == 0 and (h // patch) * (w // patch) <= 64


def test_vit_and_transformer_put_a_cls_token_first() -> None:
    vit = build("vit", SPECS["mnist5k"])
    assert vit.features.embed.grid == (7, 7) and vit.features.prefix_tokens == 1
    vit.features.blocks.block1.attn.keep_weights = True
    vit.eval()(batch(SPECS["mnist5k"]))
    weights = vit.features.blocks.block1.attn.last_weights
    assert weights is not None and weights.shape == (4, 4, 50, 50)
    mean = build("transformer", SPECS["seq_pair"], pool="mean")
    assert mean.features.prefix_tokens == 0 and mean.features.pos.shape == (1, 16, 64)


def test_build_is_reproducible_under_a_seed() -> None:
    torch.manual_seed(3)
    a = build("cnn", SPECS["digits"])
    torch.manual_seed(3)
    b = build("cnn", SPECS["digits"])
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize("readout", ["flatten", "last", "mean"])
def test_gru_readouts(readout: str) -> None:
    spec = SPECS["seq_pair"]
    model = build("gru", spec, hidden=8, layers=2, readout=readout)
    width = {"flatten": 16 * 8 * 2, "last": 8 * 2, "mean": 8 * 2}[readout]
    assert model.features(batch(spec)).shape == (4, width)
    assert math.isclose(model.features.gru.dropout, 0.0)


# Both registries: every model with every built-in dataset of a kind it takes.
REGISTERED = [
    (m.name, d.name)
    for m in list_models()
    for d in list_datasets()
    if d.builtin and d.kind in m.kinds
]


@pytest.mark.parametrize(("name", "data_name"), REGISTERED)
def test_every_model_runs_on_every_compatible_registered_dataset(name: str, data_name: str) -> None:
    """Real batches forward and backward with finite gradients."""
    ds = load(DataConfig(name=data_name), seed=0)
    torch.manual_seed(0)
    model = build(name, ds.spec, dropout=0.1)
    logits = model(ds.x_train[:6])
    assert logits.shape == (6, ds.spec.num_classes)  # a regression's outputs: one per target
    if ds.spec.task == "regression":
        nn.functional.mse_loss(logits.reshape(ds.y_train[:6].shape), ds.y_train[:6]).backward()
    else:
        nn.functional.cross_entropy(logits, ds.y_train[:6]).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_every_builtin_dataset_has_a_model() -> None:
    kinds = {k for m in list_models() for k in m.kinds}
    assert {d.kind for d in list_datasets() if d.builtin} <= kinds


@pytest.mark.parametrize(("name", "params"), [("resnet18", 11_173_962), ("vit_tiny", 5_362_762)])
def test_cifar_models_have_their_published_sizes(name: str, params: int) -> None:
    """ResNet-18 with the CIFAR stem as in kuangliu/pytorch-cifar (11.17M); DeiT's ViT-Ti at
    patch 4 on 32×32 (5.36M)."""
    model = build(name, SPECS["cifar"])
    assert sum(p.numel() for p in model.parameters()) == params
    model.eval()
    assert model(batch(SPECS["cifar"], 3)).shape == (3, 10)


def test_resnet18_stages_halve_the_size_and_double_the_channels() -> None:
    model = build("resnet18", SPECS["cifar"], width=8)
    x = batch(SPECS["cifar"], 2)
    shapes = []
    for name, stage in model.features.named_children():
        x = stage(x)
        if name.startswith("stage"):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(8, 32, 32), (16, 16, 16), (32, 8, 8), (64, 4, 4)]
