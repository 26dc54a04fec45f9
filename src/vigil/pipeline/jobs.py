"""Jobs: plan, execute through an :class:`Executor`, and publish one output commit with provenance.

Crash safety: results are staged in the ``datums`` table as they complete (uncommitted, with their output
blobs already stored). The output commit, the committed datum records and the job's SUCCESS are written in ONE
metadata transaction, so a job's output appears once and whole. A runner killed mid-job leaves a RUNNING job
that the next run marks KILLED; the new job reuses the staged results (state RECOVERED) and processes the rest.

Run unattended: a job is run by the holder of its pipeline's lease (:mod:`vigil.pipeline.runner`), which
fences the publishing transaction. A datum that fails (after ``datum_tries``) does not hold the others back: the
job publishes every other result (state PARTIAL) and the failed datum is retried by later jobs with back-off
(``DATUM_BACKOFF``). A job is FAILURE only when it could not run or published nothing while some new datum
failed; the runner then backs the pipeline off. Several datums writing one output path is resolved by
:mod:`vigil.pipeline.conflicts`.
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
from vigil.pipeline import identity
from vigil.pipeline import state as t
from vigil.pipeline.conflicts import Claim, Resolution, policy_for, resolve
from vigil.pipeline.datums import Datum
from vigil.pipeline.planner import Plan, input_heads, parse_inputs, plan_job
from vigil.pipeline.spec import PipelineSpec
from vigil.pipeline.transform import DatumResult, DatumTask, Executor, RunOptions, TransformFactory
from vigil.store.commit import CommitBuilder
from vigil.store.database import transaction
from vigil.store.store import Store, chunks

log = logging.getLogger(__name__)

CREATED, RUNNING, SUCCESS, FAILURE, KILLED, EMPTY = "CREATED", "RUNNING", "SUCCESS", "FAILURE", "KILLED", "EMPTY"
PARTIAL = "PARTIAL"  # published, but some datums failed (they are retried by later jobs)
DONE_STATES = (SUCCESS, PARTIAL)  # a job whose inputs count as processed
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
    code_digest: str | None = None  # the code identity it ran (vigil.pipeline.identity)

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
Fence = Callable[[Connection], None]  # raises inside the publishing transaction when this runner lost its lease


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off: ``base * factor**(n-1)`` seconds after the n-th consecutive failure, at most ``cap``."""

    base: float
    factor: float
    cap: float

    def delay(self, failures: int) -> float:
        return float(min(self.cap, self.base * self.factor ** max(0, failures - 1)))


DATUM_BACKOFF = Backoff(base=60.0, factor=4.0, cap=6 * 3600.0)  # 1 min, 4 min, 16 min, ... at most 6 h


def run_job(store: Store, spec: PipelineSpec, salt: str, executor: Executor, factory: TransformFactory,
            *, force: bool = False, progress: ProgressFn | None = None, fence: Fence | None = None,
            orphaned_by: str | None = None) -> JobInfo | None:
    """Run one job of ``spec`` if its inputs moved since the last published job, a failed datum's retry is due,
    or ``force``. Returns the job, or None when there was nothing to do.

    The caller holds the pipeline's lease (so any job of it still RUNNING is orphaned: it is marked KILLED,
    naming ``orphaned_by``, the holder whose lease lapsed, when known); ``fence`` re-checks that lease inside
    the publishing transaction."""
    now = time.time()
    code = identity.code_identity(spec, getattr(factory, "image", None))  # in-image factories name their image
    with transaction(store.engine, write=True) as conn:
        _reap_orphans(conn, spec.name, orphaned_by)
        heads = input_heads(store, conn, spec)
        last = _last_published(conn, spec.name)
        if isinstance(heads, str):
            return None  # an input has no commits yet: nothing to run
        current = {n: [h.repo, h.commit] for n, h in heads.items()}
        # An update since the last success (new version, or a new salt from --reprocess) needs a job even on the
        # same inputs, planned in full: datum ids under a new salt share nothing with the committed ones.
        updated_at = conn.execute(select(t.pipelines.c.updated_at).where(t.pipelines.c.name == spec.name)).scalar()
        updated = last is not None and updated_at is not None and updated_at > last.created_at
        if (last is not None and last.inputs == current and not force and not updated
                and not retries_due(conn, spec.name, now)):
            return None
        job_id = uuid.uuid4().hex
        identity.record(conn, code)
        conn.execute(insert(t.jobs).values(
            id=job_id, pipeline=spec.name, version=spec.fingerprint(), state=RUNNING, created_at=now,
            inputs=json.dumps(current), owner=_owner(), code_digest=code.digest))
    start = time.perf_counter()
    try:
        with transaction(store.engine) as conn:
            plan = plan_job(store, conn, spec, salt, heads, last.inputs if last and not updated else None,
                            spec.reprocess_spec == "every_job", last.n_total if last else None, now=now)
        return _execute(store, spec, job_id, plan, executor, factory, start, progress, fence)
    except BaseException as exc:
        reason = f"{exc.__class__.__name__}: {exc}"
        _finish(store, job_id, KILLED if isinstance(exc, KeyboardInterrupt) else FAILURE, reason, start)
        raise


def _execute(store: Store, spec: PipelineSpec, job_id: str, plan: Plan, executor: Executor,
             factory: TransformFactory, start: float, progress: ProgressFn | None, fence: Fence | None) -> JobInfo:
    if plan.empty_reason and not plan.removed:
        return _finish(store, job_id, EMPTY, plan.empty_reason, start, n_total=0)
    # every input file gone: an output commit without the removed datums' outputs (a stale report would lie)
    recovered = _staged_results(store, spec.name, [d.id for d in plan.todo])
    _mark_recovered(store, spec.name, job_id, sorted(recovered))
    todo = [d for d in plan.todo if d.id not in recovered]
    by_id = {d.id: d for d in plan.todo}
    results: dict[str, DatumResult] = dict(recovered)
    options = RunOptions(parallelism=_workers(spec),
                         batch_size=int(spec.transform.params.get("batch_size", 8)),
                         tries=spec.datum_tries, timeout=spec.datum_timeout, params=spec.transform.params,
                         lister=store.list_range)
    tasks = [DatumTask(job_id, d.id, d.inputs, plan.base) for d in todo]
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
    failed = sorted((r for r in results.values() if r.state == "FAILED"), key=lambda r: r.datum_id)
    counts = {"n_total": plan.n_total, "n_processed": len(tasks), "n_skipped": plan.n_skipped,
              "n_recovered": len(recovered), "n_failed": len(failed), "n_removed": len(plan.removed)}
    reason = ""
    if failed:
        first = failed[0]
        reason = (f"{len(failed)} datum(s) failed, retried with back-off; first {first.datum_id[:12]}: "
                  f"{first.error}")
        if len(failed) == len(results) and not plan.removed and not set(plan.retries) >= {r.datum_id for r in failed}:
            # nothing to publish and something new failed: the job failed (the runner backs the pipeline off)
            _stage(store, spec.name, job_id, buffer, by_id)  # successes and failures are kept for the retry
            return _finish(store, job_id, FAILURE, reason, start, **counts)
    try:
        return _commit(store, spec, job_id, plan, results, start, counts, buffer, by_id, fence, reason)
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
    if not rows:
        return
    d = t.datums.c
    now = time.time()
    earlier: dict[str, tuple[bool, int]] = {}  # datum id -> (committed, failures) of its previous record
    for part in chunks([r.datum_id for r in rows]):
        earlier.update((i, (bool(c), int(n))) for i, c, n in conn.execute(
            select(d.datum_id, d.committed, d.failures).where(d.pipeline == pipeline, d.datum_id.in_(part))))
    # A failed rerun of a committed datum (reprocess_spec every_job) keeps the committed record and outputs.
    rows = [r for r in rows if not (r.state == "FAILED" and earlier.get(r.datum_id, (False, 0))[0])]
    # Any other earlier record goes, committed ones too: with reprocess_spec every_job a committed datum is
    # rerun (its outputs and units stay in place until the job's output commit replaces them).
    for part in chunks([r.datum_id for r in rows]):
        conn.execute(delete(t.datums).where(d.pipeline == pipeline, d.datum_id.in_(part)))
    records = []
    for r in rows:
        failures = earlier.get(r.datum_id, (False, 0))[1] + 1 if r.state == "FAILED" else 0
        records.append({
            "pipeline": pipeline, "datum_id": r.datum_id, "job_id": job_id, "state": r.state, "committed": False,
            "attempts": r.attempts, "seconds": r.seconds, "error": r.error, "log": r.log,
            "inputs": json.dumps([[i.name, i.repo, i.root, len(i.files)] for i in datums[r.datum_id].inputs]),
            "outputs": json.dumps(r.outputs) if r.state == "SUCCESS" else None,
            "failures": failures, "retry_at": now + DATUM_BACKOFF.delay(failures) if failures else None,
        })
    if records:
        conn.execute(insert(t.datums), records)


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
            start: float, counts: dict[str, int], unstaged: list[DatumResult], datums: dict[str, Datum],
            fence: Fence | None, reason: str) -> JobInfo:
    """Publish the output commit and the committed datum records (``unstaged`` ones written here) in one
    transaction. Failed datums stay uncommitted (retried later); the job is PARTIAL when there are any."""
    done = {i: r for i, r in results.items() if r.state == "SUCCESS"}
    store.objects.sync()  # outside the write lock; publish() then finds nothing left to flush
    with transaction(store.engine, write=True) as conn:
        if fence is not None:
            fence(conn)
        _stage_rows(conn, spec.name, job_id, unstaged, datums)
        o = t.datum_outputs.c
        replaced = sorted(set(plan.removed) | set(done))
        old_paths: set[str] = set()
        previous: dict[tuple[str, str], str] = {}  # (claimed path, oid) -> where it was, for stable renames
        for part in chunks(replaced):
            for path, claimed, oid in conn.execute(select(o.path, o.claimed_path, o.oid).where(
                    o.pipeline == spec.name, o.datum_id.in_(part))):
                old_paths.add(path)
                previous[(claimed or path, oid)] = path
            conn.execute(delete(t.datum_outputs).where(o.pipeline == spec.name, o.datum_id.in_(part)))
            conn.execute(delete(t.datum_units).where(t.datum_units.c.pipeline == spec.name,
                                                     t.datum_units.c.datum_id.in_(part)))
            conn.execute(delete(t.datums).where(t.datums.c.pipeline == spec.name,
                                                t.datums.c.datum_id.in_(part), t.datums.c.committed.is_(True)))
        for path in plan.obsolete:  # failed records of datums whose inputs have changed or gone
            conn.execute(delete(t.datums).where(t.datums.c.pipeline == spec.name, t.datums.c.datum_id == path))
        claims = [Claim(p, r.datum_id, oid, size) for r in done.values() for p, (oid, size) in r.outputs.items()]
        placed = resolve(claims, _owners(conn, spec.name, {c.path for c in claims}), previous, policy_for(spec))
        builder = store.begin_commit(
            spec.name, spec.output_branch, description=f"pipeline {spec.name} {spec.fingerprint()[:12]}",
            origin=f"job:{job_id}", provenance=[(h.repo, h.commit) for h in plan.inputs.values()])
        builder.code_digest = conn.execute(select(t.jobs.c.code_digest).where(t.jobs.c.id == job_id)).scalar()
        for path in sorted(old_paths - set(placed.placed)):
            builder.delete(path)
        for path, p in sorted(placed.placed.items()):
            builder.stage_blob(path, p.claim.oid, p.claim.size)
        commit = builder.publish(conn)
        _record_committed(conn, spec.name, done, placed)
        state = PARTIAL if counts["n_failed"] else SUCCESS
        info = _finish_in(conn, job_id, state, reason, start, output_commit=commit.id, **counts)
    log.info("job %s of %s: %s", job_id, spec.name, info.state)
    return info


def _owners(conn: Connection, pipeline: str, paths: set[str]) -> dict[str, list[tuple[str, str, str]]]:
    """Committed outputs claiming ``paths``: claimed path -> [(path it landed at, oid, datum id)]."""
    o = t.datum_outputs.c
    owners: dict[str, list[tuple[str, str, str]]] = {}
    for part in chunks(sorted(paths)):
        for cond in (o.path.in_(part), o.claimed_path.in_(part)):
            for path, claimed, oid, datum in conn.execute(select(o.path, o.claimed_path, o.oid, o.datum_id).where(
                    o.pipeline == pipeline, cond)):
                held = owners.setdefault(claimed or path, [])
                if (path, oid, datum) not in held:
                    held.append((path, oid, datum))
    return owners


def _record_committed(conn: Connection, pipeline: str, done: dict[str, DatumResult], placed: Resolution) -> None:
    d = t.datums.c
    ids = sorted(done)
    for part in chunks(ids):
        conn.execute(update(t.datums).where(d.pipeline == pipeline, d.datum_id.in_(part)).values(
            committed=True, outputs=None))
        rows = conn.execute(select(d.datum_id, d.inputs).where(d.pipeline == pipeline, d.datum_id.in_(part)))
        units = {(r[0], name, root) for r in rows for name, _repo, root, _n in json.loads(r[1])}
        if units:
            conn.execute(insert(t.datum_units), [
                {"pipeline": pipeline, "datum_id": i, "input_name": n, "root": root} for i, n, root in sorted(units)])
    for datum_id, notes in sorted(placed.duplicates.items()):
        conn.execute(update(t.datums).where(d.pipeline == pipeline, d.datum_id == datum_id).values(
            log="\n".join(notes)))
    if placed.placed:
        conn.execute(insert(t.datum_outputs), [
            {"pipeline": pipeline, "path": path, "datum_id": p.claim.datum_id, "oid": p.claim.oid,
             "size": p.claim.size, "claimed_path": p.claim.path if p.renamed else None}
            for path, p in sorted(placed.placed.items())])


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


def _reap_orphans(conn: Connection, pipeline: str, previous_holder: str | None) -> None:
    """Mark RUNNING jobs of ``pipeline`` KILLED. Only the holder of the pipeline's lease runs its jobs, and the
    caller holds it now, so any job still RUNNING belongs to a runner that died or lost its lease."""
    why = (f"its runner ({previous_holder}) stopped renewing its lease" if previous_holder
           else "its runner stopped (killed, or the machine went down)")
    conn.execute(update(t.jobs).where(t.jobs.c.pipeline == pipeline, t.jobs.c.state == RUNNING).values(
        state=KILLED, reason=f"{why}; its finished datums are reused by the next job", finished_at=time.time()))


def retries_due(conn: Connection, pipeline: str, now: float) -> bool:
    """True if a failed datum of ``pipeline`` is due for another try."""
    d = t.datums.c
    return conn.execute(select(d.datum_id).where(
        d.pipeline == pipeline, d.committed.is_(False), d.state == "FAILED", d.retry_at <= now).limit(1)
    ).first() is not None


def _last_published(conn: Connection, pipeline: str) -> JobInfo | None:
    j = t.jobs.c
    row = conn.execute(select(t.jobs).where(j.pipeline == pipeline, j.state.in_(DONE_STATES))
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


__all__ = ["DATUM_BACKOFF", "DONE_STATES", "PARTIAL", "Backoff", "CommitBuilder", "JobInfo", "get_job", "list_jobs",
           "retries_due", "run_job"]
