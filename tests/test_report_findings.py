"""Findings lead with each study's corrected answers and print every verdict once; old summaries
still render; runs outside studies are grouped (one table, one figure per group)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainlab.cli import main
from trainlab.config import RunConfig
from trainlab.errors import ConfigError
from trainlab.report import build_report, render, select
from trainlab.track.store import Store
from trainlab.track.summary import Summary

VERDICT = "adam vs sgd on val_acc: better (p_adj=0.01, Holm over 2, n=5)"
ANSWER = "best on validation: adam; not distinguishable after Holm over 2: rmsprop"


def _study(store: Store, name: str, answers: list[str]) -> str:
    record = store.open_study(name, "optimizers", {"seeds": 5})
    summary = Summary("optimizers", f"Optimizers {name}", verdicts=[VERDICT], answers=answers)
    store.finish_study(record.id, summary.to_json())
    return record.id


def test_findings_lead_with_answers_and_each_verdict_is_printed_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    _study(store, "new", [ANSWER])
    report = build_report(store, select(store, ["new"]))
    (finding,) = report.findings
    assert [v.text for v in finding.items] == [ANSWER] and finding.corrected
    html = render(report)
    assert html.count(ANSWER) == 1 and html.count(VERDICT) == 1  # verdict: in the section only
    assert html.index(ANSWER) < html.index(VERDICT)


def test_an_inspections_measurements_are_not_called_uncorrected(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    record = store.open_study("feat", "inspect-features", {})
    summary = Summary("inspect-features", "Features", verdicts=["no dead units in any layer"])
    store.finish_study(record.id, summary.to_json())
    (finding,) = build_report(store, select(store, ["feat"])).findings
    assert [v.text for v in finding.items] == ["no dead units in any layer"] and finding.corrected
    assert "without multiplicity correction" not in render(
        build_report(store, select(store, ["feat"]))
    )


def test_an_old_summary_without_answers_falls_back_to_its_verdicts_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    sid = _study(store, "old", [])
    raw = store.get_study(sid).summary
    raw.pop("answers")  # written before the field existed
    store.finish_study(sid, raw)
    report = build_report(store, select(store, ["old"]))
    (finding,) = report.findings
    assert [v.text for v in finding.items] == [VERDICT] and not finding.corrected
    html = render(report)
    assert html.count(VERDICT) == 1 and "without multiplicity correction" in html


def _runs(store: Store, n: int) -> list[str]:
    ids = []
    for i in range(n):
        data = "digits" if i % 2 else "moons"
        cfg = RunConfig().with_overrides({"name": f"r{i}", "seed": i, "data.name": data})
        record = store.create_run(cfg, {"python": "3"})
        for epoch in (1, 2):
            acc = 0.5 + 0.1 * epoch + 0.01 * i
            store.log_epoch(
                record.id, epoch, {"epoch": epoch, "val_acc": acc, "val_loss": 1 / epoch}
            )
        store.finish_run(record.id, "finished", {"test_acc": 0.6 + 0.01 * i, "val_acc": acc})
        ids.append(record.id)
    return ids


def test_all_groups_standalone_runs_one_table_and_one_figure_per_group(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    ids = _runs(store, 4)
    report = build_report(store, select(store, everything=True))
    (group,) = report.groups
    assert group.key == "grouped" and group.compare is not None
    assert len(group.compare.rows) == 4 and "group" in group.compare.columns
    assert [s.title for s in group.sections] == ["digits · mlp", "moons · mlp"]
    assert all(len(s.figures) == 1 for s in group.sections)
    paragraphs = [p for s in group.sections for p in s.paragraphs]
    assert paragraphs[0].startswith("test_acc over 2 finished runs: median 0.62,")  # 0.61, 0.63
    html = render(report)
    assert all(f'id="run-{i}"' not in html for i in ids)
    chosen = build_report(store, select(store, [ids[3]], everything=True))
    assert [g.key for g in chosen.groups] == ["runs", "grouped"]
    assert len(chosen.groups[1].compare.rows) == 3  # type: ignore[union-attr]
    by_name = build_report(store, select(store, everything=True), group_by="data.name")
    assert [s.title for s in by_name.groups[0].sections] == ["digits", "moons"]
    with pytest.raises(ConfigError, match=r"--group-by 'optim\.nope'"):
        build_report(store, select(store, everything=True), group_by="optim.nope")


def test_cli_run_option_adds_a_runs_own_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(tmp_path / "store")
    ids = _runs(store, 3)
    out = tmp_path / "r.html"
    args = ["report", "--all", "--run", ids[0], "--store", str(store.root), "--out", str(out)]
    assert main([*args, "--group-by", "data.name"]) == 0
    html = out.read_text()
    assert f'id="run-{ids[0]}"' in html and f'id="run-{ids[1]}"' not in html
    assert main(["report", "--all", "--group-by", "nope", "--store", str(store.root)]) == 2
    assert "--group-by 'nope'" in capsys.readouterr().err
