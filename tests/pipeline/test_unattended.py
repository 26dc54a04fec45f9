"""Running unattended: a broken pipeline never stops the others or the watcher, two runners never do a job
twice (SQLite and PostgreSQL), a dead runner's lease is taken over, SIGTERM marks the job KILLED."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import fresh_database
from tests.pipeline.builders import PythonModules, commit, make_pipelines, tree
from vigil.app import App
from vigil.pipeline.jobs import FAILURE, KILLED, RUNNING, SUCCESS, list_jobs
from vigil.pipeline.registry import get_pipeline
from vigil.store import history
from vigil.store.workspace import LocalObjects, Workspace, WorkspaceConfig

VIGIL = [sys.executable, "-c", "import sys; from vigil.cli.main import main; sys.exit(main())"]
SLOW = """
import time

def slow(ctx):
    time.sleep(0.03)
    return {f.path + ".out": ctx.read(f)[::-1] for f in ctx.files("images")}
"""


def _env(modules: PythonModules) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(modules.folder), os.environ.get("PYTHONPATH", "")])}


def _slow_pipeline(app: App, modules: PythonModules, name: str = "up") -> None:
    app.store.create_repo("images", exist_ok=True)
    make_pipelines(app, f"""
        pipeline: {{name: {name}}}
        input: {{pfs: {{repo: images, glob: "/*"}}}}
        transform: {{python: "{modules.add(SLOW)}:slow"}}
    """)


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    """A workspace whose metadata is SQLite or PostgreSQL (objects in a folder either way)."""
    if request.param == "sqlite":
        app = App(Workspace.init(tmp_path / "ws", WorkspaceConfig(objects=LocalObjects(fsync=False))))
        yield app
        app.store.close()
        return
    pytest.importorskip("psycopg")
    with fresh_database("vigil_test_runners") as url:
        app = App(Workspace.init(tmp_path / "ws", WorkspaceConfig(metadata=url, objects=LocalObjects(fsync=False))))
        yield app
        app.store.close()


def test_two_runners_run_each_job_once(shared_app: App, modules: PythonModules) -> None:
    app = shared_app
    _slow_pipeline(app, modules)
    for batch in range(3):
        commit(app.store, "images", {f"/{batch}-{i:02d}.txt": f"{batch} {i}".encode() for i in range(25)})
        procs = [subprocess.Popen([*VIGIL, "-w", str(app.workspace.root), "run", "--json"], env=_env(modules),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()
            reports.append(json.loads(out))
        ran = [j for r in reports for j in r["jobs"]]
        assert len(ran) == 1, reports  # one runner ran the job; the other skipped it or found nothing new
        skipped = [r["skipped"] for r in reports if r["skipped"]]
        assert all("being run by" in s["up"] for s in skipped)
    jobs = list_jobs(app.store, "up", 100)
    assert [j.state for j in jobs] == [SUCCESS] * 3
    commits = history.log(app.store, "up")
    assert len(commits) == 3 and {c.origin for c in commits} == {f"job:{j.id}" for j in jobs}
    assert len(tree(app.store, "up")) == 75


def test_a_sigkilled_runners_job_is_taken_over_and_completed(shared_app: App, modules: PythonModules) -> None:
    app = shared_app
    _slow_pipeline(app, modules)
    commit(app.store, "images", {f"/{i:03d}.txt": b"x%d" % i for i in range(80)})
    proc = subprocess.Popen([*VIGIL, "-w", str(app.workspace.root), "run"], env=_env(modules),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (list_jobs(app.store, "up", 1) and list_jobs(app.store, "up", 1)[0].state == RUNNING):
        assert time.monotonic() < deadline and proc.poll() is None, "the runner never started its job"
        time.sleep(0.02)
    time.sleep(0.5)
    proc.kill()
    proc.communicate()
    (job,) = app.run("up")  # same host, dead pid: the lease is taken over at once, not after its ttl
    assert job.state == SUCCESS and job.n_recovered + job.n_processed == 80
    killed = [j for j in list_jobs(app.store, "up", 10) if j.state == KILLED]
    assert len(killed) == 1 and "stopped renewing its lease" in killed[0].reason
    assert len(tree(app.store, "up")) == 80


def test_sigterm_marks_the_job_killed_and_hands_the_lease_back(app: App, modules: PythonModules) -> None:
    _slow_pipeline(app, modules)
    commit(app.store, "images", {f"/{i:03d}.txt": b"x" for i in range(80)})
    proc = subprocess.Popen([*VIGIL, "-w", str(app.workspace.root), "run"], env=_env(modules),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (list_jobs(app.store, "up", 1) and list_jobs(app.store, "up", 1)[0].state == RUNNING):
        assert time.monotonic() < deadline and proc.poll() is None, "the runner never started its job"
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err.decode()
    assert "Traceback" not in err.decode()
    (job,) = list_jobs(app.store, "up", 1)
    assert job.state == KILLED
    from vigil.store.leases import Leases

    assert Leases(app.store.engine).holder_of("pipeline:up") is None


def test_a_broken_pipeline_never_stops_the_others_or_the_watcher(app: App, modules: PythonModules) -> None:
    _slow_pipeline(app, modules, "good")
    make_pipelines(app, """
        pipeline: {name: broken}
        input: {pfs: {repo: images, glob: "/*"}}
        transform: {python: "nosuchmodule_vigil_test:fn"}
    """)
    stop = threading.Event()
    watcher = threading.Thread(target=app.watch, kwargs={"interval": 0.1, "should_stop": stop.is_set})
    watcher.start()
    try:
        for i in range(6):
            commit(app.store, "images", {f"/{i}.txt": b"frame %d" % i})
            deadline = time.monotonic() + 30
            while not (app.store.head("good") and f"/{i}.txt.out" in {f.path for f in app.store.list_files("good")}):
                assert time.monotonic() < deadline, f"frame {i} was not processed"
                assert watcher.is_alive()
                time.sleep(0.05)
            time.sleep(0.4)
        assert watcher.is_alive()
    finally:
        stop.set()
        watcher.join(timeout=30)
    broken = [j for j in list_jobs(app.store, "broken", 100)]
    assert broken and {j.state for j in broken} == {FAILURE}
    assert "nosuchmodule_vigil_test" in broken[0].reason
    assert len(broken) <= 2, "backing off, not retried on every poll"  # 5 s, then 10 s, over ~4 s of commits
    p = get_pipeline(app.store, "broken")
    assert p.failures == len(broken) and p.retry_at is not None and p.retry_at > time.time() - 1
    assert "nosuchmodule_vigil_test" in (p.last_error or "")
    report = app.run_pipelines()  # a one-shot run skips it while it backs off, and says so
    assert "backing off" in report.skipped["broken"]
