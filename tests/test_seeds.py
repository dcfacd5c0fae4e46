"""Across seeds of a study: each variant's final seeds compared (CKA per layer, attribution maps),
stored in the study's summary as strict JSON and shown in the report beside the verdicts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from test_studies import tiny
from trainlab.inspect.attribution import seed_agreement_of_runs
from trainlab.inspect.seeds import KEY, add_seed_agreement
from trainlab.inspect.similarity import seed_similarity
from trainlab.report import build_report, render, select
from trainlab.studies import StudyOptions, run_grid
from trainlab.track.store import Store


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, str]:
    store = Store(tmp_path_factory.mktemp("seeds"))
    base = tiny(**{"train.epochs": 3})
    result = run_grid(
        base,
        ["optim.name=sgd,adam"],
        seeds=3,
        options=StudyOptions(workers=1, store=store, progress=False),
    )
    return store, result.study_id


def test_seed_agreement_is_stored_as_the_direct_functions_give_it(study: tuple[Store, str]) -> None:
    store, sid = study
    found = add_seed_agreement(store, sid)
    raw = store.get_study(sid)
    stored = raw.summary["data"][KEY]
    assert stored == json.loads(json.dumps(found, allow_nan=False))  # strict JSON, as computed
    on_disk = json.loads((raw.dir / "summary.json").read_text())
    assert on_disk["data"][KEY] == stored and raw.status == "finished"
    assert [v["variant"] for v in stored["variants"]] == ["optim.name=sgd", "optim.name=adam"]
    assert stored["skipped"] == []
    for v in stored["variants"]:
        sims = seed_similarity(store, sid, v["variant"], samples=256, role="final")
        assert v["seeds"] == sims.seeds == [0, 1, 2] and v["pairs"] == 3
        assert [r["layer"] for r in v["cka"]] == sims.layers
        assert [r["mean"] for r in v["cka"]] == pytest.approx(sims.mean.tolist(), abs=1e-9)
        assert [r["min"] for r in v["cka"]] == pytest.approx(sims.low.tolist(), abs=1e-9)
        for r in v["cka"]:
            assert 0.0 <= r["min"] <= r["mean"] <= r["max"] <= 1.0 + 1e-9
        runs = [lk.run.id for lk in store.study_links(sid, "final") if lk.variant == v["variant"]]
        agree = seed_agreement_of_runs(store, runs, "ig", samples=32)
        assert v["attribution"]["mean"] == pytest.approx(agree.mean, abs=1e-9)
        assert -1.0 <= v["attribution"]["min"] <= v["attribution"]["mean"] <= 1.0
        assert v["sentence"].startswith(f"The 3 seeds of {v['variant']} learn the most alike")
        assert "Integrated Gradients maps rank the inputs alike at ρ = " in v["sentence"]


def test_the_report_shows_each_variant_beside_the_verdicts(study: tuple[Store, str]) -> None:
    store, sid = study
    stored = add_seed_agreement(store, sid)
    html = render(build_report(store, select(store, [sid])))
    section = html[html.index('id="study-') :]
    assert section.index("Across seeds: do the seeds learn the same features?") < section.index(
        "Runs behind"
    )
    for v in stored["variants"]:
        title = f"Across seeds: {v['variant']} (CKA per layer, 3 seeds)"
        assert v["sentence"] in section and title in section
        first, own = v["cka"][0], section[section.index(title) :]
        row = re.search(rf"<td>{re.escape(first['layer'])}</td><td class=\"num\">([^<]+)</td>", own)  # fmt: skip
        assert row is not None and float(row.group(1)) == pytest.approx(first["mean"], abs=5e-4)


def test_a_variant_without_checkpoints_is_skipped_with_its_reason(tmp_path: Path) -> None:
    store = Store(tmp_path)
    result = run_grid(
        tiny(),
        ["optim.name=sgd,adam"],
        seeds=2,
        options=StudyOptions(workers=1, store=store, progress=False),
    )
    gone = next(lk.run for lk in store.study_links(result.study_id, "final") if lk.variant == "optim.name=adam")  # fmt: skip
    (gone.dir / "model.pt").unlink()
    found = add_seed_agreement(store, result.study_id)
    assert [v["variant"] for v in found["variants"]] == ["optim.name=sgd"]
    assert found["skipped"] == [
        {"variant": "optim.name=adam", "reason": f"no checkpoint (model.pt) for run {gone.id}"}
    ]
    html = render(build_report(store, select(store, [result.study_id])))
    assert f"not compared: optim.name=adam: no checkpoint (model.pt) for run {gone.id}" in html
