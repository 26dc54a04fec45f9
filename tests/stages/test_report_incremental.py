"""The incremental report (``incremental: true``) gives the bytes a from-scratch report gives, after any history
of added, changed and deleted threat records (and unreadable files), while reading only the changes."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pipeline.builders import commit, make_app, make_pipelines, tree
from vigil.app import App

SPEC = """
pipeline: {{name: {name}}}
input: {{pfs: {{repo: threat, glob: "/"}}}}
incremental: {incremental}
transform: {{stage: report, params: {{input: threat, timezone: Europe/Paris}}}}
"""
PATHS = [f"/cam{c}/{1511891000 + 40000 * i:010d}.json" for c in range(3) for i in range(3)] + ["/cam1/bad.json"]


def record(path: str, n_events: int, label: str) -> bytes:
    camera, name = path.strip("/").split("/")
    if not name[0].isdigit():
        return b"{not json"
    ts = int(name.split(".")[0])
    events = [{"rule_id": f"r{k}", "severity": "high" if k else "low",
               "objects": [{"label": label}, {"label": "person"}][: k + 1]} for k in range(n_events)]
    return json.dumps({"camera": camera, "device": camera, "ts": ts, "events": events}).encode()


step = st.dictionaries(st.sampled_from(PATHS), st.one_of(st.none(), st.tuples(st.integers(0, 2),
                                                                               st.sampled_from(["car", "dog"]))),
                       min_size=1, max_size=4)


def apply(app: App, changes: dict[str, tuple[int, str] | None]) -> bool:
    present = {f.path for f in app.store.list_files("threat")} if app.store.head("threat") else set()
    files = {p: (None if v is None else record(p, *v)) for p, v in changes.items() if v is not None or p in present}
    if files:
        commit(app.store, "threat", files)
    return bool(files)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=6))
def test_incremental_report_equals_a_report_from_scratch(tmp_path_factory, steps) -> None:
    app = make_app(tmp_path_factory.mktemp("ws"))
    app.store.create_repo("threat")
    for name, incremental in (("inc", "true"), ("full", "false")):
        make_pipelines(app, SPEC.format(name=name, incremental=incremental))
    for changes in steps:
        if not apply(app, changes):
            continue
        jobs = {j.pipeline: j for j in app.run()}
        assert jobs["inc"].state == "SUCCESS", jobs["inc"]
        assert tree(app.store, "inc") == tree(app.store, "full")
    app.executor.close()


def test_the_incremental_report_reads_only_the_changed_records(tmp_path: Path) -> None:
    app = make_app(tmp_path / "ws")
    app.store.create_repo("threat")
    make_pipelines(app, SPEC.format(name="inc", incremental="true"))
    commit(app.store, "threat", {p: record(p, 1, "car") for p in PATHS[:8]})
    app.run()
    reads: list[str] = []
    original = app.store.objects.open

    def counting_open(oid: str):  # type: ignore[no-untyped-def]
        reads.append(oid)
        return original(oid)

    app.store.objects.open = counting_open  # type: ignore[method-assign]
    commit(app.store, "threat", {PATHS[8]: record(PATHS[8], 2, "dog")})
    # the report job's own reads: the runner alone (app.run's duties, e.g. the alert outbox, read new records too)
    (job,) = app.runner.run_once("inc").jobs
    assert job.state == "SUCCESS"
    assert len(reads) == 2  # the previous report's JSON and the one new record, not the other 8
    report = json.loads(app.store.read_bytes("inc", None, "/daily_report.json"))
    assert report["frames"]["evaluated"] == 9 and report["events"] == 10


def test_deleting_every_record_then_adding_again_matches_from_scratch(tmp_path: Path) -> None:
    app = make_app(tmp_path / "ws")
    app.store.create_repo("threat")
    for name, incremental in (("inc", "true"), ("full", "false")):
        make_pipelines(app, SPEC.format(name=name, incremental=incremental))
    for changes in ({PATHS[0]: (1, "car")}, {PATHS[0]: None}, {PATHS[3]: (2, "dog")}):
        assert apply(app, changes)
        assert all(j.state in ("SUCCESS", "EMPTY") for j in app.run())
        assert tree(app.store, "inc") == tree(app.store, "full")
    assert json.loads(app.store.read_bytes("inc", None, "/daily_report.json"))["events"] == 2
