"""Landscape along a training trajectory: the top Hessian eigenvalue of a known quadratic, PCA
directions that are orthonormal with the final weights at the origin, and epoch states saved."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from trainlab.inspect.landscape import (
    EpochStates,
    hessian_top_eigenvalue,
    load_states,
    loss_plane,
    pca_trajectory,
    project,
    sharpness,
)


def test_power_iteration_recovers_the_top_eigenvalue_of_a_quadratic() -> None:
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(30, 30, generator=gen, dtype=torch.float64))
    eig = torch.cat(
        [
            torch.tensor([7.5, 4.0], dtype=torch.float64),
            torch.linspace(0.1, 3.0, 28, dtype=torch.float64),
        ]
    )
    a = q @ torch.diag(eig) @ q.T
    x = torch.randn(30, generator=gen, dtype=torch.float64, requires_grad=True)
    top = hessian_top_eigenvalue(lambda: 0.5 * x @ a @ x, [x], iters=200, tol=1e-8)
    assert top == pytest.approx(7.5, rel=0.01)


def _trajectory(tmp_path: object) -> tuple[nn.Module, list[dict[str, torch.Tensor]]]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    saver = EpochStates(tmp_path)  # type: ignore[arg-type]
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    for epoch in range(1, 7):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        saver.on_epoch(epoch, model, {})
    return model, load_states(tmp_path)  # type: ignore[arg-type]


def test_pca_directions_are_orthonormal_and_the_final_point_is_the_origin(tmp_path: object) -> None:
    model, states = _trajectory(tmp_path)
    assert len(states) == 6
    traj = pca_trajectory(model, states)
    d1 = torch.cat([t.flatten().double() for t in traj.d1])
    d2 = torch.cat([t.flatten().double() for t in traj.d2])
    assert float(d1 @ d1) == pytest.approx(1.0, abs=1e-5)
    assert float(d2 @ d2) == pytest.approx(1.0, abs=1e-5)
    assert float(d1 @ d2) == pytest.approx(0.0, abs=1e-5)
    np.testing.assert_allclose(traj.coords[-1], 0.0, atol=1e-12)
    assert traj.explained[0] >= traj.explained[1] > 0 and traj.explained.sum() <= 1 + 1e-9
    # projecting the states on the plane again gives the same coordinates
    np.testing.assert_allclose(project(model, states, traj.d1, traj.d2), traj.coords, atol=1e-4)


def test_loss_plane_at_the_origin_is_the_models_loss_and_weights_are_restored(
    tmp_path: object,
) -> None:
    model, states = _trajectory(tmp_path)
    traj = pca_trajectory(model, states)
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    before = [p.detach().clone() for p in model.parameters()]
    grid = np.array([-1.0, 0.0, 1.0])
    plane = loss_plane(model, x, y, traj.d1, traj.d2, grid, grid)
    with torch.no_grad():
        expected = float(nn.functional.cross_entropy(model(x), y))
    assert plane.loss.shape == (3, 3)
    assert plane.loss[1, 1] == pytest.approx(expected, rel=1e-6)
    assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before, strict=True))


def test_sharpness_of_a_linear_softmax_matches_the_explicit_hessian() -> None:
    torch.manual_seed(1)
    model = nn.Linear(3, 2, bias=False)
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randint(0, 2, (16,))
    model.double()
    w = model.weight.detach().clone()
    h = torch.autograd.functional.hessian(
        lambda v: nn.functional.cross_entropy(x @ v.view(2, 3).T, y), w.flatten()
    )
    top = float(torch.linalg.eigvalsh(h).abs().max())
    assert sharpness(model, x, y, iters=500, tol=1e-10) == pytest.approx(top, rel=0.01)
    assert torch.equal(model.weight, w)


def test_landscape_inspection_draws_the_path_and_sharpness_per_epoch(tmp_path: object) -> None:
    import json
    from pathlib import Path

    from trainlab.errors import ConfigError
    from trainlab.inspect.recipes import default_config, run_inspection
    from trainlab.track.store import Store

    store = Store(Path(str(tmp_path)))
    cfg = default_config(
        "landscape", ["model.name=mlp", "model.options.width=16", "train.epochs=3"]
    )
    result = run_inspection("landscape", store, cfg)
    json.dumps(result.summary.to_json(), allow_nan=False)
    net = result.summary.data["nets"]["mlp"]
    assert net["path"][-1] == [0.0, 0.0] and len(net["path"]) == 3
    assert len(net["sharpness"]) == 3 and all(v > 0 for v in net["sharpness"])
    assert 0 < sum(net["explained"]) <= 1 + 1e-9
    assert {f.file for f in result.summary.figures} == {"trajectory-plane.png", "sharpness.png"}
    again = run_inspection("landscape", store, cfg)  # the saved trajectory is reused, not retrained
    assert again.summary.run_ids == result.summary.run_ids
    assert again.summary.data["nets"]["mlp"]["sharpness"] == pytest.approx(net["sharpness"])
    with pytest.raises(ConfigError, match="--directions='pcb': choose one of pca, random"):
        run_inspection("landscape", store, cfg, directions="pcb")


def test_sharpness_ignores_a_parameter_the_loss_never_uses() -> None:
    class Unused(nn.Module):  # like plainnet's shortcut projections
        def __init__(self) -> None:
            super().__init__()
            self.used = nn.Linear(3, 2)
            self.spare = nn.Linear(3, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.used(x)

    torch.manual_seed(0)
    model, x, y = Unused(), torch.randn(16, 3), torch.randint(0, 2, (16,))
    assert sharpness(model, x, y, iters=200, tol=1e-8) == pytest.approx(
        sharpness(model.used, x, y, iters=200, tol=1e-8), rel=1e-4
    )


def test_landscape_of_a_stored_run_says_it_trains_again_once(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from pathlib import Path

    import torch

    import trainlab
    from trainlab.errors import ConfigError
    from trainlab.inspect.recipes import default_config, run_inspection
    from trainlab.track.store import Store

    store = Store(Path(str(tmp_path)))
    cfg = default_config(
        "landscape", ["model.name=mlp", "model.options.width=16", "train.epochs=2"]
    )
    with pytest.raises(ConfigError, match=r"train\.epochs=2: a trajectory plane needs at least 3"):
        run_inspection("landscape", store, cfg)  # said before anything is trained
    assert store.list_runs() == []
    cfg = cfg.with_overrides({"train.epochs": 3})
    stored = trainlab.run(cfg, store).record
    assert stored is not None
    capsys.readouterr()
    run_inspection("landscape", store, run_id=stored.id)
    said = capsys.readouterr().err
    assert (
        f"run {stored.id} keeps only its final weights, not one set per epoch: training its "
        "config again (3 epochs, same seed) with the state saved after each"
    ) in said
    twins = [r for r in store.list_runs() if r.config_hash == stored.config_hash]
    assert len(twins) == 2  # the same seed on the same machine: the same final weights
    a, b = (torch.load(r.dir / "model.pt", weights_only=True) for r in twins)
    assert all(torch.equal(a[k], b[k]) for k in a)
    run_inspection("landscape", store, run_id=stored.id)  # the saved trajectory is reused
    assert "keeps only its final weights" not in capsys.readouterr().err
