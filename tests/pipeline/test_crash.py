"""Crash safety: SIGKILL the runner mid-job, several times; the final run completes with every output exactly
once, one output commit per successful job, the killed jobs recorded and their finished datums RECOVERED."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

import vigil.pipeline.jobs as jobs_module
from tests.pipeline.builders import PythonModules, commit, make_pipelines, tree
from vigil.app import App
from vigil.pipeline import datum_records
from vigil.pipeline.jobs import KILLED, RUNNING, SUCCESS, list_jobs
from vigil.store import history

N = 60
SLOW = """
import time

def slow(ctx):
    time.sleep(0.05)
    return {f.path + ".out": ctx.read(f)[::-1] for f in ctx.files("images")}
"""
VIGIL = [sys.executable, "-c", "import sys; from vigil.cli.main import main; sys.exit(main())"]


def start_run(app: App, modules: PythonModules) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(modules.folder), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([*VIGIL, "-w", str(app.workspace.root), "run", "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_running(app: App, proc: subprocess.Popen[bytes], timeout: float = 30) -> bool:
    """True once the subprocess has started a job (False if it finished first). A killed runner's job stays
    RUNNING until the next runner reaps it, so only jobs newer than the ones already there count."""
    old = {j.id for j in list_jobs(app.store, "up", 100)}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        jobs = list_jobs(app.store, "up", 1)
        if jobs and jobs[0].id not in old and jobs[0].state == RUNNING:
            return True
        time.sleep(0.02)
    raise AssertionError("the runner never started a job")


def test_sigkill_mid_job_then_rerun_completes_exactly_once(app: App, modules: PythonModules) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    app.store.create_repo("images")
    module = modules.add(SLOW)
    make_pipelines(app, f"""
        pipeline: {{name: up}}
        input: {{pfs: {{repo: images, glob: "/*"}}}}
        transform: {{python: "{module}:slow"}}
    """)
    commit(app.store, "images", {f"/{i:03d}.txt": f"datum {i}".encode() for i in range(N)})

    kills = 0
    for delay in (rng.uniform(1.0, 1.4), rng.uniform(0.3, 1.2), rng.uniform(0.3, 1.2)):
        proc = start_run(app, modules)
        if wait_running(app, proc):
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            kills += proc.wait() == -signal.SIGKILL
        proc.communicate()
    assert kills >= 2, f"seed {seed}: the runner finished before it could be killed twice"

    final = start_run(app, modules)
    _out, err = final.communicate(timeout=120)
    assert final.returncode == 0, f"seed {seed}: {err.decode()}"

    outputs = tree(app.store, "up")
    assert outputs == {f"/{i:03d}.txt.out": f"datum {i}".encode()[::-1] for i in range(N)}, f"seed {seed}"
    jobs = list_jobs(app.store, "up", 100)
    states = [j.state for j in jobs]
    assert states.count(KILLED) >= 2 and RUNNING not in states, states
    successes = [j for j in jobs if j.state == SUCCESS]
    commits = history.log(app.store, "up")
    assert {c.origin for c in commits} == {f"job:{j.id}" for j in successes}, f"seed {seed}"
    assert len(commits) == len(successes)
    recovered = [r for j in successes for r in datum_records.for_job(app.store, j.id) if r["state"] == "RECOVERED"]
    assert recovered, f"seed {seed}: no datum was recovered ({states})"
    fsck = subprocess.run([*VIGIL, "-w", str(app.workspace.root), "fsck"], capture_output=True, check=False)
    assert fsck.returncode == 0, fsck.stdout.decode() + fsck.stderr.decode()
    assert app.run("up") == []


def test_interrupted_job_is_killed_and_its_results_are_reused(app: App, modules: PythonModules,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process variant: an interrupt (KeyboardInterrupt) marks the job KILLED right away."""
    app.store.create_repo("images")
    module = modules.add("""
        STOP = {"after": 12, "seen": 0}

        def run(ctx):
            STOP["seen"] += 1
            if STOP["seen"] == STOP["after"]:
                raise KeyboardInterrupt
            return {f.path + ".out": ctx.read(f) for f in ctx.files("images")}
    """)
    make_pipelines(app, f"""
        pipeline: {{name: up}}
        input: {{pfs: {{repo: images, glob: "/*"}}}}
        transform: {{python: "{module}:run"}}
    """)
    commit(app.store, "images", {f"/{i:03d}.txt": b"x" for i in range(20)})
    monkeypatch.setattr(jobs_module, "STAGE_SECONDS", 0.0)  # stage every result
    with pytest.raises(KeyboardInterrupt):
        app.run("up")
    (killed,) = list_jobs(app.store, "up")
    assert killed.state == KILLED
    (job,) = app.run("up")
    assert (job.state, job.n_recovered, job.n_processed) == (SUCCESS, 8, 12)
    assert len(tree(app.store, "up")) == 20
