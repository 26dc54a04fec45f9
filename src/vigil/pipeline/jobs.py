"""Jobs: plan, execute through an :class:`Executor`, and publish one output commit with provenance.

Crash safety: results are staged in the ``datums`` table as they complete (uncommitted, with their output
blobs already stored). The output commit, the committed datum records and the job's SUCCESS are written in ONE
metadata transaction, so a job's output appears once and whole. A runner killed mid-job leaves a RUNNING job
that the next run marks KILLED; the new job reuses the staged results (state RECOVERED) and processes the rest.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from vigil.errors import NotFoundError, PipelineError
from vigil.pipeline import state as t
from vigil.pipeline.datums import Datum
from vigil.pipeline.planner import Plan, input_heads, parse_inputs, plan_job
from vigil.pipeline.spec import PipelineSpec
from vigil.pipeline.transform import DatumResult, DatumTask, Executor, RunOptions, TransformFactory
from vigil.store.commit import CommitBuilder
from vigil.store.database import transaction
from vigil.store.store import Store, chunks

log = logging.getLogger(__name__)

CREATED, RUNNING, SUCCESS, FAILURE, KILLED, EMPTY = "CREATED", "RUNNING", "SUCCESS", "FAILURE", "KILLED", "EMPTY"
# Finished results are staged in the database this often, so that a crash loses at most this much work. A job
# shorter than that stages nothing: its results go straight into the output commit's transaction.
STAGE_SECONDS = 0.5


@dataclass(frozen=True)
class JobInfo:
    id: str
    pipeline: str
    version: str
    state: str
    reason: str
    created_at: float
    finished_at: float | None
    inputs: dict[str, list[str]]
    output_commit: str | None
    n_total: int
    n_processed: int
    n_skipped: int
    n_recovered: int
    n_failed: int
    n_removed: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: Any) -> JobInfo:
        m = dict(row._mapping)
        m.pop("seq", None)
        m.pop("owner", None)
        m["inputs"] = parse_inputs(m["inputs"])
        return cls(**m)


ProgressFn = Callable[[str, int, int], None]  # (pipeline, done, total)


def run_job(store: Store, spec: PipelineSpec, salt: str, executor: Executor, factory: TransformFactory,
            *, force: bool = False, progress: ProgressFn | None = None) -> JobInfo | None:
    """Run one job of ``spec`` if its inputs moved since the last successful job (or ``force``).
    Returns the job, or None when there was nothing new."""
    with transaction(store.engine, write=True) as conn:
        _reap_dead_jobs(conn, spec.name)
        heads = input_heads(store, conn, spec)
        last = _last_success(conn, spec.name, spec.fingerprint())
        if isinstance(heads, str):
            return None  # an input has no commits yet: nothing to run
        current = {n: [h.repo, h.commit] for n, h in heads.items()}
        # An update since the last success (new version, or a new salt from --reprocess) needs a job even on the
        # same inputs, planned in full: datum ids under a new salt share nothing with the committed ones.
        updated_at = conn.execute(select(t.pipelines.c.updated_at).where(t.pipelines.c.name == spec.name)).scalar()
        updated = last is not None and updated_at is not None and updated_at > last.created_at
        if last is not None and last.inputs == current and not force and not updated:
            return None
        job_id = uuid.uuid4().hex
        conn.execute(insert(t.jobs).values(
            id=job_id, pipeline=spec.name, version=spec.fingerprint(), state=RUNNING, created_at=time.time(),
            inputs=json.dumps(current), owner=_owner()))
    start = time.perf_counter()
    try:
        with transaction(store.engine) as conn:
            plan = plan_job(store, conn, spec, salt, heads, last.inputs if last and not updated else None,
                            spec.reprocess_spec == "every_job", last.n_total if last else None)
        return _execute(store, spec, job_id, plan, executor, factory, start, progress)
    except BaseException as exc:
        reason = f"{exc.__class__.__name__}: {exc}"
        _finish(store, job_id, KILLED if isinstance(exc, KeyboardInterrupt) else FAILURE, reason, start)
        raise


def _execute(store: Store, spec: PipelineSpec, job_id: str, plan: Plan, executor: Executor,
             factory: TransformFactory, start: float, progress: ProgressFn | None) -> JobInfo:
    if plan.empty_reason:
        return _finish(store, job_id, EMPTY, plan.empty_reason, start, n_total=0)
    recovered = _staged_results(store, spec.name, [d.id for d in plan.todo])
    _mark_recovered(store, spec.name, job_id, sorted(recovered))
    todo = [d for d in plan.todo if d.id not in recovered]
    by_id = {d.id: d for d in plan.todo}
    results: dict[str, DatumResult] = dict(recovered)
    options = RunOptions(parallelism=_workers(spec),
                         batch_size=int(spec.transform.params.get("batch_size", 8)),
                         tries=spec.datum_tries, timeout=spec.datum_timeout, params=spec.transform.params,
                         lister=store.list_range)
    tasks = [DatumTask(job_id, d.id, d.inputs) for d in todo]
    buffer: list[DatumResult] = []
    done = len(recovered)
    flushed = time.monotonic()
    for result in executor.run(f"{spec.name}:{spec.fingerprint()}", factory, tasks, store.objects, options):
        results[result.datum_id] = result
        buffer.append(result)
        done += 1
        if progress:
            progress(spec.name, done, len(plan.todo))
        if time.monotonic() - flushed >= STAGE_SECONDS:
            _stage(store, spec.name, job_id, buffer, by_id)
            buffer, flushed = [], time.monotonic()
    failed = [r for r in results.values() if r.state == "FAILED"]
    counts = {"n_total": plan.n_total, "n_processed": len(tasks), "n_skipped": plan.n_skipped,
              "n_recovered": len(recovered), "n_failed": len(failed), "n_removed": len(plan.removed)}
    if failed:
        _stage(store, spec.name, job_id, buffer, by_id)  # the successes are kept for the retry
        first = failed[0]
        reason = f"{len(failed)} datum(s) failed; first {first.datum_id[:12]}: {first.error}"
        return _finish(store, job_id, FAILURE, reason, start, **counts)
    try:
        return _commit(store, spec, job_id, plan, results, start, counts, buffer, by_id)
    except PipelineError:  # e.g. two datums write one path: keep the records that `vigil datum list` shows
        _stage(store, spec.name, job_id, buffer, by_id)
        raise


def _workers(spec: PipelineSpec) -> int:
    """Workers for a job: ``parallelism_spec.coefficient`` x this machine's cores when set, else ``constant``."""
    coefficient = spec.parallelism_spec.coefficient
    if coefficient is not None:
        return max(1, round(coefficient * (os.cpu_count() or 1)))
    return spec.parallelism_spec.constant


def _stage(store: Store, pipeline: str, job_id: str, results: Iterable[DatumResult],
           datums: dict[str, Datum]) -> None:
    rows = list(results)
    if not rows:
        return
    store.objects.sync()  # a staged result is reused after a crash: its blobs must be on disk first
    with transaction(store.engine, write=True) as conn:
        _stage_rows(conn, pipeline, job_id, rows, datums)


def _stage_rows(conn: Connection, pipeline: str, job_id: str, rows: list[DatumResult],
                datums: dict[str, Datum]) -> None:
    if rows:
        d = t.datums.c
        # Any earlier record goes, committed ones too: with reprocess_spec every_job a committed datum is rerun
        # (its outputs and units stay in place until the job's output commit replaces them).
        for part in chunks([r.datum_id for r in rows]):
            conn.execute(delete(t.datums).where(d.pipeline == pipeline, d.datum_id.in_(part)))
        conn.execute(insert(t.datums), [{
            "pipeline": pipeline, "datum_id": r.datum_id, "job_id": job_id, "state": r.state, "committed": False,
            "attempts": r.attempts, "seconds": r.seconds, "error": r.error, "log": r.log,
            "inputs": json.dumps([[i.name, i.repo, i.root, len(i.files)] for i in datums[r.datum_id].inputs]),
            "outputs": json.dumps(r.outputs) if r.state == "SUCCESS" else None,
        } for r in rows])


def _staged_results(store: Store, pipeline: str, ids: list[str]) -> dict[str, DatumResult]:
    """Uncommitted successful results of an interrupted job whose blobs are still all present."""
    found: dict[str, DatumResult] = {}
    d = t.datums.c
    with transaction(store.engine) as conn:
        for part in chunks(ids):
            for row in conn.execute(select(d.datum_id, d.outputs, d.attempts, d.seconds).where(
                    d.pipeline == pipeline, d.committed.is_(False), d.state.in_(["SUCCESS", "RECOVERED"]),
                    d.datum_id.in_(part))):
                outputs = {p: (o, n) for p, (o, n) in json.loads(row[1]).items()}
                if all(store.objects.exists(o) for o, _ in outputs.values()):
                    found[row[0]] = DatumResult(row[0], "SUCCESS", outputs, row[2], row[3], log="recovered")
    return found


def _mark_recovered(store: Store, pipeline: str, job_id: str, ids: list[str]) -> None:
    """Reused results now belong to this job, in state RECOVERED (so `vigil datum list JOB` shows them)."""
    if not ids:
        return
    d = t.datums.c
    with transaction(store.engine, write=True) as conn:
        for part in chunks(ids):
            conn.execute(update(t.datums).where(d.pipeline == pipeline, d.committed.is_(False),
                                                d.datum_id.in_(part)).values(job_id=job_id, state="RECOVERED"))


def _commit(store: Store, spec: PipelineSpec, job_id: str, plan: Plan, results: dict[str, DatumResult],
            start: float, counts: dict[str, int], unstaged: list[DatumResult], datums: dict[str, Datum]) -> JobInfo:
    """Publish the output commit and the committed datum records (``unstaged`` ones written here) in one
    transaction."""
    new_outputs = {p: (r.datum_id, oid, size) for r in results.values() for p, (oid, size) in r.outputs.items()}
    _check_collisions(results)
    store.objects.sync()  # outside the write lock; publish() then finds nothing left to flush
    with transaction(store.engine, write=True) as conn:
        _stage_rows(conn, spec.name, job_id, unstaged, datums)
        o = t.datum_outputs.c
        replaced = sorted(set(plan.removed) | set(results))
        old_paths: set[str] = set()
        for part in chunks(replaced):
            old_paths.update(conn.execute(select(o.path).where(
                o.pipeline == spec.name, o.datum_id.in_(part))).scalars())
            conn.execute(delete(t.datum_outputs).where(o.pipeline == spec.name, o.datum_id.in_(part)))
            conn.execute(delete(t.datum_units).where(t.datum_units.c.pipeline == spec.name,
                                                     t.datum_units.c.datum_id.in_(part)))
            conn.execute(delete(t.datums).where(t.datums.c.pipeline == spec.name,
                                                t.datums.c.datum_id.in_(part), t.datums.c.committed.is_(True)))
        _check_owned_elsewhere(conn, spec.name, new_outputs)
        builder = store.begin_commit(
            spec.name, spec.output_branch, description=f"pipeline {spec.name} {spec.fingerprint()[:12]}",
            origin=f"job:{job_id}", provenance=[(h.repo, h.commit) for h in plan.inputs.values()])
        for path in sorted(old_paths - set(new_outputs)):
            builder.delete(path)
        for path, (_, oid, size) in sorted(new_outputs.items()):
            builder.stage_blob(path, oid, size)
        commit = builder.publish(conn)
        _record_committed(conn, spec.name, results, new_outputs)
        info = _finish_in(conn, job_id, SUCCESS, "", start, output_commit=commit.id, **counts)
    log.info("job %s of %s: %s", job_id, spec.name, info.state)
    return info


def _check_collisions(results: dict[str, DatumResult]) -> None:
    owner: dict[str, str] = {}
    for r in sorted(results.values(), key=lambda r: r.datum_id):
        for path in r.outputs:
            if path in owner:
                raise PipelineError(f"datums {owner[path][:12]} and {r.datum_id[:12]} both write {path}",
                                    "make output paths unique per datum (e.g. include the input file name)")
            owner[path] = r.datum_id


def _check_owned_elsewhere(conn: Connection, pipeline: str, new_outputs: dict[str, tuple[str, str, int]]) -> None:
    o = t.datum_outputs.c
    for part in chunks(sorted(new_outputs)):
        for path, other in conn.execute(select(o.path, o.datum_id).where(o.pipeline == pipeline, o.path.in_(part))):
            raise PipelineError(f"datums {other[:12]} and {new_outputs[path][0][:12]} both write {path}",
                                "make output paths unique per datum (e.g. include the input file name)")


def _record_committed(conn: Connection, pipeline: str, results: dict[str, DatumResult],
                      new_outputs: dict[str, tuple[str, str, int]]) -> None:
    d = t.datums.c
    ids = sorted(results)
    for part in chunks(ids):
        conn.execute(update(t.datums).where(d.pipeline == pipeline, d.datum_id.in_(part)).values(
            committed=True, outputs=None))
        rows = conn.execute(select(d.datum_id, d.inputs).where(d.pipeline == pipeline, d.datum_id.in_(part)))
        units = {(r[0], name, root) for r in rows for name, _repo, root, _n in json.loads(r[1])}
        if units:
            conn.execute(insert(t.datum_units), [
                {"pipeline": pipeline, "datum_id": i, "input_name": n, "root": root} for i, n, root in sorted(units)])
    if new_outputs:
        conn.execute(insert(t.datum_outputs), [
            {"pipeline": pipeline, "path": p, "datum_id": i, "oid": oid, "size": size}
            for p, (i, oid, size) in sorted(new_outputs.items())])


def _finish(store: Store, job_id: str, state: str, reason: str, start: float, **fields: Any) -> JobInfo:
    with transaction(store.engine, write=True) as conn:
        return _finish_in(conn, job_id, state, reason, start, **fields)


def _finish_in(conn: Connection, job_id: str, state: str, reason: str, start: float, **fields: Any) -> JobInfo:
    conn.execute(update(t.jobs).where(t.jobs.c.id == job_id).values(
        state=state, reason=reason[:2000], finished_at=time.time(), seconds=time.perf_counter() - start,
        **fields))
    return JobInfo.from_row(conn.execute(select(t.jobs).where(t.jobs.c.id == job_id)).one())


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _reap_dead_jobs(conn: Connection, pipeline: str) -> None:
    """Mark RUNNING jobs of this host whose runner process is gone as KILLED."""
    host = socket.gethostname()
    for job_id, owner in conn.execute(select(t.jobs.c.id, t.jobs.c.owner).where(
            t.jobs.c.pipeline == pipeline, t.jobs.c.state == RUNNING)).all():
        h, _, pid = owner.rpartition(":")
        if h == host and pid.isdigit() and not _alive(int(pid)):
            conn.execute(update(t.jobs).where(t.jobs.c.id == job_id).values(
                state=KILLED, reason="the runner process died; its finished datums are reused by the next job",
                finished_at=time.time()))


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _last_success(conn: Connection, pipeline: str, version: str) -> JobInfo | None:
    j = t.jobs.c
    row = conn.execute(select(t.jobs).where(j.pipeline == pipeline, j.state.in_([SUCCESS]))
                       .order_by(j.seq.desc()).limit(1)).first()
    return JobInfo.from_row(row) if row is not None else None


def get_job(store: Store, job_id: str) -> JobInfo:
    with transaction(store.engine) as conn:
        rows = conn.execute(select(t.jobs).where(t.jobs.c.id.like(job_id + "%")).limit(2)).all()
    if not rows:
        raise NotFoundError(f"no job {job_id!r}", "list jobs with `vigil job list`")
    if len(rows) > 1:
        raise PipelineError(f"job prefix {job_id!r} is ambiguous", "give more characters")
    return JobInfo.from_row(rows[0])


def list_jobs(store: Store, pipeline: str | None = None, limit: int = 50) -> list[JobInfo]:
    j = t.jobs.c
    q = select(t.jobs).order_by(j.seq.desc()).limit(limit)
    if pipeline:
        q = q.where(j.pipeline == pipeline)
    with transaction(store.engine) as conn:
        return [JobInfo.from_row(r) for r in conn.execute(q)]


__all__ = ["CommitBuilder", "JobInfo", "get_job", "list_jobs", "run_job"]
