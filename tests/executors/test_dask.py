"""The Dask executor against the local pool: the camera pipeline on {local pool, Dask LocalCluster} x {SQLite +
folder, PostgreSQL + S3 (moto server)} gives the same output bytes and commit structure; datum_tries hold on
Dask; a Dask worker killed mid-job loses nothing and duplicates nothing; a runner SIGKILLed while holding its
lease is taken over by a runner on another host once the lease expires.

Outputs are compared after replacing commit ids (random per workspace; the threat records name their rules
commit) by ``<repo>#<n>``, the commit's place in its repo's history. A PostgreSQL restart mid-job is not tested
here: the machine's server is shared (the brief forbids restarting it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.console import VIGIL
from tests.pg import fresh_database
from tests.pipeline.builders import commit, make_pipelines, tree
from tests.shared_data import unavailable
from tests.stages.conftest import camera_spec
from vigil.app import App
from vigil.domain.placement import DaskPlacement, LocalPlacement
from vigil.pipeline import datum_records
from vigil.pipeline.jobs import KILLED, RUNNING, SUCCESS, list_jobs
from vigil.pipeline.registry import get_pipeline
from vigil.pipeline.runner import Runner
from vigil.store import history
from vigil.store.leases import Leases
from vigil.store.workspace import LocalObjects, S3Objects, Workspace, WorkspaceConfig

try:
    from distributed import Client, LocalCluster
except ImportError:  # the dask extra (part of dev)
    unavailable("distributed is not installed (pip install 'vigil[dask]')", module_level=True)

OUTPUT_REPOS = ("validate", "motion", "detect", "threat", "report")
BACKENDS = ("sqlite-folder", "postgres-s3")

SLOW = """
import time

def upper(ctx):
    time.sleep(0.03)
    return {f.path + ".up": ctx.read(f).upper() for f in ctx.files("images")}

def picky(ctx):
    (f,) = ctx.files("images")
    if f.path.startswith("/bad"):
        raise ValueError("bad frame " + f.path)
    return {f.path + ".ok": ctx.read(f)}
"""


MODULES = tempfile.mkdtemp(prefix="vigil-dask-modules-")
WORKER_MODULE = f"vigil_dask_transforms_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def worker_modules() -> Iterator[str]:
    """A python transform module importable by the runner and by the Dask workers (on their PYTHONPATH)."""
    Path(MODULES, f"{WORKER_MODULE}.py").write_text(textwrap.dedent(SLOW))
    sys.path.insert(0, MODULES)
    yield WORKER_MODULE
    sys.path.remove(MODULES)
    sys.modules.pop(WORKER_MODULE, None)
    shutil.rmtree(MODULES, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster_env(worker_modules: str) -> Iterator[dict[str, str]]:
    """The environment the workers (and runner subprocesses) start with: Vigil's sources, the transform module,
    moto's credentials."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    path = [src, MODULES, *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {"PYTHONPATH": os.pathsep.join(path), "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        yield dict(os.environ)


@pytest.fixture(scope="module")
def cluster(cluster_env: dict[str, str]) -> Iterator[LocalCluster]:
    """Two worker processes, one thread each, everything on 127.0.0.1, no dashboard."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as local:
        yield local


@pytest.fixture(scope="module")
def s3_endpoint(cluster_env: dict[str, str]) -> Iterator[str]:
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class Backends:
    """Makes workspaces on one backend; closes them and drops their databases at the end."""

    def __init__(self, root: Path, backend: str, request: pytest.FixtureRequest) -> None:
        self.root, self.backend, self.request = root, backend, request
        self.stack = ExitStack()

    def app(self, name: str, executor: LocalPlacement | DaskPlacement, **config: Any) -> App:
        if self.backend == "sqlite-folder":
            cfg = WorkspaceConfig(objects=LocalObjects(fsync=False), executor=executor, **config)
        else:
            import boto3

            endpoint = self.request.getfixturevalue("s3_endpoint")
            url = self.stack.enter_context(fresh_database("vigil_dask"))
            bucket = f"vigil-{uuid.uuid4().hex[:8]}"
            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
            cfg = WorkspaceConfig(metadata=url, objects=S3Objects(kind="s3", bucket=bucket, prefix="ws",
                                                                   endpoint_url=endpoint), executor=executor, **config)
        app = App(Workspace.init(self.root / name, cfg))
        self.stack.callback(app.close)
        return app


@pytest.fixture(params=BACKENDS)
def backends(request: pytest.FixtureRequest, tmp_path: Path, cluster_env: dict[str, str]) -> Iterator[Backends]:
    b = Backends(tmp_path, request.param, request)
    with b.stack:
        yield b


def on_dask(cluster: LocalCluster) -> DaskPlacement:
    return DaskPlacement(type="dask", address=cluster.scheduler_address)


# ------------------------------------------------------------------------------------------- same outputs
def snapshot(app: App, repos: tuple[str, ...]) -> dict[str, Any]:
    """Every output repo's commits (sizes of change, provenance repos) and head files (path, size, sha256 of the
    bytes with commit ids replaced by their place in history)."""
    store = app.store
    ids: dict[str, str] = {}
    for repo in [r.name for r in store.list_repos()]:
        for n, c in enumerate(reversed(history.log(store, repo))):
            ids[c.id] = f"{repo}#{n}"

    def normal(data: bytes) -> str:
        text = data.decode("latin-1")
        for cid, name in ids.items():
            text = text.replace(cid, name)
        return hashlib.sha256(text.encode("latin-1")).hexdigest()

    out: dict[str, Any] = {}
    for repo in repos:
        commits = list(reversed(history.log(store, repo)))
        out[repo] = {
            "commits": [(c.n_added, c.n_modified, c.n_deleted, sorted(ids[p.split("@")[1]] for p in c.provenance))
                        for c in commits],
            "files": [(f.path, f.size, normal(store.read_bytes(repo, None, f.path))) for f in store.list_files(repo)],
        }
    return out


def run_camera(app: App, seed_dir: Path, spec: Path) -> dict[str, Any]:
    """The seed stills through the camera pipeline, then a second commit (one frame added, one deleted)."""
    store = app.store
    app.model_add("yolox-nano")
    frames = sorted(seed_dir.glob("*.jpg"))
    for repo in ("images", "rules"):
        store.create_repo(repo)
    with store.begin_commit("images") as c:
        for p in frames:
            c.put_file("/" + p.name, p)
    with store.begin_commit("rules") as c:
        c.put_file("/rule.json", seed_dir / "pipeline" / "rule.json")
    app.create_pipelines(spec)
    jobs = app.run()
    with store.begin_commit("images") as c:
        c.put_file("/dev5_1511891600.jpg", frames[2])
        c.delete("/" + frames[1].name)  # frames[0] is blah.jpg, rejected by name
    jobs += app.run()
    assert jobs and all(j.state == SUCCESS and j.n_failed == 0 for j in jobs), jobs
    return snapshot(app, OUTPUT_REPOS)


REFERENCE: dict[str, Any] = {}


@pytest.mark.slow
def test_camera_pipeline_is_the_same_on_every_executor_and_backend(
        backends: Backends, cluster: LocalCluster, vigil_env: dict[str, str], seed_dir: Path, tmp_path: Path) -> None:
    spec = camera_spec(tmp_path / "camera.yaml")
    local = run_camera(backends.app("local", LocalPlacement()), seed_dir, spec)
    dask = run_camera(backends.app("dask", on_dask(cluster)), seed_dir, spec)
    assert dask == local
    REFERENCE.setdefault("camera", local)
    assert local == REFERENCE["camera"]  # the other backend gave the same bytes and commits
    assert len(local["detect"]["files"]) == 7 and len(local["threat"]["commits"]) == 2


def test_a_pipeline_spec_places_itself_on_dask(
        backends: Backends, cluster: LocalCluster, worker_modules: str) -> None:
    """Per-pipeline placement (the workspace stays local); datum_tries hold: a bad datum fails after its tries,
    alone, on Dask as on the local pool."""
    results = []
    dask = f"executor: {{type: dask, address: '{cluster.scheduler_address}'}}"
    for name, placement in (("local", ""), ("dask", dask)):
        app = backends.app(name, LocalPlacement())
        app.store.create_repo("images")
        make_pipelines(app, f"""
            pipeline: {{name: picky}}
            input: {{pfs: {{repo: images, glob: "/*"}}}}
            transform: {{python: "{worker_modules}:picky"}}
            datum_tries: 2
            {placement}
        """)
        commit(app.store, "images", {"/bad1": b"x", **{f"/ok{i}": b"ok %d" % i for i in range(12)}})
        (job,) = app.run("picky")
        assert job.state == "PARTIAL" and job.n_failed == 1, job
        (failed,) = [d for d in datum_records.for_job(app.store, job.id) if d["state"] == "FAILED"]
        assert failed["attempts"] == 2 and "bad frame /bad1" in failed["error"]
        results.append((tree(app.store, "picky"), get_pipeline(app.store, "picky").version))
    assert results[0] == results[1]  # same outputs, and the placement is no new version


# ------------------------------------------------------------------------------------------------- faults
def test_a_worker_killed_mid_job_loses_nothing_and_duplicates_nothing(
        tmp_path: Path, cluster: LocalCluster, worker_modules: str) -> None:
    n = 120
    files = {f"/{i:03d}": b"frame %d" % i for i in range(n)}
    spec = f"""
        pipeline: {{name: up}}
        input: {{pfs: {{repo: images, glob: "/*"}}}}
        transform: {{python: "{worker_modules}:upper"}}
    """
    expected = {f"{p}.up": b.upper() for p, b in files.items()}
    b = Backends(tmp_path, "sqlite-folder", None)  # type: ignore[arg-type]
    with b.stack:
        app = b.app("ws", on_dask(cluster))
        app.store.create_repo("images")
        make_pipelines(app, spec)
        commit(app.store, "images", files)
        client = Client(cluster.scheduler_address, set_as_default=False)
        killed: list[int] = []

        def kill_a_busy_worker(pipeline: str, done: int, total: int) -> None:
            if killed or done < n // 5:
                return
            busy = [w for w, tasks in client.processing().items() if tasks]
            pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

        try:
            (job,) = app.run("up", progress=kill_a_busy_worker)
            assert killed, "no worker was killed"
            assert job.state == SUCCESS and job.n_processed == n and job.n_failed == 0, job
            assert tree(app.store, "up") == expected
            datums = datum_records.for_job(app.store, job.id)
            assert len(datums) == n and len({d["datum_id"] for d in datums}) == n
            client.wait_for_workers(2, timeout=60)  # the nanny started a new worker in its place
            assert killed[0] not in client.run(os.getpid).values()
        finally:
            client.close()


@pytest.mark.postgres
def test_a_sigkilled_runner_is_taken_over_after_its_lease_expires(
        tmp_path: Path, cluster: LocalCluster, worker_modules: str, cluster_env: dict[str, str],
        request: pytest.FixtureRequest) -> None:
    """The dead runner ran on 'another host' (its own UTS namespace), so its lease is not taken over at once: a
    runner here skips the pipeline until the lease expires, then marks the job KILLED and completes it on Dask,
    reusing the datums the dead runner had staged."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-r", "-u", "true"]).returncode != 0:
        unavailable("unshare -r -u (a UTS namespace for a runner on 'another host') is not available")
    if VIGIL is None:
        unavailable("the `vigil` console script is not installed")
    n, ttl = 200, 3.0
    b = Backends(tmp_path, "postgres-s3", request)
    with b.stack:
        app = b.app("ws", on_dask(cluster), lease_ttl=ttl)
        app.store.create_repo("images")
        make_pipelines(app, f"""
            pipeline: {{name: up}}
            input: {{pfs: {{repo: images, glob: "/*"}}}}
            transform: {{python: "{worker_modules}:upper"}}
        """)
        commit(app.store, "images", {f"/{i:03d}": b"f %d" % i for i in range(n)})
        proc = subprocess.Popen(["unshare", "-r", "-u", "sh", "-c", 'hostname vigil-elsewhere && exec "$@"', "-",
                                 VIGIL, "-w", str(app.workspace.root), "run"],
                                env=cluster_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while not _staged(app):  # running, with some results staged
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr and proc.stderr.read()
            time.sleep(0.05)
        proc.kill()
        proc.communicate()
        here = Runner(app.store, app.runner.executor, app.factory_for,
                      leases=Leases(app.store.engine, holder=f"vigil-here:{os.getpid()}:t", ttl=ttl))
        try:
            first = here.run_once()
            assert "being run by vigil-elsewhere" in first.skipped.get("up", ""), first
            time.sleep(ttl)
            (job,) = here.run_once().jobs
        finally:
            here.close()
        assert job.state == SUCCESS and job.n_recovered > 0 and job.n_recovered + job.n_processed == n, job
        (dead,) = [j for j in list_jobs(app.store, "up", 10) if j.state == KILLED]
        assert "vigil-elsewhere" in dead.reason and "stopped renewing its lease" in dead.reason
        assert len(tree(app.store, "up")) == n


def _staged(app: App) -> bool:
    jobs = list_jobs(app.store, "up", 1)
    return bool(jobs) and jobs[0].state == RUNNING and any(
        d["state"] == "SUCCESS" for d in datum_records.for_job(app.store, jobs[0].id))
