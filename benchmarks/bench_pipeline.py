"""Pipeline engine figures (not a test). Run: ``python benchmarks/bench_pipeline.py [--n 2000]``.

(a) per-datum framework overhead: a job of N datums through the ``noop`` stage, (job seconds)/N, next to a bare
    loop calling ``NoopStage.process_batch`` on the same DatumContexts;
(b) the cost of planning + running a job for 1 new datum when the pipeline's history holds 100k datums vs 1k
    (median of a few repetitions); the budget is a ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from vigil.app import App
from vigil.pipeline.jobs import list_jobs
from vigil.pipeline.transform import DatumContext, DatumTask
from vigil.stages.noop import NoopStage
from vigil.store.database import transaction
from vigil.store.workspace import LocalObjects, Workspace, WorkspaceConfig

SPEC = """pipeline: {name: noop}
input: {pfs: {repo: images, glob: "/*"}}
transform: {stage: noop, params: {batch_size: 64}}
"""


def workspace(root: Path, n_files: int) -> App:
    app = App(Workspace.init(root, WorkspaceConfig(objects=LocalObjects(fsync=False))))
    app.store.create_repo("images")
    step = 20_000  # commits of bounded size, as an ingest would make them
    for lo in range(0, n_files, step):
        with app.store.begin_commit("images") as c:
            for i in range(lo, min(lo + step, n_files)):
                c.put_bytes(f"/f{i:07d}", str(i).encode())
    (root / "spec.yaml").write_text(SPEC)
    app.create_pipelines(root / "spec.yaml")
    return app


def overhead(root: Path, n: int) -> None:
    app = workspace(root / "overhead", n)
    t0 = time.perf_counter()
    (job,) = app.run("noop")
    wall = time.perf_counter() - t0
    assert job.state == "SUCCESS" and job.n_processed == n, job
    # the bare loop: the same stage on the same datums, with no planning, staging, commit or bookkeeping
    p = app.store
    with transaction(p.engine) as conn:
        seq = p.branch_head_seq(conn, "images", "master")
        assert seq is not None
        files = p.files_at(conn, seq)
    from vigil.pipeline.datums import DatumInput, FileRef

    contexts = [DatumContext(DatumTask("j", f.path, (DatumInput("images", "images", "c", f.path,
                                                                (FileRef(f.path, f.oid, f.size),)),)),
                             p.objects, {}) for f in files]
    stage = NoopStage({})
    stage.setup()
    t0 = time.perf_counter()
    for i in range(0, len(contexts), 64):
        stage.process_batch(contexts[i:i + 64])
    bare = time.perf_counter() - t0
    print(f"(a) noop job over N={n} datums: job {job.seconds:.3f} s (wall {wall:.3f} s) = "
          f"{1000 * job.seconds / n:.3f} ms/datum; bare process_batch loop {1000 * bare / n:.4f} ms/datum; "
          f"ratio job/bare {job.seconds / max(bare, 1e-9):.0f}x; framework overhead "
          f"{1000 * (job.seconds - bare) / n:.3f} ms/datum (budget <= 1 ms)")


def one_new_datum(root: Path, n_files: int, reps: int) -> float:
    app = workspace(root / f"hist{n_files}", n_files)
    t0 = time.perf_counter()
    (first,) = app.run("noop")
    print(f"    history {n_files}: initial job {time.perf_counter() - t0:.1f} s, {first.n_processed} datums")
    times = []
    for r in range(reps):
        with app.store.begin_commit("images") as c:
            c.put_bytes(f"/new{r}", f"new {r}".encode())
        t0 = time.perf_counter()
        (job,) = app.run("noop")
        times.append(time.perf_counter() - t0)
        assert (job.n_processed, job.n_skipped) == (1, n_files + r), job
    med = statistics.median(times)
    last = list_jobs(app.store, "noop", 1)[0]
    print(f"    history {n_files}: +1 datum plan+run median {1000 * med:.1f} ms over {reps} "
          f"(runs {', '.join(f'{1000 * x:.1f}' for x in times)} ms; last job {1000 * last.seconds:.1f} ms)")
    app.executor.close()
    return med


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        root = Path(tmp)
        overhead(root, args.n)
        print(f"(b) one new datum, history {args.small} vs {args.big} datums:")
        small = one_new_datum(root, args.small, args.reps)
        big = one_new_datum(root, args.big, args.reps)
        print(f"(b) ratio {args.big}/{args.small}: {big / small:.2f} (budget <= 1.5)")


if __name__ == "__main__":
    main()
