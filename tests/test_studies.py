"""Each study on a tiny budget: the runs it stores, the statistics, the files and the Summary."""

import dataclasses
import json
import re
from pathlib import Path

import pytest

from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.studies import (
    StudyOptions,
    expand,
    load_reliability,
    parse_vary,
    product,
    run_baselines,
    run_grid,
    run_optimizers,
    run_regularization,
)
from trainlab.studies.baselines import BaselineBudget
from trainlab.studies.optimizers import OptimBudget, choose, families, loss_spikes, to_target
from trainlab.studies.regularization import RegBudget
from trainlab.track.store import Store
from trainlab.track.summary import Summary, slug

TINY = {
    "name": "tiny",
    "data": {"name": "moons", "options": {"n": 200}},
    "model": {"name": "mlp", "options": {"width": 8}},
    "train": {"epochs": 2, "batch_size": 50},
}


def tiny(**over: object) -> RunConfig:
    return RunConfig.model_validate(TINY).with_overrides(dict(over))


def assert_outputs(store: Store, study_id: str, kind: str) -> Summary:
    record = store.get_study(study_id)
    assert record.kind == kind and record.status == "finished"
    summary = Summary.from_json(record.summary)
    assert summary.figures and summary.tables
    for fig in summary.figures:
        assert (record.dir / fig.file).exists()
        assert (record.dir / fig.file).with_suffix(".svg").exists()
        assert (record.dir / fig.file).with_suffix(".pdf").read_bytes().startswith(b"%PDF-")
    assert list(record.dir.glob("*.csv")) and list(record.dir.glob("*.md"))
    for table in summary.tables:  # and each as a LaTeX table: one row per row, every cell there
        tex = (record.dir / slug(table.title)).with_suffix(".tex").read_text()
        rows = [line for line in tex.splitlines() if line.endswith("\\\\")]
        assert len(rows) == len(table.rows) + 1  # the header too
        assert all(len(re.findall(r"(?<!\\)&", row)) == len(table.columns) - 1 for row in rows)
    assert json.loads((record.dir / "summary.json").read_text())["kind"] == kind
    assert set(summary.run_ids) <= set(record.run_ids)
    return summary


def test_product_names_every_combination() -> None:
    variants = product({"optim.name": ["sgd", "adam"], "regularize.dropout": [0, 0.3]})
    assert list(variants) == [
        "optim.name=sgd regularize.dropout=0",
        "optim.name=sgd regularize.dropout=0.3",
        "optim.name=adam regularize.dropout=0",
        "optim.name=adam regularize.dropout=0.3",
    ]
    jobs = expand(tiny(), variants, [0, 1])
    assert len(jobs) == 8 and len({j.hash for j in jobs}) == 8
    assert jobs[1].config.seed == 1 and jobs[2].config.regularize.dropout == 0.3


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ("optim.nam=sgd", ["--vary optim.nam='sgd'", "unknown field 'optim.nam'", "lr"]),
        ("optim.name=sgd,sgdd", ["--vary optim.name='sgdd'", "must be one of"]),
        ("optim.name", ["--vary 'optim.name'", "field=v1,v2"]),
        ("seed=1,2", ["--vary seed", "--seeds"]),
    ],
)
def test_bad_vary_is_one_line_naming_the_field(item: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_vary([item], tiny())
    msg = str(exc.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def test_studies_take_how_to_run_and_store_as_one_frozen_study_options(tmp_path: Path) -> None:
    import trainlab

    assert trainlab.StudyOptions is StudyOptions  # the public API names the same class
    root = tmp_path / "elsewhere"  # not the default store: the option is what chose it
    opts = StudyOptions(workers=1, store=Store(root), name="opts", progress=False, min_effect=0.05)
    result = run_grid(tiny(**{"train.epochs": 1}), ["optim.lr=0.01"], seeds=1, selection_seeds=0, options=opts)  # fmt: skip
    assert result.name == "opts" and result.counts["finished"] == 1
    study = Store(root).get_study("opts")
    assert study.id == result.study_id and study.config["min_effect"] == 0.05
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.workers = 2  # type: ignore[misc]
    calls = {
        "baselines": lambda: run_baselines(workers=1),  # type: ignore[call-arg]
        "optimizers": lambda: run_optimizers(store=Store(root)),  # type: ignore[call-arg]
        "regularization": lambda: run_regularization(min_effect=0.1),  # type: ignore[call-arg]
        "grid": lambda: run_grid(tiny(), ["optim.lr=0.01"], 1, 1),  # type: ignore[misc]
    }  # the old keywords (and the old positional workers) are refused before anything runs
    for call in calls.values():
        with pytest.raises(TypeError, match=r"unexpected keyword|positional argument"):
            call()
    assert [s.name for s in Store(root).list_studies()] == ["opts"]


def test_grid_study_stores_runs_stats_and_figures() -> None:
    store = Store()
    result = run_grid(
        tiny(), ["optim.name=sgd,adam"], seeds=2, options=StudyOptions(workers=1, progress=False)
    )
    # 2 variants x (2 final seeds + 1 selection seed)
    assert result.counts == {"runs": 6, "reused": 0, "finished": 6, "diverged": 0, "failed": 0, "interrupted": 0}  # fmt: skip
    pairs = store.study_runs(result.study_id, "final")
    assert sorted(v for v, _ in pairs) == ["optim.name=adam"] * 2 + ["optim.name=sgd"] * 2
    summary = assert_outputs(store, result.study_id, "grid")
    table = next(t for t in summary.tables if t.title == "Grid: test accuracy per variant")
    assert {r[0] for r in table.rows} == {"optim.name=sgd", "optim.name=adam"}
    means = {r[0]: r[2] for r in table.rows}
    for variant, values in summary.data["test_acc"].items():
        assert means[variant] == pytest.approx(sum(values) / 2, abs=1e-4)
    assert len(summary.verdicts) == 1 and "on test_acc" in summary.verdicts[0]
    comp = summary.data["comparison"]
    assert comp["reference"] == "optim.name=sgd" and comp["selection_metric"] == "val_acc"
    # both variants ran seeds 0 and 1: paired, exact, and the test set's noise counted
    assert comp["comparisons"][0]["test"] == "exact sign-flip (4 flips) + seeds x examples t"
    assert summary.answers and summary.answers[0].startswith("grid: best on validation")


def test_baselines_tiny_beside_the_paper() -> None:
    store = Store()
    result = run_baselines(
        BaselineBudget(seeds=2, epochs=1),
        datasets=("mnist1d",),
        options=StudyOptions(workers=1, progress=False),
    )
    assert result.counts["finished"] == 8
    summary = assert_outputs(store, result.study_id, "baselines")
    paper = summary.tables[0]
    rows = {r[1]: dict(zip(paper.columns, r, strict=True)) for r in paper.rows}
    assert set(rows) == {"logreg", "mlp", "cnn", "gru"}
    assert rows["cnn"]["paper"] == 0.94 and rows["gru"]["paper"] == 0.91
    assert rows["cnn"]["mean - paper"] == pytest.approx(
        rows["cnn"]["test_acc mean"] - 0.94, abs=1e-4
    )
    assert rows["mlp"]["params"] > rows["logreg"]["params"] == 410  # 40 inputs x 10 + 10
    comp = summary.data["comparison"]
    assert comp["references"] == {"mnist1d": "mnist1d/mlp"}
    assert {c["variant"] for c in comp["comparisons"]} == {
        "mnist1d/logreg",
        "mnist1d/cnn",
        "mnist1d/gru",
    }
    assert all(v["n"] == 2 for v in comp["variants"])
    ttt = summary.data["time_to_target"]["mnist1d"]  # the target: the MLP's median final val_acc
    mlp = [o.run.summary["val_acc"] for o in result.outcomes if o.job.variant == "mnist1d/mlp" and o.run]  # fmt: skip
    assert ttt["target"] == pytest.approx(sorted(mlp)[0] / 2 + sorted(mlp)[1] / 2)
    assert set(ttt["variants"]) == {f"mnist1d/{m}" for m in ("logreg", "mlp", "cnn", "gru")}
    assert (
        ttt["variants"]["mnist1d/mlp"]["reached"] >= 1 and ttt["variants"]["mnist1d/mlp"]["n"] == 2
    )
    assert "Baselines on mnist1d: time to target" in [t.title for t in summary.tables]
    assert "performance_profile" not in summary.data  # one dataset: nothing to profile over


def test_optimizers_tiny_tunes_on_tuning_seeds_then_compares_on_fresh_ones() -> None:
    store = Store()
    budget = OptimBudget(epochs=2, lrs=(0.01, 0.3), seeds=2, tuning_seeds=1, extend=0)
    result = run_optimizers(
        budget,
        optimizers=("sgd", "adam"),
        schedules=("constant", "cosine"),
        optimizer="adam",
        base=tiny(),
        options=StudyOptions(workers=1, store=store, progress=False),
    )
    tuning = result.summary.data["tuning"]
    chosen = {**result.summary.data["optimizers"]["chosen"], **result.summary.data["schedules"]["chosen"]}  # fmt: skip
    for variant, lr in chosen.items():
        assert lr == choose({float(k.split("=")[1]): v for k, v in tuning[variant].items()})
    tuned = {link.run.seed for link in store.study_links(result.study_id, role="tuning")}
    final = {link.run.seed for link in store.study_links(result.study_id, role="final")}
    assert tuned == {1000} and final == {0, 1} and not tuned & final
    # adam on the constant schedule is in both families: its runs are shared, not repeated
    assert result.counts["runs"] == len({o.job.hash for o in result.outcomes}) == 6 + 3 * 2
    summary = assert_outputs(store, result.study_id, "optimizers")
    titles = [t.title for t in summary.tables]
    table = summary.tables[titles.index("Tuning: final validation accuracy per setting (tuning seeds)")]  # fmt: skip
    # a learning-rate grid reads as one row per variant, one column per rate
    assert table.columns == ["family", "variant", "lr=0.01", "lr=0.3", "chosen lr"]
    for _family, variant, *cells, lr in table.rows:
        assert lr == chosen[variant] and len(cells) == 2
        assert cells == [round(tuning[variant][k], 4) for k in ("lr=0.01", "lr=0.3")]
    assert any(t.endswith("time to target") for t in titles)
    comp = summary.data["comparison"]
    assert comp["references"] == {"optimizers": "adam", "schedules": "cosine"}
    assert {f.file for f in summary.figures} >= {
        "tuning-curves.png",
        "convergence-optimizers-time.png",
    }


def test_optimizers_paired_with_their_own_schedules_are_tuned_alike() -> None:
    store = Store()
    budget = OptimBudget(epochs=2, lrs=(0.01, 0.3), seeds=2, tuning_seeds=1, extend=0)
    pairs = ("adamw+cosine", "momentum+constant", "sgd")
    result = run_optimizers(
        budget,
        optimizers=pairs,
        schedules=(),
        schedule="step",
        base=tiny(),
        options=StudyOptions(workers=1, store=store, progress=False),
    )
    runs = {role: [link.run for link in store.study_links(result.study_id, role=role)]
            for role in ("tuning", "final")}  # fmt: skip
    for role, per_variant in (("tuning", 2), ("final", 2)):  # 2 rates x 1 seed; 2 fresh seeds
        names = [r.name for r in runs[role]]
        assert sorted(names) == sorted(n for n in pairs for _ in range(per_variant))
    schedules = {r.name: (r.config.optim.name, r.config.schedule.name) for r in runs["final"]}
    assert schedules == {
        "adamw+cosine": ("adamw", "cosine"),
        "momentum+constant": ("sgd", "constant"),
        "sgd": ("sgd", "step"),  # unpaired: the shared --schedule
    }
    summary = assert_outputs(store, result.study_id, "optimizers")
    assert list(summary.data["optimizers"]["chosen"]) == list(pairs)
    tuned = next(t for t in summary.tables if t.title.startswith("Tuning: final validation"))
    assert [row[1] for row in tuned.rows] == list(pairs)
    assert summary.data["comparison"]["references"] == {"optimizers": "adamw+cosine"}


def test_time_to_target_and_loss_spikes() -> None:
    epochs = [
        {"epoch": 1, "step": 10, "seconds": 0.5, "val_acc": 0.4},
        {"epoch": 2, "step": 20, "seconds": 0.5, "val_acc": 0.7},
    ]
    assert to_target(epochs, 0.6) == (2, 20, 1.0)
    assert to_target(epochs, 0.9) is None
    assert loss_spikes([1.0, 0.5, 0.6, 0.7, 0.3, 0.2]) == 1  # 0.7 > 1.25 x 0.5
    assert choose({0.1: 0.5, 0.01: 0.5, 1.0: None}) == 0.01  # ties go to the smaller rate


def test_regularization_tiny_measures_calibration() -> None:
    store = Store()
    budget = RegBudget(seeds=2, epochs=2, methods=("none", "dropout 0.5", "l2 1e-3"))
    result = run_regularization(
        budget, base=tiny(), options=StudyOptions(workers=1, store=store, progress=False)
    )
    assert result.counts["finished"] == 9  # 3 methods x (2 final seeds + 1 selection seed)
    summary = assert_outputs(store, result.study_id, "regularization")
    measures = summary.tables[0]
    assert [r[0] for r in measures.rows] == ["none", "dropout 0.5", "l2 1e-3"]
    assert "ECE" in measures.columns and "gap (train - test)" in measures.columns
    against = next(t for t in summary.tables if t.title == "Against the reference: none")
    assert [(r[1], r[3]) for r in against.rows] == [
        ("dropout 0.5", "test_acc"), ("dropout 0.5", "ece"), ("l2 1e-3", "test_acc"), ("l2 1e-3", "ece"),
    ]  # fmt: skip
    assert summary.data["comparison"]["n_comparisons"] <= 4
    ttt = summary.data["time_to_target"]["regularization"]
    assert list(ttt["variants"]) == ["none", "dropout 0.5", "l2 1e-3"]
    assert ttt["how"] == "median final val_acc of the reference none"
    assert "Regularization: time to target" in [t.title for t in summary.tables]
    assert "performance_profile" not in summary.data
    assert "reliability.png" in {f.file for f in summary.figures}
    run = next(o.run for o in result.outcomes if o.run is not None)
    stored = load_reliability(run)
    assert sum(stored["count"]) == 50  # moons n=200 -> 50 test points
    (run.dir / "reliability.json").unlink()
    rebuilt = load_reliability(run)  # from the checkpoint
    for key in ("confidence", "accuracy", "count"):
        assert rebuilt[key] == pytest.approx(stored[key], abs=1e-6)


def test_unknown_budget_and_methods_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="--budget 'fast': choose one of quick, full"):
        run_baselines("fast", options=StudyOptions(progress=False))
    with pytest.raises(ConfigError, match="--optimizers 'adamax': choose from sgd"):
        run_optimizers(optimizers=("adamax",), options=StudyOptions(progress=False))
    with pytest.raises(ConfigError, match="--methods 'mixup'"):
        run_regularization(methods=("mixup",), options=StudyOptions(progress=False))
    with pytest.raises(ConfigError, match="--seeds 0"):
        run_grid(tiny(), ["optim.name=sgd"], seeds=0, options=StudyOptions(progress=False))


def test_study_folder_lives_in_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "elsewhere")
    result = run_grid(
        tiny(**{"train.epochs": 1}),
        ["optim.lr=0.01"],
        seeds=1,
        options=StudyOptions(workers=1, store=store, progress=False),
    )
    assert result.dir.parent.parent == store.root


def test_optimizer_and_schedule_subsets() -> None:
    only = families(["sgd", "nesterov"], [], "cosine", "momentum", epochs=10)
    assert [f.key for f in only] == ["optimizers"]
    assert only[0].variants["nesterov"] == {  # what the base config set for another optimizer is reset
        "optim.name": "sgd", "optim.momentum": 0.9, "optim.nesterov": True, "schedule.name": "cosine",
        "optim.betas": [0.9, 0.999], "optim.weight_decay": 0.0, "schedule.options": {},
        "schedule.warmup": 0,
    }  # fmt: skip
    sched = families([], ["warmup_cosine"], "constant", "adam", epochs=10)
    assert sched[0].variants["warmup_cosine"]["schedule.warmup"] == 1  # a tenth of the epochs
    with pytest.raises(ConfigError, match="both empty"):
        families([], [], "constant", "momentum", epochs=10)
    with pytest.raises(ConfigError, match="--schedule 'linear': choose from constant"):
        families(["sgd"], [], "linear", "momentum", epochs=10)
