"""How runs execute, set once by the CLI (`with use(ExecSettings(...))`) or passed to `execute`:
the executor (local pool or Ray), vectorized seeds, GPUs for the workers, Ray resources."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from trainlab.errors import ConfigError

EXECUTORS = ("local", "ray")
VECTORIZE = ("auto", "off")


@dataclass(frozen=True)
class ExecSettings:
    executor: str = "local"  # local: this machine's warm pool | ray: Ray tasks
    vectorize: str = "off"  # auto: the seeds of one config train as one stacked model | off
    devices: tuple[str, ...] = ()  # CUDA devices, one per worker in turn ("cuda:0", "cuda:1")
    ray_address: str | None = None  # None: start a local Ray on 127.0.0.1
    run_cpus: float = 1.0  # CPUs each Ray task reserves
    run_gpus: float = 0.0  # GPUs each Ray task reserves (fractional: several runs per GPU)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ConfigError(f"--executor {self.executor!r}: choose one of local, ray")
        if self.run_cpus <= 0:
            raise ConfigError(f"--run-cpus {self.run_cpus}: must be > 0")
        if self.run_gpus < 0:
            raise ConfigError(f"--run-gpus {self.run_gpus}: must be >= 0")
        if self.vectorize not in VECTORIZE:
            raise ConfigError(f"--vectorize {self.vectorize!r}: choose one of auto, off")
        for d in self.devices:
            if not (d.startswith("cuda:") and d[5:].isdigit()):
                raise ConfigError(f"--devices {d!r}: give cuda:N devices (cuda:0,cuda:1) or auto")


_CURRENT: ContextVar[ExecSettings | None] = ContextVar("trainlab_exec_settings", default=None)


def current() -> ExecSettings:
    """The settings in force: the innermost `use(...)`, else the defaults."""
    return _CURRENT.get() or ExecSettings()


@contextmanager
def use(settings: ExecSettings) -> Iterator[ExecSettings]:
    """Run every study inside this block with `settings` (the CLI sets it once per command)."""
    token = _CURRENT.set(settings)
    try:
        yield settings
    finally:
        _CURRENT.reset(token)


def parse_devices(text: str | None) -> tuple[str, ...]:
    """`cuda:0,cuda:1` -> the devices; `auto` -> every CUDA device here; None or '' -> none."""
    if not text:
        return ()
    if text.strip() == "auto":
        import torch

        n = torch.cuda.device_count()
        if n == 0:
            raise ConfigError("--devices auto: no CUDA device is visible here")
        return tuple(f"cuda:{i}" for i in range(n))
    return tuple(d.strip() for d in text.split(",") if d.strip())


def check_visible(devices: tuple[str, ...]) -> None:
    """Each of `devices` (valid cuda:N names) is a CUDA device this machine has: else one line
    before anything runs, where each run would fail on its own."""
    if not devices:
        return
    import torch

    n = torch.cuda.device_count()
    for d in devices:
        if int(d[5:]) >= n:
            have = f"cuda:0 to cuda:{n - 1}" if n else "none"
            raise ConfigError(f"--devices {d!r}: no such CUDA device here (visible: {have})")
