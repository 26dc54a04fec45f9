"""The local executor: parallel runs give the same outputs as serial ones; transforms stay warm per worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from tests.pipeline.builders import PythonModules, commit, make_app, make_pipelines, one_job, tree
from vigil.executors.local import LocalExecutor
from vigil.pipeline.datums import DatumInput, FileRef
from vigil.pipeline.transform import DatumContext, DatumTask, Outputs, RunOptions
from vigil.store.objects import ObjectStore

SLOW_UPPER = """
import time

def upper(ctx):
    time.sleep(0.002)
    return {f.path + ".up": ctx.read(f).upper() for f in ctx.files("images")}
"""


class CountingStage:
    setups = 0
    lock = threading.Lock()

    def setup(self) -> None:
        with CountingStage.lock:
            CountingStage.setups += 1

    def process_batch(self, datums: Sequence[DatumContext]) -> list[Outputs]:
        time.sleep(0.01)  # long enough that both workers get batches
        return [{f"/{d.datum_id}": d.read(d.files("images")[0])} for d in datums]


def tasks(objects: ObjectStore, n: int, job: str) -> list[DatumTask]:
    out = []
    for i in range(n):
        data = f"datum {i}".encode()
        ref = FileRef(f"/{i}", objects.put_bytes(data), len(data))
        out.append(DatumTask(job, f"{i:04d}", (DatumInput("images", "images", "c" * 32, f"/{i}", (ref,)),)))
    return out


def test_parallel_outputs_equal_serial(tmp_path: Path, modules: PythonModules) -> None:
    module = modules.add(SLOW_UPPER)
    trees = []
    for p in (1, 2):
        app = make_app(tmp_path / f"ws{p}")
        app.executor.max_workers = 2
        app.store.create_repo("images")
        make_pipelines(app, f"""
            pipeline: {{name: up}}
            input: {{pfs: {{repo: images, glob: "/*"}}}}
            transform: {{python: "{module}:upper"}}
            parallelism_spec: {{constant: {p}}}
        """)
        commit(app.store, "images", {f"/cam{i % 3}/{i}.txt": f"frame {i}".encode() for i in range(40)})
        commit(app.store, "images", {f"/x{i}.txt": b"x" for i in range(30)})
        job = one_job(app, "up")
        assert job.n_processed == 33  # 3 camera folders + 30 top-level files
        trees.append(tree(app.store, "up"))
        app.executor.close()
    assert trees[0] == trees[1] and len(trees[0]) == 70


def test_setup_once_per_worker_across_jobs(tmp_path: Path) -> None:
    objects = make_app(tmp_path / "ws").store.objects
    executor = LocalExecutor(max_workers=2)
    CountingStage.setups = 0
    options = RunOptions(parallelism=2, batch_size=2)
    for job in ("job1", "job2"):
        todo = tasks(objects, 20, job)
        results = list(executor.run("stage:v1", CountingStage, todo, objects, options))
        assert sorted(r.datum_id for r in results) == [t.datum_id for t in todo]
        assert all(r.state == "SUCCESS" for r in results)
        assert CountingStage.setups == 2
    executor.run("stage:v2", CountingStage, tasks(objects, 1, "job3"), objects, options).__next__()
    assert CountingStage.setups == 3  # a new pipeline version gets a fresh transform
    executor.close()
