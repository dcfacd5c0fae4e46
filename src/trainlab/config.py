"""RunConfig: the pydantic schema of one experiment, YAML loading, dotted overrides and a stable hash.

A config field, its CLI override, its metric key and its table column share one name (`optim.lr`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trainlab import provenance
from trainlab.errors import ConfigError

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
# Metrics beyond accuracy a classifier can be measured with (`train.metrics`), computed with
# torchmetrics on every validation and on the test set; `file.py:fn` names the user's own.
METRICS = ("f1_macro", "f1_weighted", "precision_macro", "recall_macro", "auroc", "mcc")
SCHEDULES = ("constant", "step", "exponential", "cosine", "onecycle", "warmup_cosine", "plateau")
# Options each schedule accepts (units in the comments); anything else is a typo and an error.
SCHEDULE_OPTIONS: dict[str, tuple[str, ...]] = {
    "constant": (),
    "step": ("step_size", "gamma"),  # step_size in epochs; lr *= gamma every step_size epochs
    "exponential": ("gamma",),  # lr *= gamma every epoch
    "cosine": ("min_lr",),  # cosine from lr to min_lr over all steps
    "onecycle": ("pct_start", "div_factor", "final_div_factor"),
    "warmup_cosine": ("min_lr",),  # linear warm-up over `warmup` epochs, then cosine
    "plateau": ("factor", "patience", "min_lr"),  # patience in epochs, on val_loss
}


class YamlLoader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-3` as a float (PyYAML's YAML 1.1 wants `1.0e-3`)."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_yaml(text: str) -> Any:
    """Parse YAML text with `YamlLoader`."""
    return yaml.load(text, Loader=YamlLoader)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# Settings that change how fast a run goes, not what it learns: kept in the stored config, left
# out of the hash, so e.g. turning on checkpoints after a crash still resumes the same run.
EXECUTION_FIELDS = (
    "train.device",
    "train.threads",
    "train.eval_batch_size",
    "train.checkpoint",
    "data.device_budget",
    "data.workers",
)
# data.device_budget: bytes (an integer), a size ("2GB", "512MiB") or a share of free device
# memory (0.5, "50%"); the data stream from the host when they need more (data/stream.py).
BUDGET_FORMS = "bytes (an integer >= 0), a size like '2GB' or '512MiB', or a share of free memory like 0.5 or '50%'"
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}  # fmt: skip
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(%|[kmgt]i?b?|b)?\s*$", re.IGNORECASE)


def parse_budget(value: int | float | str) -> tuple[str, float]:
    """`data.device_budget` as ("bytes", n) or ("share", 0 < s <= 1); ValueError names the forms."""
    if isinstance(value, bool):
        raise ValueError(f"must be {BUDGET_FORMS}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"must be {BUDGET_FORMS}")
        return "bytes", float(value)
    if isinstance(value, float):  # YAML reads 2e9 as a float: more than 1 is bytes
        if value <= 0.0 or value != value or value == float("inf"):
            raise ValueError(f"must be {BUDGET_FORMS}")
        return ("share", value) if value <= 1.0 else ("bytes", float(int(value)))
    m = _SIZE.match(value)
    if m is None:
        raise ValueError(f"must be {BUDGET_FORMS}")
    number, unit = float(m.group(1)), (m.group(2) or "").lower()
    if unit == "%":
        if not 0.0 < number <= 100.0:
            raise ValueError(f"a share must be in (0%, 100%]; or give {BUDGET_FORMS}")
        return "share", number / 100.0
    return "bytes", float(int(number * _UNITS[unit.removesuffix("b")]))


def _absolute_import_path(v: str) -> str:
    # `file.py:Class` relative to the working directory -> absolute, so worker processes (and a
    # later `inspect --run`) import the same file; load_config first tries the YAML's folder.
    return provenance.absolute(v)


class AugmentConfig(_Strict):
    """Augmentation of training batches on the device (image data only; val and test never).
    Every option is off by default; train/augment.py applies them in this order."""

    crop: int = Field(0, ge=0)  # pixels of padding for a random crop back to H×W (CIFAR: 4); 0 off
    pad: Literal["reflect", "zeros"] = "reflect"  # how the crop's padding is filled
    flip: bool = False  # mirror left-right with probability 1/2
    cutout: float = Field(0.0, ge=0.0, le=1.0)  # probability of zeroing one square per image
    cutout_size: float = Field(0.5, gt=0.0, le=1.0)  # its side / image side (CIFAR cutout: 16/32)
    mix: Literal["none", "mixup", "cutmix"] = "none"  # mix pairs of a batch; soft targets
    alpha: float = Field(1.0, gt=0.0)  # mixing share λ ~ Beta(alpha, alpha), one draw per batch

    @property
    def active(self) -> bool:
        """Whether any option is on (an inactive augment is left out of the hash)."""
        return self != AugmentConfig()


class DataConfig(_Strict):
    name: str = "digits"  # a registered dataset or `file.py:make` / `pkg.mod:make`
    options: dict[str, Any] = Field(default_factory=dict)
    val_fraction: float = Field(0.1, gt=0.0, lt=1.0)  # share of the training pool held out
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    # Execution settings (not hashed): the device memory the data may take (see parse_budget;
    # default half the free memory), and DataLoader worker processes for a torch Dataset class.
    device_budget: int | float | str = 0.5
    workers: int = Field(0, ge=0)

    _abs_name = field_validator("name")(_absolute_import_path)

    @field_validator("device_budget", mode="before")
    @classmethod
    def _known_budget(cls, v: Any) -> Any:
        if not isinstance(v, int | float | str):
            raise ValueError(f"must be {BUDGET_FORMS}")
        parse_budget(v)  # before coercion, so `true` is not read as 1 byte
        return v


class ModelConfig(_Strict):
    name: str = "mlp"  # a registered model or `file.py:Class` / `pkg.mod:Class` (or a factory)
    options: dict[str, Any] = Field(default_factory=dict)

    _abs_name = field_validator("name")(_absolute_import_path)


class OptimConfig(_Strict):
    name: Literal["sgd", "adam", "adamw", "rmsprop", "adagrad"] = "adam"
    # Defaults are a recipe measured on the built-in data (mnist1d CNN 0.94, digits CNN 0.98).
    lr: float = Field(1e-2, gt=0.0, le=10.0)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)  # sgd and rmsprop
    nesterov: bool = False  # sgd only, needs momentum > 0
    betas: tuple[float, float] = (0.9, 0.999)  # adam, adamw
    eps: float = Field(1e-8, gt=0.0)
    # The optimizer's own weight decay: decoupled for adamw, coupled (added to the gradient) for the
    # others. `regularize.l2` is the explicit penalty on the loss instead.
    weight_decay: float = Field(0.0, ge=0.0)

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= b < 1.0 for b in v):
            raise ValueError("both betas must be in [0, 1)")
        return v


class ScheduleConfig(_Strict):
    name: Literal[
        "constant", "step", "exponential", "cosine", "onecycle", "warmup_cosine", "plateau"
    ] = "cosine"
    options: dict[str, float] = Field(default_factory=dict)
    warmup: int = Field(0, ge=0)  # epochs of linear warm-up (warmup_cosine; others ignore it)


class RegularizeConfig(_Strict):
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # passed to the model's dropout layers
    l1: float = Field(0.0, ge=0.0)  # coefficient of sum |w| added to the loss (weights, not biases)
    l2: float = Field(0.0, ge=0.0)  # coefficient of sum w^2 / 2 added to the loss (coupled L2)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    grad_clip: float | None = Field(None, gt=0.0)  # max global gradient L2 norm


class TrainConfig(_Strict):
    epochs: int = Field(40, ge=1, le=100_000)
    batch_size: int = Field(100, ge=1)  # samples per optimizer step
    device: str = "cpu"  # cpu, cuda, cuda:N, mps or auto
    threads: int | None = Field(None, ge=1)  # torch intra-op threads; None = cores available
    early_stopping: int | None = Field(None, ge=1)  # patience in epochs on val_acc
    checkpoint: Literal["none", "end", "every_epoch"] = "end"
    eval_batch_size: int = Field(1024, ge=1)
    # True: torch.use_deterministic_algorithms + cuDNN deterministic, no cuDNN benchmark.
    deterministic: bool = True
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # autocast dtype; fp16 adds a grad scaler
    compile: bool = False  # opt-in torch.compile of the model
    channels_last: bool = False  # NHWC memory layout for conv nets on image data
    # Measured at every validation and on test, stored as val_<name> / test_<name>: names from
    # METRICS or `file.py:fn` ((logits or predictions, labels) -> float). Training is unchanged;
    # the hash covers the list only when it is not empty (so every older config keeps its hash).
    metrics: list[str] = Field(default_factory=list)

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in METRICS and not provenance.is_import_path(name):
                raise ValueError(
                    f"unknown metric {name!r}; choose from {', '.join(METRICS)} or file.py:function"
                )
        if len(set(v)) < len(v):
            raise ValueError("names a metric twice")
        return [provenance.absolute(name) for name in v]

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        ok = v in ("cpu", "cuda", "mps", "auto") or (v.startswith("cuda:") and v[5:].isdigit())
        if not ok:
            raise ValueError("must be one of cpu, cuda, cuda:N, mps, auto")
        return v


class RunConfig(_Strict):
    name: str = "run"
    seed: int = Field(0, ge=0, lt=2**31)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    regularize: RegularizeConfig = Field(default_factory=RegularizeConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    def canonical_json(self) -> str:
        """Sorted-key JSON of every field but `name`: two configs that train alike serialise alike."""
        return json.dumps(_payload(self), sort_keys=True, separators=(",", ":"))

    def hash(self) -> str:
        return config_hash(self)

    def with_overrides(self, overrides: dict[str, Any] | list[str]) -> RunConfig:
        """A validated copy with dotted overrides applied (`{"optim.lr": 0.01}` or `["optim.lr=0.01"]`)."""
        pairs = parse_overrides(overrides) if isinstance(overrides, list) else overrides
        raw = self.model_dump(mode="python")
        for key, value in pairs.items():
            _set_dotted(raw, key, value)
        return validate(raw)


def config_hash(cfg: RunConfig) -> str:
    """12 hex digits of sha256 over what is trained: the canonical JSON without `name` and the
    EXECUTION_FIELDS, plus the sha256 of the user's model source and data files it names."""
    payload = _payload(cfg)
    for key in EXECUTION_FIELDS:
        section, field = key.split(".")
        payload[section].pop(field, None)
    payload["code"] = provenance.code_digests(cfg.model.name, cfg.data.name, cfg.data.options)
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _payload(cfg: RunConfig) -> dict[str, Any]:
    """Every field but `name`; `train.metrics` only when set and `data.augment` only when some
    option is on, so a config from before those fields existed (and every config without them)
    keeps its hash, its stored runs and its search's name."""
    payload = cfg.model_dump(mode="json", exclude={"name"})
    if not payload["train"]["metrics"]:
        del payload["train"]["metrics"]
    if not cfg.data.augment.active:
        payload["data"].pop("augment")
    return payload


def validate(raw: dict[str, Any]) -> RunConfig:
    """Build a RunConfig, turning pydantic's report into one line naming field, value and rule."""
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None
    _check_cross_fields(cfg)
    return cfg


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read a YAML experiment file (or the defaults), apply `key=value` overrides, validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            loaded = read_yaml(p.read_text())
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"config file {str(p)!r} is not valid YAML{where}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"config file {str(p)!r} must hold a mapping of fields, not a list or value"
            )
        raw = loaded
    for key, value in parse_overrides(overrides or []).items():
        _set_dotted(raw, key, value)
    if path is not None:
        for section in ("model", "data"):  # `mynet.py:Net` is relative to the YAML's folder
            part = raw.get(section)
            if isinstance(part, dict) and isinstance(part.get("name"), str):
                part["name"] = provenance.absolute(part["name"], Path(path).parent.resolve())
    return validate(raw)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`["optim.lr=0.01", "model.options.width=64"]` -> {"optim.lr": 0.01, ...}; values parsed as YAML."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like field=value, e.g. optim.lr=0.01")
        try:
            out[key] = read_yaml(text) if text.strip() else ""
        except yaml.YAMLError:
            out[key] = text
    return out


def get_dotted(cfg: RunConfig, key: str) -> Any:
    """The value at a dotted path (`optim.lr`, `model.options.width`); KeyError-free: None if absent."""
    node: Any = cfg.model_dump(mode="python")
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys (`{"optim": {"lr": 0.1}}` -> `{"optim.lr": 0.1}`); an empty
    dict stays one key."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = {}
            node[part] = nxt
        if not isinstance(nxt, dict):
            raise ConfigError(
                f"override {key!r}: {'.'.join(parts[: i + 1])} is a value, not a section"
            )
        node = nxt
    node[parts[-1]] = copy.deepcopy(value)


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "config"
    value = err.get("input")
    if err["type"] == "extra_forbidden":
        parent = err["loc"][:-1]
        allowed = _fields_at(parent)
        return f"unknown field {field!r}; allowed here: {', '.join(allowed)}"
    msg = err["msg"]
    if err["type"] == "literal_error":
        msg = msg.replace("Input should be ", "must be one of ")
    else:
        msg = msg[0].lower() + msg[1:]
    more = len(exc.errors()) - 1
    tail = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return f"{field}={value!r}: {msg}{tail}"


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = RunConfig
    for part in loc:
        ann = model.model_fields[str(part)].annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            return []
    return list(model.model_fields)


def _check_cross_fields(cfg: RunConfig) -> None:
    allowed = SCHEDULE_OPTIONS[cfg.schedule.name]
    for key in cfg.schedule.options:
        if key not in allowed:
            choices = ", ".join(allowed) or "none"
            raise ConfigError(
                f"schedule.options.{key}: not an option of schedule {cfg.schedule.name!r}; allowed: {choices}"
            )
    if cfg.optim.nesterov and (cfg.optim.name != "sgd" or cfg.optim.momentum <= 0):
        raise ConfigError(
            f"optim.nesterov=True needs optim.name='sgd' and optim.momentum > 0 "
            f"(got {cfg.optim.name!r}, momentum={cfg.optim.momentum})"
        )
    if cfg.schedule.name == "warmup_cosine" and cfg.schedule.warmup >= cfg.train.epochs:
        raise ConfigError(
            f"schedule.warmup={cfg.schedule.warmup}: must be fewer than train.epochs={cfg.train.epochs}"
        )
