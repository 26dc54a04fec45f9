"""Jobs: incremental processing, EMPTY, collisions, retries and logs, provenance, reprocessing, python transforms."""

from __future__ import annotations

import json
import time

import pytest

from tests.pipeline.builders import PythonModules, commit, make_pipelines, one_job, tree
from vigil.app import App
from vigil.errors import PipelineError
from vigil.pipeline import datum_records
from vigil.pipeline.jobs import EMPTY, FAILURE, PARTIAL, SUCCESS, list_jobs

UPPER = """
    def upper(ctx):
        return {f.path + ".up": ctx.read(f).upper() for f in ctx.files("images")}
"""

# Fails on any file reading b"bad" while FIXED["on"] is false (a bug the test then "fixes").
FLAKY = """
    FIXED = {"on": False}

    def run(ctx):
        out = {}
        for f in ctx.files("images"):
            data = ctx.read(f)
            if data == b"bad" and not FIXED["on"]:
                raise ValueError(f"cannot handle {f.path}")
            out[f.path + ".up"] = data.upper()
        return out
"""


def python_pipeline(app: App, modules: PythonModules, source: str = UPPER, fn: str = "upper", *,
                    glob: str = "/*", extra: str = "") -> None:
    app.store.create_repo("images", exist_ok=True)
    module = modules.add(source)
    make_pipelines(app, f"""
        pipeline: {{name: up}}
        input: {{pfs: {{repo: images, glob: "{glob}"}}}}
        transform: {{python: "{module}:{fn}"}}
        {extra}
    """)


def outputs(app: App) -> dict[str, bytes]:
    return tree(app.store, "up")


def test_incremental_add_modify_delete(app: App, modules: PythonModules) -> None:
    python_pipeline(app, modules)
    commit(app.store, "images", {"/a.txt": b"a", "/b.txt": b"b", "/c.txt": b"c"})
    first = one_job(app, "up")
    assert (first.state, first.n_total, first.n_processed, first.n_skipped) == (SUCCESS, 3, 3, 0)
    assert outputs(app) == {"/a.txt.up": b"A", "/b.txt.up": b"B", "/c.txt.up": b"C"}

    commit(app.store, "images", {"/d.txt": b"d"})
    added = one_job(app, "up")
    assert (added.n_total, added.n_processed, added.n_skipped) == (4, 1, 3)

    commit(app.store, "images", {"/a.txt": b"a2"})
    modified = one_job(app, "up")
    assert (modified.n_total, modified.n_processed, modified.n_skipped) == (4, 1, 3)
    assert outputs(app)["/a.txt.up"] == b"A2"

    commit(app.store, "images", {"/b.txt": None})
    deleted = one_job(app, "up")
    assert (deleted.n_total, deleted.n_processed, deleted.n_removed) == (3, 0, 1)
    assert outputs(app) == {"/a.txt.up": b"A2", "/c.txt.up": b"C", "/d.txt.up": b"D"}
    assert app.run("up") == []  # nothing new: no job


def test_unchanged_commit_content_skips_everything(app: App, modules: PythonModules) -> None:
    python_pipeline(app, modules)
    commit(app.store, "images", {"/a.txt": b"a"})
    one_job(app, "up")
    commit(app.store, "images", {"/a.txt": b"a"})  # same bytes again
    again = app.run("up")
    assert all(j.n_processed == 0 for j in again)
    assert outputs(app) == {"/a.txt.up": b"A"}


def test_glob_matching_nothing_is_empty_with_reason(app: App, modules: PythonModules) -> None:
    python_pipeline(app, modules, glob="/cameras/*")
    commit(app.store, "images", {"/a.txt": b"a"})
    job = one_job(app, "up")
    assert job.state == EMPTY
    assert "'/cameras/*'" in job.reason and "matched nothing" in job.reason
    assert app.store.head("up") is None


def test_deleting_every_input_file_removes_every_output(app: App, modules: PythonModules) -> None:
    python_pipeline(app, modules)
    commit(app.store, "images", {"/a.txt": b"a"})
    one_job(app, "up")
    commit(app.store, "images", {"/a.txt": None})
    job = one_job(app, "up")
    # no datum is left: the output commit holds nothing (the outputs of a vanished input must not linger)
    assert job.n_removed == 1 and job.output_commit is not None
    assert outputs(app) == {}


def test_output_collision_of_a_user_transform_fails_naming_both_datums(app: App, modules: PythonModules) -> None:
    python_pipeline(app, modules, "def same(ctx):\n    return {'/result.txt': b'x'}\n", "same")
    commit(app.store, "images", {"/a.txt": b"a", "/b.txt": b"b"})
    with pytest.raises(PipelineError, match=r"datums \w+ and \w+ both write /result.txt"):
        app.run("up")
    (job,) = list_jobs(app.store, "up")
    assert job.state == FAILURE
    ids = [r["datum_id"][:12] for r in datum_records.for_job(app.store, job.id)]
    assert len(ids) == 2 and all(i in job.reason for i in ids)
    assert app.store.head("up") is None  # nothing committed


def test_a_failing_datum_does_not_hold_back_the_others_and_is_retried_later(app: App,
                                                                            modules: PythonModules) -> None:
    python_pipeline(app, modules, FLAKY, "run", extra="datum_tries: 2")
    commit(app.store, "images", {"/a.txt": b"a"})
    one_job(app, "up")
    commit(app.store, "images", {"/b.txt": b"b", "/c.txt": b"bad"})
    partial = one_job(app, "up")
    assert (partial.state, partial.n_failed, partial.n_processed, partial.n_skipped) == (PARTIAL, 1, 2, 1)
    assert "cannot handle /c.txt" in partial.reason and "back-off" in partial.reason
    (log,) = datum_records.logs(app.store, pipeline="up", job_id=partial.id, datum=None)
    assert (log["state"], log["attempts"], log["failures"]) == ("FAILED", 2, 1)
    assert log["retry_at"] > time.time() + 30  # backing off, not retried on every poll
    assert "attempt 1" in log["log"] and "attempt 2" in log["log"]
    assert log["log"].count("ValueError: cannot handle /c.txt") == 2
    assert outputs(app) == {"/a.txt.up": b"A", "/b.txt.up": b"B"}  # the good datum is published
    assert app.run("up") == []  # no new input, retry not due: nothing to do

    import sys
    sys.modules[modules.names[-1]].FIXED["on"] = True
    assert datum_records.retry(app.store, "up") == 1  # the operator's "retry now"
    fixed = one_job(app, "up")
    assert (fixed.state, fixed.n_processed, fixed.n_failed) == (SUCCESS, 1, 0)
    assert outputs(app) == {"/a.txt.up": b"A", "/b.txt.up": b"B", "/c.txt.up": b"BAD"}
    assert app.run("up") == []


def test_a_job_whose_every_new_datum_fails_publishes_nothing(app: App, modules: PythonModules) -> None:
    python_pipeline(app, modules, FLAKY, "run", extra="datum_tries: 1")
    commit(app.store, "images", {"/c.txt": b"bad"})
    (job,) = app.run("up")
    assert (job.state, job.n_failed, job.output_commit) == (FAILURE, 1, None)
    assert app.store.head("up") is None


def test_provenance_and_lineage_of_output_commit(app: App, modules: PythonModules) -> None:
    python_pipeline(app, modules)
    images = commit(app.store, "images", {"/a.txt": b"a"})
    job = one_job(app, "up")
    version = app.store.resolve("up").description
    pipeline_version = json.loads(json.dumps(job.version))
    assert job.output_commit and pipeline_version[:12] in version
    assert job.inputs == {"images": ["images", images.id]}
    lineage = app.lineage("up:/a.txt.up")
    assert lineage["commit"] == f"up@{job.output_commit}"
    upstream = lineage["upstream"]
    assert isinstance(upstream, list)
    assert {(n["repo"], n["commit"]) for n in upstream} >= {("images", images.id)}
    down = app.lineage(f"images@{images.id}")["downstream"]
    assert isinstance(down, list)
    assert any(n["repo"] == "up" for n in down)


def test_reprocess_every_job_reruns_all_datums(app: App, modules: PythonModules) -> None:
    python_pipeline(app, modules, extra="reprocess_spec: every_job")
    commit(app.store, "images", {"/a.txt": b"a", "/b.txt": b"b"})
    one_job(app, "up")
    commit(app.store, "images", {"/c.txt": b"c"})
    job = one_job(app, "up")
    assert (job.n_total, job.n_processed, job.n_skipped) == (3, 3, 0)
    assert outputs(app) == {"/a.txt.up": b"A", "/b.txt.up": b"B", "/c.txt.up": b"C"}


@pytest.mark.parametrize(("reprocess", "processed"), [(False, 0), (True, 2)])
def test_pipeline_update_reprocess(app: App, modules: PythonModules, reprocess: bool, processed: int) -> None:
    python_pipeline(app, modules)
    commit(app.store, "images", {"/a.txt": b"a", "/b.txt": b"b"})
    one_job(app, "up")
    module = modules.names[-1]
    make_pipelines(app, f"""
        pipeline: {{name: up}}
        description: updated
        input: {{pfs: {{repo: images, glob: "/*"}}}}
        transform: {{python: "{module}:upper"}}
    """, update=True, reprocess=reprocess)
    jobs = app.run("up")
    assert sum(j.n_processed for j in jobs) == processed
    assert all(j.state == SUCCESS for j in jobs)
    assert outputs(app) == {"/a.txt.up": b"A", "/b.txt.up": b"B"}
    commit(app.store, "images", {"/c.txt": b"c"})
    assert one_job(app, "up").n_processed == 1


def test_downstream_pipeline_triggers_on_upstream_output(app: App, modules: PythonModules) -> None:
    python_pipeline(app, modules)
    module = modules.add("def twice(ctx):\n    return {f.path + '2': ctx.read(f) * 2 for f in ctx.files('up')}\n")
    make_pipelines(app, f"""
        pipeline: {{name: twice}}
        input: {{pfs: {{repo: up, glob: "/*"}}}}
        transform: {{python: "{module}:twice"}}
    """)
    commit(app.store, "images", {"/a.txt": b"a"})
    assert [j.pipeline for j in app.run()] == ["up", "twice"]
    assert tree(app.store, "twice") == {"/a.txt.up2": b"AA"}
    upstream = app.lineage("twice")["upstream"]
    assert isinstance(upstream, list)
    assert {n["repo"] for n in upstream} == {"twice", "up", "images"}
