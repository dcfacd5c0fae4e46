"""Weight spectra (heavy-tailed self-regularisation, Martin & Mahoney): each weight matrix's
empirical spectral density, eigenvalues of WᵀW / N, and the power-law exponent alpha of its tail
fitted with `powerlaw` as WeightWatcher does; per epoch through a training callback.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainlab.inspect.target import Inspection, Output, Target, study_name
from trainlab.plots import spectrum as ps
from trainlab.track.store import Store
from trainlab.track.summary import Summary, Table
from trainlab.train.callbacks import Callback

MIN_EVALS = 10  # WeightWatcher's default min_evals: a layer with fewer eigenvalues is not fitted
BAND = (2.0, 6.0)  # alpha typical of well-trained layers (Martin & Mahoney); a rule of thumb
# powerlaw 2.0 bounds alpha to [0, 3] by default, which would cap every layer below the band's
# middle; WeightWatcher's fits (on powerlaw 1.x) had no such bound.
ALPHA_RANGE = (1.0, 20.0)
EVAL_FLOOR = 1e-10  # eigenvalues below this share of the largest are rank-deficiency zeros
SPECTRUM_FILE = "spectrum.json"  # alpha per layer per epoch, in the run folder of a watched run
MATRIX_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Embedding)


def weight_matrices(model: nn.Module) -> dict[str, list[np.ndarray]]:
    """Each layer's weight as N × M matrices (N ≥ M): a Linear / Embedding weight as it is; a
    conv weight (out, in, k...) as one (out, in) slice per kernel position (WeightWatcher's
    conv2D_Wmats; 1-D convs likewise)."""
    out: dict[str, list[np.ndarray]] = {}
    for name, m in model.named_modules():
        if not isinstance(m, MATRIX_TYPES):
            continue
        weight = m.weight
        assert isinstance(weight, torch.Tensor)
        w = weight.detach().double().cpu()
        slices = [w] if w.ndim == 2 else [w[(..., *k)] for k in np.ndindex(*w.shape[2:])]
        out[name] = [(s if s.shape[0] >= s.shape[1] else s.T).numpy() for s in slices]
    return out


def esd(mats: Sequence[np.ndarray]) -> np.ndarray:
    """Eigenvalues of WᵀW / N of every N × M slice, pooled and sorted (the layer's ESD)."""
    evals = [torch.linalg.svdvals(torch.from_numpy(w)).numpy() ** 2 / w.shape[0] for w in mats]
    return np.sort(np.concatenate(evals)) if evals else np.zeros(0)


@dataclass
class PowerLawFit:
    alpha: float  # p(λ) ∝ λ^-alpha for λ ≥ xmin
    xmin: float
    n_tail: int  # eigenvalues at or above xmin
    ks: float  # Kolmogorov-Smirnov distance of the fit over the tail


def fit_alpha(evals: np.ndarray) -> PowerLawFit:
    """Continuous power law on the tail, xmin by the KS distance and xmax the largest value, as
    WeightWatcher calls `powerlaw.Fit`; alpha searched in ALPHA_RANGE."""
    import powerlaw

    evals = np.asarray(evals, dtype=np.float64)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(
            evals,
            xmax=float(evals.max()),
            verbose=False,
            parameter_ranges={"alpha": list(ALPHA_RANGE)},
        )
        ks = float(fit.power_law.D)
    xmin = float(fit.xmin)
    return PowerLawFit(float(fit.alpha), xmin, int((evals >= xmin).sum()), ks)


@dataclass
class LayerSpectrum:
    name: str
    shape: tuple[int, int]  # N × M of each slice
    slices: int
    evals: np.ndarray
    fit: PowerLawFit | None  # None: too few eigenvalues (see `note`)
    note: str = ""

    @property
    def alpha(self) -> float:
        return self.fit.alpha if self.fit is not None else float("nan")

    def to_json(self) -> dict[str, Any]:
        f = self.fit
        return {
            "layer": self.name,
            "shape": list(self.shape),
            "slices": self.slices,
            "evals": len(self.evals),
            "alpha": _finite(f.alpha) if f else None,
            "xmin": _finite(f.xmin) if f else None,
            "n_tail": f.n_tail if f else None,
            "ks": _finite(f.ks) if f else None,
            "note": self.note,
        }


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def layer_spectra(model: nn.Module, min_evals: int = MIN_EVALS) -> list[LayerSpectrum]:
    """ESD and alpha of every weight layer; a layer with fewer than `min_evals` non-zero
    eigenvalues keeps its ESD, gets no fit, and says so in `note` (WeightWatcher skips it)."""
    layers = []
    for name, mats in weight_matrices(model).items():
        evals = esd(mats)
        evals = (
            evals[evals > EVAL_FLOOR * evals.max()] if len(evals) and evals.max() > 0 else evals[:0]
        )
        shape = (int(mats[0].shape[0]), int(mats[0].shape[1]))
        if len(evals) < min_evals:
            note = f"too small to fit: {len(evals)} eigenvalues < {min_evals}"
            layers.append(LayerSpectrum(name, shape, len(mats), evals, None, note))
            continue
        fit = fit_alpha(evals)
        note = "" if fit.n_tail >= min_evals else f"tail of {fit.n_tail} eigenvalues: a rough fit"
        layers.append(LayerSpectrum(name, shape, len(mats), evals, fit, note))
    return layers


@dataclass
class SpectrumTracker(Callback):
    """A training callback: alpha of every weight layer after each epoch (NaN: too small)."""

    epochs: list[int] = field(default_factory=list)
    alphas: list[dict[str, float | None]] = field(default_factory=list)

    def on_epoch(self, epoch: int, model: nn.Module, metrics: dict[str, float]) -> None:
        self.epochs.append(epoch)
        self.alphas.append({s.name: _finite(s.alpha) for s in layer_spectra(model)})

    def save(self, folder: Path) -> Path:
        """Write the per-epoch alphas as SPECTRUM_FILE into `folder` (a run's folder)."""
        path = folder / SPECTRUM_FILE
        path.write_text(json.dumps({"epochs": self.epochs, "alphas": self.alphas}))
        return path

    @classmethod
    def load(cls, folder: Path) -> SpectrumTracker | None:
        """The alphas a run's folder holds (written while it trained), else None."""
        path = folder / SPECTRUM_FILE
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return cls(list(raw["epochs"]), list(raw["alphas"]))

    def as_arrays(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """epochs (E,) and layer -> (E,) alpha (NaN where not fitted)."""
        names = list(dict.fromkeys(k for a in self.alphas for k in a))
        series = {
            n: np.array([np.nan if a.get(n) is None else a[n] for a in self.alphas], dtype=float)
            for n in names
        }
        return np.asarray(self.epochs), series


def band_word(alpha: float) -> str:
    """Where `alpha` falls against BAND, in words (a rule of thumb, not a verdict)."""
    if not np.isfinite(alpha):
        return "not fitted"
    if alpha < BAND[0]:
        return "below 2 (Martin & Mahoney: possibly over-fit)"
    if alpha > BAND[1]:
        return "above 6 (Martin & Mahoney: possibly under-trained)"
    return "in 2-6 (typical of well-trained layers)"


def inspect_spectrum(
    target: Target, store: Store, tracker: SpectrumTracker | None = None
) -> Inspection:
    """ESD per layer with its fitted tail, alpha per layer against the 2-6 band, and alpha per
    epoch when training was watched (`tracker`, or the run folder's SPECTRUM_FILE)."""
    layers = layer_spectra(target.model)
    if tracker is None and target.record is not None:
        tracker = SpectrumTracker.load(target.record.dir)
    out = Output(store, "inspect-spectrum", study_name("spectrum", target), {}, target.runs())
    out.figure(
        ps.plot_esd(
            [s.name for s in layers],
            [s.evals for s in layers],
            [(s.fit.alpha, s.fit.xmin, s.fit.n_tail) if s.fit else None for s in layers],
            [s.note for s in layers],
        ),
        "esd",
        "Empirical spectral density of each weight layer with its power-law tail",
    )
    out.figure(
        ps.plot_alphas([s.name for s in layers], [s.alpha for s in layers], BAND),
        "alpha",
        "Power-law exponent alpha per layer against the 2-6 band",
    )
    data: dict[str, Any] = {"layers": [s.to_json() for s in layers], "band": list(BAND)}
    if tracker is not None and tracker.epochs:
        epochs, series = tracker.as_arrays()
        out.figure(
            ps.plot_alpha_track(epochs, series, BAND),
            "alpha-over-training",
            "alpha per layer after each epoch",
        )
        data["track"] = {"epochs": tracker.epochs, "alphas": tracker.alphas}
    fitted = [s for s in layers if s.fit is not None]
    verdicts = [f"{s.name}: alpha {s.alpha:.2f}, {band_word(s.alpha)}" for s in fitted]
    verdicts += [f"{s.name}: {s.note}" for s in layers if s.fit is None]
    cols = ["layer", "shape", "slices", "evals", "alpha", "xmin", "n_tail", "ks", "note"]
    rows = [
        [r["layer"], "×".join(map(str, r["shape"])), *[r[c] for c in cols[2:]]]
        for r in data["layers"]
    ]
    summary = Summary(
        kind="inspect-spectrum",
        title=f"Weight spectra of {target.label} on {target.cfg.data.name}",
        text=[
            f"{len(layers)} weight layers, {len(fitted)} fitted. ESD: eigenvalues of WᵀW / N "
            "(conv weights as one N × M slice per kernel position, pooled); alpha: power law "
            f"fitted to the tail by `powerlaw` (xmin by KS distance); layers with fewer than "
            f"{MIN_EVALS} eigenvalues are not fitted. The 2-6 band is Martin & Mahoney's rule "
            "of thumb for well-trained layers, not a verdict."
        ],
        verdicts=verdicts,
        tables=[Table("Weight spectra per layer", cols, rows, note="alpha: p(λ) ∝ λ^-alpha")],
        data=data,
    )
    out.arrays(**{f"evals.{s.name}": s.evals for s in layers})
    return out.finish(summary)
