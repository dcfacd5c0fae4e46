"""Shared fixtures: an isolated store per test, one torch thread, a tiny in-memory dataset, and
a local Ray head per test module (with a finder for the Ray workers running a named task)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import pytest
import torch
from torch import nn

from trainlab.data.spec import Dataset, DataSpec

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets its own store and one torch thread (xdist runs tests in parallel)."""
    monkeypatch.setenv("TRAINLAB_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_blobs(n: int = 240, dim: int = 4, classes: int = 3, seed: int = 0) -> Dataset:
    """Gaussian blobs as a vector dataset: learnable in a few epochs by a tiny MLP."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, dim, generator=g) * 3
    y = torch.randint(0, classes, (n,), generator=g)
    x = centers[y] + torch.randn(n, dim, generator=g)
    spec = DataSpec(
        name="blobs",
        kind="vector",
        input_shape=(dim,),
        num_classes=classes,
        class_names=tuple(str(i) for i in range(classes)),
    )
    a, b = int(n * 0.6), int(n * 0.8)
    return Dataset(spec, x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:])


class BoringModel(nn.Module):
    """The smallest classifier with a `features`/`head` split and a dropout layer."""

    def __init__(self, dim: int = 4, classes: int = 3, hidden: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(0.1))
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@pytest.fixture
def blobs() -> Dataset:
    return make_blobs()


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray head on 127.0.0.1 with 2 CPUs, shared by the tests of one module."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def ray_task_pids(task: str) -> list[int]:
    """Ray worker processes executing the function `task` now (Ray names it in the cmdline)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "cmdline").read_bytes().startswith(f"ray::{task}".encode()):
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def sigint_as_at_a_terminal() -> None:
    """`preexec_fn` for a child that a test interrupts with SIGINT, as Ctrl-C would. A job started
    in the background of a non-interactive shell (`make test &`, nohup) inherits SIGINT ignored,
    and Python then keeps ignoring it; a foreground command at a terminal has the default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
