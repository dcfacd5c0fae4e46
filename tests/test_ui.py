"""`trainlab ui` over a real store (tiny runs trained by `trainlab.run`): the filter language, the
JSON endpoints, grouping over seeds, and the guards (Host header, other origins, path traversal)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import trainlab
from trainlab.cli import main
from trainlab.config import RunConfig, load_config
from trainlab.track.store import Store
from trainlab.ui.app import create_app
from trainlab.ui.groups import mean_ci
from trainlab.ui.runfilter import QueryError, parse

EVIL = "<script>alert(1)</script>"
TINY = {
    "name": "tiny",
    "data": {"name": "moons", "options": {"n": 200}},
    "model": {"name": "mlp", "options": {"width": 8}},
    "train": {"epochs": 2, "batch_size": 50, "checkpoint": "none"},
}


def tiny(**over: Any) -> RunConfig:
    return RunConfig.model_validate(TINY).with_overrides(over)


def build_ui_store(root: Path) -> dict[str, Any]:
    """Three seeds of one adam config, one sgd run and one run named like a script tag."""
    store = Store(root)
    seeds = [trainlab.run(tiny(seed=s, **{"optim.name": "adam"}), store).record for s in (0, 1, 2)]
    sgd = trainlab.run(tiny(name="plain-sgd", **{"optim.name": "sgd"}), store).record
    evil = trainlab.run(tiny(name=EVIL, seed=7, **{"optim.name": "sgd"}), store).record
    assert all(r is not None for r in (*seeds, sgd, evil))
    return {"store": store, "seeds": [r.id for r in seeds if r], "sgd": sgd.id if sgd else "",
            "evil": evil.id if evil else ""}  # fmt: skip


def build_inspection_store(root: Path) -> dict[str, Any]:
    """Every inspection kind (features, attention, inception, residual, recorder, similarity,
    landscape) on tiny
    budgets and a grid study: the kinds whose summaries hold non-finite numbers (features'
    saturation where nothing saturates, residual lesions of blocks that change shape) included."""
    from trainlab.inspect import residual
    from trainlab.inspect.recipes import KINDS, run_inspection
    from trainlab.studies import StudyOptions, run_grid

    store = Store(root)
    one = ["train.epochs=1", "train.checkpoint=none"]
    configs = {
        "features": ["data.name=mnist1d", "data.options.num_samples=200", "model.name=cnn"],
        "attention": ["data.name=seq_pair", "data.options.n=200", "model.name=transformer",
                      "model.options.dim=16"],
        "inception": ["data.name=digits", "model.name=inception", "model.options.width=4",
                      "model.options.depth=2"],
        "residual": ["data.name=mnist1d", "data.options.num_samples=200", "model.name=resnet",
                     "model.options.depth=8", "model.options.width=4"],
        "recorder": ["data.name=moons", "data.options.n=200", "model.name=mlp"],
        "attribution": ["data.name=seq_pair", "data.options.n=200", "model.name=transformer",
                        "model.options.dim=16"],
        "spectrum": ["data.name=moons", "data.options.n=200", "model.name=mlp"],
        "similarity": ["data.name=moons", "data.options.n=200", "model.name=mlp"],
        "landscape": ["data.name=moons", "data.options.n=200", "model.name=mlp"],
    }  # fmt: skip
    epochs = {"landscape": ["train.epochs=3"]}  # a trajectory plane needs 3 saved epochs
    tiny_budget = {"depths": (8,), "more_depths": (), "samples": 64, "steps_1d": 5, "steps_2d": 3}
    studies = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(residual.BUDGETS, "quick", tiny_budget)
        mp.setattr(residual, "LANDSCAPE_SAMPLES", 64)
        mp.setattr(residual, "GRAD_BATCHES", 1)
        for kind in KINDS:
            cfg = load_config(None, configs[kind] + one + epochs.get(kind, []))
            studies[kind] = run_inspection(kind, store, cfg).study_id
    grid = run_grid(
        tiny(name="grid"),
        {"optim.lr": [0.01, 0.1]},
        seeds=2,
        options=StudyOptions(workers=1, store=store, progress=False),
    )
    studies["grid"] = grid.study_id
    return {"store": store, "studies": studies}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build_ui_store(tmp_path_factory.mktemp("ui") / "store")


@pytest.fixture
def client(made: dict[str, Any]) -> TestClient:
    app = create_app(made["store"].root, host="testserver", port=None)
    return TestClient(app, base_url="http://testserver")


def test_every_inspection_kind_and_a_study_are_stored_and_served_as_strict_json(
    tmp_path: Path,
) -> None:
    import sqlite3

    made = build_inspection_store(tmp_path / "store")
    con = sqlite3.connect(made["store"].db_path)
    for table, column in (("runs", "summary"), ("studies", "summary"), ("epochs", "metrics")):
        bad = con.execute(f"SELECT count(*) FROM {table} WHERE NOT json_valid({column})")
        assert bad.fetchone() == (0,), f"{table}.{column} holds non-standard JSON"
    con.close()
    client = TestClient(create_app(made["store"].root, host="testserver", port=None),
                        base_url="http://testserver")  # fmt: skip
    listed = client.get("/api/studies")
    assert listed.status_code == 200
    assert {s["id"] for s in listed.json()} == set(made["studies"].values())
    for kind, sid in made["studies"].items():
        one = client.get(f"/api/study/{sid}")
        assert one.status_code == 200, kind
        folder = made["store"].study_dir(sid) / "summary.json"
        if folder.exists():  # the study folder's copy is strict too
            text = folder.read_text()
            assert "NaN" not in text and "Infinity" not in text, kind
    lesion = client.get(f"/api/study/{made['studies']['residual']}").json()["summary"]["data"]
    # a plain block that changes shape can't be removed: its accuracy was NaN, now null
    assert None in [r["acc"] for r in lesion["lesion"]["plainnet"]]


def test_filter_parses_and_or_parentheses_to_parameters() -> None:
    sql = parse("model.name=cnn and (val_acc>0.9 or status=finished)")
    assert sql.params == ["cnn", 0.9, "finished"]
    assert 'json_extract(config, \'$."model"."name"\')' in sql.where
    assert " OR " in sql.where and " AND " in sql.where
    assert parse("").where == "1"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("val_acc >", "ends too early"),
        ("val_acc 0.9", "expected one of"),
        ("(status=finished", "not closed"),
        ("name='open", "unclosed quote"),
        ("modle.name=cnn", "did you mean model.name"),
        ("status=finished or", "ends too early"),
    ],
)
def test_malformed_filter_is_one_line_naming_the_problem(text: str, words: str) -> None:
    with pytest.raises(QueryError) as exc:
        parse(text, known={"model.name", "val_acc"})
    assert words in str(exc.value) and "\n" not in str(exc.value)


def test_runs_filter_narrows_and_sorts_with_paging(
    client: TestClient, made: dict[str, Any]
) -> None:
    every = client.get("/api/runs").json()
    assert every["total"] == 5
    adam = client.get("/api/runs", params={"q": "optim.name=adam and status=finished"}).json()
    assert {r["id"] for r in adam["rows"]} == set(made["seeds"])
    page = client.get("/api/runs", params={"sort": "seed", "order": "asc", "size": 2, "page": 1})
    body = page.json()
    assert body["total"] == 5 and len(body["rows"]) == 2
    seeds = [r["values"][body["columns"].index("seed")] for r in body["rows"]]
    assert seeds == [1, 2]
    accurate = client.get("/api/runs", params={"q": "val_acc>=0 and name~sgd"}).json()
    assert [r["id"] for r in accurate["rows"]] == [made["sgd"]]


def test_bad_filter_is_400_with_one_line(client: TestClient) -> None:
    resp = client.get("/api/runs", params={"q": "val_acc >> 3"})
    assert resp.status_code == 400
    assert resp.json()["error"].startswith("filter: ")


def test_curves_and_diff_of_selected_runs(client: TestClient, made: dict[str, Any]) -> None:
    ids = [*made["seeds"][:2], made["sgd"]]
    curves = client.get("/api/curves", params={"ids": ",".join(ids), "metric": "val_acc"}).json()
    assert [c["id"] for c in curves] == ids
    assert all(c["epoch"] == [1, 2] and len(c["y"]) == 2 for c in curves)
    assert curves[0]["seconds"][1] > curves[0]["seconds"][0] > 0  # cumulative
    diff = client.get("/api/diff", params={"ids": ",".join(ids)}).json()
    fields = {f["field"]: f["values"] for f in diff["fields"]}
    assert fields["optim.name"] == ["adam", "adam", "sgd"] and fields["seed"] == [0, 1, 0]


def test_grouping_by_seed_gives_one_band_of_three(client: TestClient, made: dict[str, Any]) -> None:
    ids = ",".join(made["seeds"])
    body = client.get("/api/groups", params={"ids": ids, "by": "seed", "metric": "val_acc"}).json()
    (group,) = body["groups"]
    assert group["n"] == 3 and group["band"]["n"] == [3, 3]
    store = made["store"]
    last = [store.epochs(i)[-1]["val_acc"] for i in made["seeds"]]
    assert group["summary"]["mean"] == pytest.approx(sum(last) / 3)
    assert (
        0.0 <= group["band"]["lo"][1] <= group["band"]["mean"][1] <= group["band"]["hi"][1] <= 1.0
    )
    by_opt = client.get("/api/groups", params={"by": "optim.name"}).json()
    assert {g["label"]: g["n"] for g in by_opt["groups"]} == {
        "optim.name=adam": 3,
        "optim.name=sgd": 2,
    }
    # each group's value of each naming field, in `by` order: the chart colours by the first
    # and dashes by the second; seed only collapses runs, so it names nothing
    two = client.get("/api/groups", params={"by": "optim.name, train.epochs, seed"}).json()
    assert [g["fields"] for g in two["groups"]] == [
        {"optim.name": "adam", "train.epochs": 2},
        {"optim.name": "sgd", "train.epochs": 2},
    ]
    # labelled by the fields that differ between the groups, not by those they all share
    assert [g["label"] for g in two["groups"]] == ["optim.name=adam", "optim.name=sgd"]
    one = client.get("/api/groups", params={"ids": ids, "by": "optim.name,train.epochs"}).json()
    assert [g["label"] for g in one["groups"]] == ["optim.name=adam train.epochs=2"]
    assert group["fields"] == {}
    # seeds collapsed, groups are labelled by the fields their configs differ in, never by one
    # run's name: the two sgd runs are named "plain-sgd" and a script tag
    every = client.get("/api/groups", params={"by": "seed"}).json()
    assert [(g["label"], g["n"]) for g in every["groups"]] == [
        ("optim.name=adam", 3),
        ("optim.name=sgd", 2),
    ]
    assert group["label"] == "tiny"  # one group: its runs' common name


def test_interval_is_clipped_to_the_metric_range() -> None:
    ci = mean_ci([0.99, 1.0, 0.9], 0.0, 1.0)
    assert ci["hi"] == 1.0 and ci["lo"] < ci["mean"] < 1.0
    wide = mean_ci([1.0, 2.0, 3.0], None, None)  # t(0.975, 2) = 4.303; sd = 1
    assert wide["hi"] - wide["mean"] == pytest.approx(4.3027 / 3**0.5, rel=1e-4)


def test_run_page_data_and_escaping_is_left_to_the_page(
    client: TestClient, made: dict[str, Any]
) -> None:
    run = client.get(f"/api/run/{made['evil']}").json()
    assert run["name"] == EVIL and len(run["epochs"]) == 2
    assert any(a["path"] == "config.yaml" for a in run["artifacts"])
    page = client.get("/").text
    assert EVIL not in page  # names arrive as JSON and are written with textContent
    js = "".join(client.get(f"/static/{f}").text for f in ("dom.js", "runs.js", "groups.js", "studies.js", "run.js"))  # fmt: skip
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js


def test_wrong_host_and_other_origins_are_refused(made: dict[str, Any]) -> None:
    app = create_app(made["store"].root, host="127.0.0.1", port=8765)
    ok = TestClient(app, base_url="http://127.0.0.1:8765")
    assert ok.get("/api/runs").status_code == 200
    assert "script-src 'self'" in ok.get("/").headers["content-security-policy"]
    assert ok.get("/api/runs", headers={"host": "evil.example:8765"}).status_code == 400
    assert ok.get("/api/runs", headers={"host": "127.0.0.1:9999"}).status_code == 400
    cross = ok.get("/api/runs", headers={"origin": "http://evil.example"})
    assert cross.status_code == 400
    assert ok.get("/api/runs", headers={"sec-fetch-site": "cross-site"}).status_code == 400
    assert ok.post("/api/report", json={"ids": ["x"]}, headers={"origin": "http://evil.example"}).status_code == 400  # fmt: skip


@pytest.mark.parametrize(
    "path",
    ["/files/runs/{id}/..%2F..%2Ftrainlab.db", "/files/runs/{id}/../../trainlab.db",
     "/files/runs/..%2F/trainlab.db", "/files/studies/{id}/%2Fetc%2Fpasswd"],
)  # fmt: skip
def test_artifact_paths_cannot_leave_the_store(
    client: TestClient, made: dict[str, Any], path: str
) -> None:
    resp = client.get(path.format(id=made["sgd"]))
    assert resp.status_code in (400, 404)
    assert b"SQLite" not in resp.content and b"root:" not in resp.content


def test_artifact_inside_the_run_is_served(client: TestClient, made: dict[str, Any]) -> None:
    resp = client.get(f"/files/runs/{made['sgd']}/config.yaml")
    assert resp.status_code == 200 and b"plain-sgd" in resp.content


def test_plotly_is_served_from_our_origin(client: TestClient) -> None:
    resp = client.get("/vendor/plotly.min.js")
    assert resp.status_code == 200 and len(resp.content) > 1_000_000
    assert "cdn" not in client.get("/").text.lower()


def test_cli_unknown_store_and_port_in_use_are_one_line_exit_2(
    tmp_path: Path, made: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ui", "--store", str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["ui", "--store", str(made["store"].root), "--port", str(port)]) == 2
        err = capsys.readouterr().err.strip()
        assert f"--port {port}" in err and "in use" in err and "\n" not in err


def test_cli_without_the_extra_names_the_install_line(tmp_path: Path) -> None:
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, *a):\n"
        "        if name.split('.')[0] in ('starlette', 'uvicorn', 'plotly'): raise ImportError(name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from trainlab.cli import main\n"
        f"sys.exit(main(['ui', '--store', {str(tmp_path)!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocker], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "pip install 'trainlab[ui]'" in done.stderr


def test_report_of_a_selection_writes_the_static_report(
    client: TestClient, made: dict[str, Any]
) -> None:
    resp = client.post("/api/report", json={"ids": [made["sgd"], made["evil"]]})
    assert resp.status_code == 200, resp.text
    path = Path(resp.json()["path"])
    assert path.parent == made["store"].root / "reports"
    html = path.read_text(encoding="utf-8")
    assert "plain-sgd" in html and EVIL not in html  # escaped by the report
    served = client.get(resp.json()["url"])
    assert served.status_code == 200 and b"plain-sgd" in served.content
    assert client.post("/api/report", json={"ids": []}).status_code == 400


def test_live_progress_counts_only_ended_runs_as_done(tmp_path: Path) -> None:
    """While a study trains, the runs in progress are listed as running (not done) and the total
    is the plan's, known before every run has started."""
    from trainlab.execute import Job, execute
    from trainlab.execute.dispatch import record_planned
    from trainlab.execute.unit import run_job
    from trainlab.train.callbacks import Callback
    from trainlab.ui.queries import Reader
    from trainlab.ui.records import study

    store = Store(tmp_path / "store")
    sid = store.open_study("live", "regularization", {"seeds": 3}).id
    jobs = [Job("none", tiny(seed=s)) for s in range(3)]
    seen: list[dict[str, Any]] = []

    class Peek(Callback):
        def on_epoch(self, epoch: int, model: Any, metrics: dict[str, float]) -> None:
            seen.append(study(Reader(store.root), sid)["progress"])

    execute(store, sid, jobs[:2], workers=1, progress=lambda *_: seen.append(
        study(Reader(store.root), sid)["progress"]))  # fmt: skip
    assert [(p["done"], p["running"], p["total"]) for p in seen] == [
        (0, 0, 2),
        (1, 0, 2),
        (2, 0, 2),
    ]
    assert seen[1]["eta_s"] > 0
    seen.clear()
    record_planned(store.study_dir(sid), 3)  # a third run, trained by hand with a peeking callback
    run_job(store, sid, jobs[2], extra=[Peek()])
    assert [(p["done"], p["running"], p["total"]) for p in seen] == [(2, 1, 3), (2, 1, 3)]
    assert seen[0]["eta_s"] > 0
