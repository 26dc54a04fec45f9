"""`vigil worker SCHEDULER`: real Dask worker processes, started from Vigil's command line, serve a workspace's
pipelines (the README's "Scale out" path with `dask scheduler` and two `vigil worker`s)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console import VIGIL
from tests.pipeline.builders import commit, make_pipelines, tree
from tests.shared_data import unavailable
from vigil.app import App
from vigil.domain.placement import DaskPlacement
from vigil.store.workspace import LocalObjects, Workspace, WorkspaceConfig

try:
    from distributed import Client
except ImportError:
    unavailable("distributed is not installed (pip install 'vigil[dask]')", module_level=True)


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[str]:
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    if dask is None:
        unavailable("the `dask` command is not installed")
    file = tmp_path / "scheduler.json"
    proc = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                             "--scheduler-file", str(file)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not file.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr and proc.stderr.read()
        time.sleep(0.1)
    import json

    yield json.loads(file.read_text())["address"]
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)


def test_vigil_workers_serve_a_workspace_placed_on_the_cluster(scheduler: str, tmp_path: Path) -> None:
    if VIGIL is None:
        unavailable("the `vigil` console script is not installed")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[2] / "src"),
                                                                      os.environ.get("PYTHONPATH")]))}
    workers = [subprocess.Popen([VIGIL, "worker", scheduler, "--name", f"w{i}"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for i in range(2)]
    client = Client(scheduler, set_as_default=False)
    try:
        client.wait_for_workers(2, timeout=120)
        assert sorted(w["name"] for w in client.scheduler_info()["workers"].values()) == ["w0", "w1"]
        assert set(client.nthreads().values()) == {1}
        app = App(Workspace.init(tmp_path / "ws", WorkspaceConfig(
            objects=LocalObjects(fsync=False), executor=DaskPlacement(type="dask", address=scheduler))))
        app.store.create_repo("images")
        make_pipelines(app, """
            pipeline: {name: marks}
            input: {pfs: {repo: images, glob: "/*"}}
            transform: {stage: noop}
        """)
        commit(app.store, "images", {f"/cam{i}.jpg": b"%d" % i for i in range(20)})
        (job,) = app.run("marks")
        assert job.state == "SUCCESS" and job.n_processed == 20
        assert sorted(tree(app.store, "marks")) == sorted(f"/cam{i}.jpg.done" for i in range(20))
        app.close()
    finally:
        client.close()
        for proc in workers:  # SIGTERM: dask's worker command closes its processes and exits
            proc.send_signal(signal.SIGTERM)
        for proc in workers:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode in (0, -signal.SIGTERM, 143), err.decode()[-2000:]
