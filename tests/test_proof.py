"""Proof (issue 17): every event of the demo reproduces bit for bit, in this process and in the stages' container
images; jobs and output commits record their code identity; a stage that does not reproduce is named with the
first differing field, and a code change since the run is listed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.console import MISSING, VIGIL
from tests.containers import require_images
from tests.shared_data import SHARED, require
from vigil.app import App
from vigil.demo import run_demo
from vigil.domain.access import Principal
from vigil.errors import NotFoundError, NotReproducedError
from vigil.index.events import EventQuery
from vigil.pipeline import identity
from vigil.pipeline import state as t
from vigil.store import schema as s
from vigil.store.database import transaction

CAMERA_STAGES = ["validate", "motion", "detect", "threat"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    root = tmp_path_factory.mktemp("proof")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIGIL_MIRROR", f"{require(SHARED / 'models')}:{require(SHARED / 'data' / 'seed')}")
        mp.setenv("VIGIL_CACHE", str(root / "cache"))
        run_demo(root / "demo")
        app = App.open(root / "demo")
        app.rebuild_indexes()
        yield app
        app.close()


def _event_ids(app: App) -> list[str]:
    page = app.events(Principal("test", "admin"), EventQuery(limit=100))
    return [e["event_id"] for e in page.events]


def test_jobs_and_output_commits_record_their_code_identity(demo: App) -> None:
    with transaction(demo.store.engine) as conn:
        jobs = conn.execute(select(t.jobs.c.pipeline, t.jobs.c.code_digest, t.jobs.c.output_commit)).all()
        docs = {r.digest: json.loads(r.doc) for r in conn.execute(select(s.code_identities))}
        commits = dict(conn.execute(select(s.commits.c.id, s.commits.c.code_digest)).all())
    assert jobs and all(digest in docs for _, digest, _ in jobs)
    for pipeline, digest, commit in jobs:
        doc = docs[digest]
        assert doc["pipeline"] == pipeline and doc["reproducible"], doc.get("why_not")
        assert commits[commit] == digest  # the output commit names the same identity
    detect = next(docs[d] for p, d, _ in jobs if p == "detect")
    modules = detect["code"]["modules"]
    assert "vigil/stages/detect.py" in modules and "vigil/vision/yolox.py" in modules
    assert modules["vigil/stages/detect.py"] == identity.module_hashes("vigil.stages.detect", "vigil")[
        "vigil/stages/detect.py"]
    assert detect["environment"]["libraries"]["onnxruntime"] and detect["spec_doc"]["transform"]["stage"] == "detect"


def test_every_demo_event_reproduces_in_process(demo: App) -> None:
    events = _event_ids(demo)
    assert len(events) == 6
    for event_id in events:
        result = demo.reproduce(event_id)
        assert result.identical, result.to_dict()
        assert [step.pipeline for step in result.steps] == CAMERA_STAGES
        assert all(old == new and old for step in result.steps for old, new in step.outputs.values())
        assert not result.code_changes and not result.environment_changes
    assert len(demo.audit_log(action="reproduce")) >= 6  # each re-derivation is itself audited


def test_every_demo_event_reproduces_in_the_stages_containers(demo: App) -> None:
    require_images()
    for event_id in _event_ids(demo):
        result = demo.reproduce(event_id, container=True)
        assert result.identical, result.to_dict()
        assert [step.pipeline for step in result.steps] == CAMERA_STAGES


def test_targets_that_are_not_results_say_what_to_give(demo: App) -> None:
    with pytest.raises(NotFoundError, match="not a pipeline's output repo"):
        demo.reproduce("images:/dev1_1511891098.jpg")
    with pytest.raises(NotFoundError, match="no event"):
        demo.reproduce("0" * 64)


NOISY = '''
import itertools, json, os
_calls = itertools.count()

def run(ctx):
    (frame,) = ctx.files("images")
    seen = {"pid": os.getpid(), "run": next(_calls)}
    return {frame.path + ".json": json.dumps({"path": frame.path, "seen": seen}).encode()}
'''

NOISY_SPEC = """
pipeline: {name: noisy}
input: {pfs: {repo: images, glob: "/*"}}
transform: {python: "noisy_stage_for_proof:run"}
"""


@pytest.mark.skipif(MISSING, reason="the `vigil` console script is not installed")
def test_a_stage_that_does_not_reproduce_is_named_with_its_first_differing_field(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "noisy_stage_for_proof.py").write_text(NOISY)
    monkeypatch.syspath_prepend(str(code))
    app = App.init(tmp_path / "ws")
    app.store.create_repo("images")
    with app.store.begin_commit("images") as c:
        c.put_bytes("/a.jpg", b"frame a")
    (tmp_path / "spec.yaml").write_text(NOISY_SPEC)
    app.create_pipelines(tmp_path / "spec.yaml")
    app.run()
    result = app.reproduce("noisy@master:/a.jpg.json")
    assert not result.identical
    first = result.first_difference
    assert first is not None and first.pipeline == "noisy"
    assert first.difference == "/a.jpg.json: field seen.run: recorded 0, now 1"
    with transaction(app.store.engine) as conn:
        (doc,) = [json.loads(r.doc) for r in conn.execute(select(s.code_identities))]
    assert list(doc["code"]["modules"]) == ["noisy_stage_for_proof.py"] and doc["reproducible"]
    # The module changed since the run: a fresh process says which file (and still that it differs).
    (code / "noisy_stage_for_proof.py").write_text(NOISY + "\n# edited\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(code), *sys.path])}
    env.pop("VIGIL_WORKSPACE", None)
    done = subprocess.run([str(VIGIL), "reproduce", "noisy:/a.jpg.json"], cwd=tmp_path / "ws", env=env,
                          capture_output=True, text=True)
    assert done.returncode == NotReproducedError.exit_code, done.stderr
    assert "first difference in stage noisy" in done.stderr and "field seen.pid" in done.stderr
    assert "code changed since: noisy: noisy_stage_for_proof.py" in done.stdout, done.stdout


def test_retention_deletes_old_frames_and_every_event_stays_provable(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_MIRROR", f"{require(SHARED / 'models')}:{require(SHARED / 'data' / 'seed')}")
    monkeypatch.setenv("VIGIL_CACHE", str(tmp_path / "cache"))
    run_demo(tmp_path / "demo")
    config = tmp_path / "demo" / ".vigil" / "vigil.yaml"
    config.write_text(config.read_text() + "retention:\n- {name: frames-30d, frames_days: 30}\n")
    app = App.open(tmp_path / "demo")
    app.rebuild_indexes()
    events = _event_ids(app)
    records = {e: app.event(Principal("test", "admin"), e) for e in events}
    quiet = "/dev2/1511891326.json"  # the dog: a valid frame that raised no event
    assert app.reproduce(f"detect:{quiet}").identical

    dry = app.retention_apply(dry_run=True)
    assert dry.frames == {"frames-30d": 1} and dry.kept_for_events == 6
    assert app.store.objects.exists(_frame_oid(app, quiet))
    report = app.retention_apply()  # the demo's frames are from 2017: all past 30 days
    assert report.frames == {"frames-30d": 1} and report.bytes["frames-30d"] > 0
    assert app.retention_apply().frames == {"frames-30d": 0}  # done once
    assert not app.store.objects.exists(_frame_oid(app, quiet))

    with pytest.raises(NotReproducedError, match=r"evidence deleted by retention policy frames-30d on \d{4}-"):
        app.reproduce(f"detect:{quiet}")
    for event_id in events:  # event frames are kept (event_frames_days unset: forever)
        assert app.reproduce(event_id).identical
        assert app.event(Principal("test", "admin"), event_id) == records[event_id]

    # An erasure request takes one camera's frames in a time range, events or not.
    erased = app.retention_erase("dev3", 1511891000, 1511892000, reason="request 42")
    assert erased.frames == {"erasure-request": 1}
    dev3 = next(e for e in events if records[e]["camera"] == "dev3")
    with pytest.raises(NotReproducedError, match=r"deleted by an erasure request on .* \(request 42\)"):
        app.reproduce(dev3)
    with pytest.raises(NotFoundError, match="erasure request"):
        app.evidence(Principal("test", "admin"), dev3)
    assert app.event(Principal("test", "admin"), dev3) == records[dev3]  # the record and its frame hash stay

    fsck = app.fsck()
    assert fsck.ok and fsck.erased == 2, fsck.problems
    assert app.audit_verify().ok
    (applied,) = app.audit_log(action="retention.apply")
    assert list(applied.detail["erased"]) == [_frame_oid(app, quiet)]
    (request,) = app.audit_log(action="retention.erase")
    assert request.reason == "request 42" and request.detail["camera"] == "dev3"
    duty = app.duties[-1]  # `vigil serve` runs the policies hourly among its duties
    assert duty.name == "retention" and duty.run_once() == 0 and duty.run_once() == 0


def _frame_oid(app: App, detect_path: str) -> str:
    return str(json.loads(app.store.read_bytes("detect", None, detect_path))["source"]["sha256"])
