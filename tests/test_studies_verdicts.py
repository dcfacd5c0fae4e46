"""Studies sound by construction: bracketed tuning, failures counted in n, silent equivalences."""

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from trainlab.config import RunConfig
from trainlab.execute import Job, Outcome
from trainlab.studies import StudyOptions, run_optimizers
from trainlab.studies.optimizers import OptimBudget
from trainlab.studies.outcomes import arms, identity
from trainlab.studies.tuning import bracket, quasirandom_points
from trainlab.track.store import Store

TINY = {
    "name": "tiny",
    "data": {"name": "moons", "options": {"n": 200}},
    "model": {"name": "mlp", "options": {"width": 8}},
    "train": {"epochs": 2, "batch_size": 50},
}


def test_bracket_extends_one_step_beyond_an_edge_within_the_allowed_range() -> None:
    grid = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    assert bracket(1.0, grid, 10.0) == 10.0
    assert bracket(1e-4, grid, 10.0) == 1e-5
    assert bracket(1e-2, grid, 10.0) is None  # inside: bracketed
    assert bracket(10.0, [*grid, 10.0], 10.0) is None  # optim.lr allows at most 10


def test_a_best_at_edge_grid_is_extended_and_the_extension_is_shown() -> None:
    store = Store()
    budget = OptimBudget(epochs=2, lrs=(1e-3, 1e-2), seeds=2, tuning_seeds=1, extend=1)
    result = run_optimizers(
        budget,
        optimizers=("adam",),
        schedules=(),
        base=RunConfig.model_validate(TINY),
        options=StudyOptions(workers=1, store=store, progress=False),
    )
    notes = result.summary.data["bracketing"]
    assert len(notes) == 1 and notes[0].startswith("adam: best rate ")
    tried = sorted(
        link.run.config.optim.lr for link in store.study_links(result.study_id, role="tuning")
    )
    assert len(tried) == 3 and (tried[0] == 1e-4 or tried[-1] == 0.1)  # one step beyond an edge
    assert len(result.summary.data["tuning"]["adam"]) == 3
    assert any(t.startswith("Bracketing: adam") for t in result.summary.text)


def _outcome(variant: str, seed: int, status: str, acc: float | None) -> Outcome:
    cfg = RunConfig.model_validate(TINY).with_overrides({"seed": seed, "name": variant})
    run: Any = None
    if acc is not None:
        run = SimpleNamespace(seed=seed, summary={"test_acc": acc}, dir=Path("/nonexistent"))
    return Outcome(Job(variant, cfg, role="final"), status, run)


def test_a_diverged_seed_is_counted_in_n() -> None:
    outs = [_outcome("a", 0, "finished", 0.7), _outcome("a", 1, "diverged", None),
            _outcome("a", 2, "finished", 0.8)]  # fmt: skip
    (arm,) = arms(outs, "f", ["a"], ["test_acc"])
    assert arm.n == 3 and arm.values["test_acc"] == {0: 0.7, 2: 0.8}
    assert arm.planned("test_acc") == {0: 0.7, 1: None, 2: 0.8}  # the diverged seed is entered


def test_adamw_without_weight_decay_is_the_same_configuration_as_adam() -> None:
    base = RunConfig.model_validate(TINY)
    adam = base.with_overrides({"optim.name": "adam", "name": "x"})
    adamw = base.with_overrides({"optim.name": "adamw", "optim.weight_decay": 0.0, "seed": 5})
    decayed = base.with_overrides({"optim.name": "adamw", "optim.weight_decay": 0.01})
    assert identity(adam) == identity(adamw) != identity(decayed)


def test_quasirandom_trials_are_the_same_for_every_optimizer_and_apply_where_they_fit() -> None:
    sgd = quasirandom_points({"optim.name": "sgd", "optim.momentum": 0.9}, 4, (1e-4, 1.0))
    adam = quasirandom_points({"optim.name": "adam"}, 4, (1e-4, 1.0))
    plain = quasirandom_points({"optim.name": "adagrad", "schedule.name": "warmup_cosine"}, 4, (1e-4, 1.0))  # fmt: skip
    assert [p["optim.lr"] for p in sgd] == [p["optim.lr"] for p in adam]
    assert all(1e-4 <= p["optim.lr"] <= 1.0 for p in sgd)
    assert all("optim.momentum" in p for p in sgd) and all("optim.betas" in p for p in adam)
    assert all("optim.momentum" not in p and "warmup_share" in p for p in plain)
    assert [p["optim.betas"][0] for p in adam] == [p["optim.momentum"] for p in sgd]


def test_quasirandom_ruleset_gives_every_optimizer_the_same_trial_count_on_tuning_seeds() -> None:
    store = Store()
    budget = OptimBudget(epochs=1, lrs=(1e-3, 1e-1), seeds=2, tuning_seeds=1, trials=2)
    result = run_optimizers(
        budget,
        optimizers=("sgd", "adam"),
        schedules=(),
        base=RunConfig.model_validate(TINY),
        tuning="quasirandom",
        options=StudyOptions(workers=1, store=store, progress=False, min_effect=0.5),
    )
    tuning = result.summary.data["tuning"]
    assert {len(v) for v in tuning.values()} == {2} and result.summary.data["bracketing"] == []
    (table,) = [t for t in result.summary.tables if t.title.startswith("Tuning:")]
    assert table.columns == ["family", "variant", "setting", "val_acc", "chosen"]  # one row a trial
    assert len(table.rows) == 4
    links = store.study_links(result.study_id, role="tuning")
    assert {link.run.seed for link in links} == {1000} and len(links) == 4
    assert {link.run.config.optim.weight_decay > 0 for link in links} == {True}
    (c,) = result.summary.data["comparison"]["comparisons"]
    assert (
        c["variant"] == "sgd"
        and c["reference"] == "adam"
        and c["test"].startswith("exact sign-flip (4 flips)")
    )
