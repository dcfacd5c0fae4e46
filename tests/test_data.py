import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from trainlab.config import DataConfig
from trainlab.data import list_datasets, load
from trainlab.data.registry import holdout
from trainlab.errors import ConfigError, DataError, TrainlabError

BUILTIN = [d.name for d in list_datasets() if d.builtin]
SMALL = {
    "moons": {"n": 200},
    "spirals": {"n": 200},
    "seq_pair": {"n": 200},
    "seq_marker": {"n": 200},
}


def cfg(name: str, **options: object) -> DataConfig:
    return DataConfig(name=name, options={**SMALL.get(name, {}), **options})


@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_dataset_loads_as_tensors_matching_its_spec(name: str) -> None:
    ds = load(cfg(name), seed=0)
    spec = ds.spec
    for x, y in ((ds.x_train, ds.y_train), (ds.x_val, ds.y_val), (ds.x_test, ds.y_test)):
        assert x.shape[1:] == spec.input_shape and len(x) == len(y) > 0
        if spec.task == "regression":  # standardised float targets, one column per output
            assert y.dtype == torch.float32 and bool(torch.isfinite(y).all())
        else:
            assert y.dtype == torch.int64 and int(y.min()) >= 0 and int(y.max()) < spec.num_classes
        assert x.dtype == (torch.int64 if spec.kind == "tokens" else torch.float32)
    assert len(spec.class_names) == spec.num_classes
    # the validation share is what the config says (of the training pool)
    pool = len(ds.y_train) + len(ds.y_val)
    assert len(ds.y_val) == round(pool * 0.1)


def test_mnist1d_is_the_papers_split() -> None:
    ds = load(DataConfig(name="mnist1d"), seed=0)
    assert ds.sizes == {"train": 3600, "val": 400, "test": 1000}
    assert ds.spec.input_shape == (1, 40)
    # the generator standardises the whole set: mean 0, std 1 over train pool and test together
    x = torch.cat([ds.x_train, ds.x_val, ds.x_test])
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-3


def test_split_is_deterministic_per_seed_and_test_never_moves() -> None:
    a, b, c = (load(cfg("moons"), seed=s) for s in (0, 0, 1))
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.x_val, b.x_val)
    assert not torch.equal(a.x_val, c.x_val)
    assert torch.equal(a.x_test, c.x_test)
    # train and val partition the pool
    pool = torch.cat([a.x_train, a.x_val])
    assert torch.equal(pool.sort(0).values, torch.cat([c.x_train, c.x_val]).sort(0).values)


def test_sequence_tasks_label_from_the_decisive_tokens() -> None:
    pair = load(cfg("seq_pair"), seed=0)
    x, y = pair.x_test, pair.y_test
    assert torch.equal(y, 2 * (x[:, 3] >= 5) + (x[:, 11] >= 5).long())
    mask = pair.extras["decisive_mask_test"]
    assert mask.shape == x.shape and bool(mask[:, [3, 11]].all()) and int(mask.sum()) == 2 * len(x)
    marker = load(cfg("seq_marker"), seed=0)
    x, y, mask = marker.x_train, marker.y_train, marker.extras["decisive_mask_train"]
    assert bool((mask.sum(1) == 1).all())
    assert torch.equal(x[mask], y + 4)  # the capital's id is classes + label
    assert bool((x[~mask] < 4).all())


def test_unknown_dataset_and_option_name_the_choices() -> None:
    with pytest.raises(
        ConfigError, match=r"data.name='digts': unknown dataset; did you mean 'digits'"
    ):
        load(DataConfig(name="digts"), 0)
    with pytest.raises(
        ConfigError,
        match=r"data.options.size: not an option of dataset 'moons'; allowed: n, noise, seed",
    ):
        load(DataConfig(name="moons", options={"size": 3}), 0)
    with pytest.raises(ConfigError, match=r"data.options.n=-5: must be an integer >= 4"):
        load(DataConfig(name="moons", options={"n": -5}), 0)


def test_holdout_is_stratified_and_fixed() -> None:
    y = np.repeat(np.arange(4), 25)
    x = np.arange(100)
    _, _, xt, yt = holdout(x, y, 0.2)
    assert np.bincount(yt).tolist() == [5, 5, 5, 5]
    assert np.array_equal(xt, holdout(x, y, 0.2)[2])


# ---- user files ---------------------------------------------------------------------------------


def test_npz_with_and_without_a_test_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(
        path, x=rng.normal(size=(50, 3, 12)), y=rng.integers(0, 3, 50), class_names=["a", "b", "c"]
    )
    ds = load(DataConfig(name="npz", options={"path": str(path)}), 0)
    assert ds.spec.kind == "signal" and ds.spec.input_shape == (3, 12)
    assert ds.spec.class_names == ("a", "b", "c") and ds.spec.name == "mine"
    assert len(ds.y_test) + len(ds.y_train) + len(ds.y_val) == 50
    images = tmp_path / "img.npz"
    u8 = rng.integers(0, 256, (20, 6, 6), dtype=np.uint8)
    np.savez(images, x=u8, y=np.arange(20) % 2, x_test=u8[:4], y_test=np.arange(4) % 2)
    ds = load(DataConfig(name="npz", options={"path": str(images), "kind": "image"}), 0)
    assert ds.spec.input_shape == (1, 6, 6) and len(ds.y_test) == 4
    assert float(ds.x_test.max()) <= 1.0 and torch.allclose(
        ds.x_test[0, 0], torch.from_numpy(u8[0] / 255).float()
    )


def _write_idx(path: Path, arr: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def test_idx_folder_reads_mnist_format(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for split, n, gz in (("train", 30, True), ("t10k", 10, False)):
        images, labels = rng.integers(0, 256, (n, 5, 7)), rng.integers(0, 10, n)
        suffix = ".gz" if gz else ""
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte{suffix}", images, gz)
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte{suffix}", labels, gz)
    ds = load(DataConfig(name="idx", options={"path": str(tmp_path)}), 0)
    assert ds.spec.input_shape == (1, 5, 7) and len(ds.y_test) == 10
    assert torch.allclose(ds.x_test[3, 0] * 255, torch.from_numpy(images[3]).float())


def test_cifar_batches_and_hostile_pickles(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name, n in (("data_batch_1", 12), ("test_batch", 6)):
        batch = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": list(rng.integers(0, 3, n)),
        }
        (tmp_path / name).write_bytes(pickle.dumps(batch))
    (tmp_path / "batches.meta").write_bytes(
        pickle.dumps({b"label_names": [b"cat", b"dog", b"eel"]})
    )
    ds = load(DataConfig(name="cifar10", options={"path": str(tmp_path), "batches": 1}), 0)
    assert ds.spec.input_shape == (3, 32, 32) and ds.spec.class_names == ("cat", "dog", "eel")
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": Path("x"), b"labels": []}))
    with pytest.raises(DataError, match="refusing to unpickle pathlib"):
        load(DataConfig(name="cifar10", options={"path": str(tmp_path), "batches": 1}), 0)


def test_image_folder_with_class_subfolders(tmp_path: Path) -> None:
    for i, cls in enumerate(("cats", "dogs")):
        (tmp_path / cls).mkdir()
        for k in range(5):
            Image.new("RGB", (10, 12), (40 * k, 100 * i, 0)).save(tmp_path / cls / f"{k}.png")
    ds = load(DataConfig(name="imagefolder", options={"path": str(tmp_path), "size": 8}), 0)
    assert ds.spec.class_names == ("cats", "dogs") and ds.spec.input_shape == (3, 8, 8)
    assert len(ds.y_test) == 2  # 20% of each class
    gray = load(
        DataConfig(name="imagefolder", options={"path": str(tmp_path), "grayscale": True}), 0
    )
    assert gray.spec.input_shape == (1, 32, 32)


@pytest.mark.parametrize(
    ("name", "setup", "needle"),
    [
        ("npz", lambda p: None, "does not exist"),
        ("npz", lambda p: p.write_text("not a zip"), "not an .npz file (numpy.savez writes one)"),
        ("npz", lambda p: p.write_bytes(b"PK\x03\x04cut short"), "not a readable .npz file"),
        ("npz", lambda p: np.savez(p, x=np.zeros((4, 2))), "the file has no array 'y'"),
        (
            "npz",
            lambda p: np.savez(p, x=np.zeros((4, 2)), y=np.zeros(3, int)),
            "x has 4 samples but y has 3",
        ),
        (
            "npz",
            lambda p: np.savez(p, x=np.zeros((4, 2)), y=np.array([0.5] * 4)),
            "labels must be a 1-D array of class ids",
        ),
        ("idx", lambda p: p.mkdir(), "no train-images-idx3-ubyte[.gz] in the folder"),
        ("cifar10", lambda p: p.mkdir(), "no file data_batch_1"),
        ("imagefolder", lambda p: p.mkdir(), "no class subfolders"),
    ],
)
def test_missing_or_malformed_user_files_are_one_line_errors(
    tmp_path: Path, name: str, setup: object, needle: str
) -> None:
    path = tmp_path / ("data.npz" if name == "npz" else "folder")
    setup(path)  # type: ignore[operator]
    with pytest.raises(TrainlabError) as info:
        load(DataConfig(name=name, options={"path": str(path)}), 0)
    msg = str(info.value)
    assert needle in msg and "\n" not in msg


def test_a_csv_read_as_npz_says_to_use_the_csv_loader(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,1\n")
    with pytest.raises(TrainlabError) as info:
        load(DataConfig(name="npz", options={"path": str(path)}), 0)
    assert str(info.value) == (
        f"data.options.path={str(path)!r}: not an .npz file (numpy.savez writes one);"
        " for a CSV file use data.name=csv"
    )  # not numpy's advice to load pickles


def test_a_file_loader_without_a_path_says_so() -> None:
    with pytest.raises(
        ConfigError,
        match=r"data.options.path=None: give the .npz file or folder of .npy files to read",
    ):
        load(DataConfig(name="npz"), 0)


def test_shapes32_is_cifar_shaped_deterministic_and_its_glyphs_differ_from_mirrors() -> None:
    from trainlab.data.shapes import glyphs

    a = load(DataConfig(name="shapes32", options={"n": 40, "n_test": 20}), seed=0)
    b = load(DataConfig(name="shapes32", options={"n": 40, "n_test": 20}), seed=0)
    c = load(DataConfig(name="shapes32", options={"n": 40, "n_test": 20, "seed": 1}), seed=0)
    assert a.x_train.shape[1:] == (3, 32, 32) and a.spec.num_classes == 10
    assert torch.equal(a.x_test, b.x_test) and not torch.equal(a.x_test, c.x_test)
    g = glyphs().reshape(10, -1)
    mirrors = glyphs()[:, :, ::-1].reshape(10, -1)
    assert (g[:, None] != mirrors[None]).sum(
        -1
    ).min() > 0  # a flip never turns one class into another
    assert len({tuple(row) for row in g}) == 10
