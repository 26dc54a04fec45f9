"""SIGTERM to `vigil serve` while its runner is in a job: the job gets ``--grace`` seconds, then is marked
KILLED with its lease handed back, and the process exits; a restarted server's runner finishes the work."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.pipeline.builders import make_pipelines
from tests.web.test_load import start_server
from vigil.app import App
from vigil.pipeline.jobs import list_jobs
from vigil.store.leases import Leases


def test_sigterm_marks_the_running_job_killed_and_hands_its_lease_back(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    app = App.init(ws)
    app.store.create_repo("images")
    with app.store.begin_commit("images") as c:
        for i in range(40):
            c.put_bytes(f"/f{i:02d}.txt", str(i).encode())
    make_pipelines(app, """
        pipeline: {name: slow}
        input: {pfs: {repo: images, glob: "/*"}}
        transform: {cmd: [sh, -c, "sleep 0.3; cp /pfs/images/* /pfs/out/"]}
        parallelism_spec: {constant: 1}
    """)
    app.close()
    log = tmp_path / "serve.log"
    proc, _ = start_server(ws, log, runner=True, extra=["--grace", "1"])
    app = App.open(ws)
    deadline = time.monotonic() + 60
    while not [j for j in list_jobs(app.store, "slow") if j.state == "RUNNING"]:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) in (0, -signal.SIGTERM), log.read_text()  # uvicorn re-raises the signal it stopped on
    [job] = list_jobs(app.store, "slow")
    assert job.state == "KILLED", job
    assert Leases(app.store.engine).list("pipeline:") == []
    assert "marked KILLED" in log.read_text()
    proc, _ = start_server(ws, log, runner=True)  # the next server's runner reuses the finished datums
    try:
        deadline = time.monotonic() + 120
        while not [j for j in list_jobs(app.store, "slow") if j.state == "SUCCESS"]:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert len(app.store.list_files("slow")) == 40
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        app.close()
