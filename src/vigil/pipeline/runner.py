"""Running the DAG unattended: every pipeline whose inputs moved gets a job, upstream first, so one input commit
runs the whole DAG in one pass; ``watch`` repeats that as commits arrive.

One pipeline never stops another: a pipeline that cannot load, or whose job fails, is recorded, backs off
exponentially (``PIPELINE_BACKOFF``, persisted on the pipeline so cron runs and restarts honour it too), and the
others go on. Several runners (processes, machines) share a workspace safely: a job runs only under its
pipeline's lease (:mod:`vigil.store.leases`), so a second runner skips a pipeline being run, and takes it over
when the first one dies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import update

from vigil.errors import ConflictError, VigilError
from vigil.pipeline import state as t
from vigil.pipeline.jobs import FAILURE, Backoff, JobInfo, ProgressFn, run_job
from vigil.pipeline.registry import Pipeline, get_pipeline, list_pipelines
from vigil.pipeline.transform import Executor, TransformFactory
from vigil.store.database import transaction
from vigil.store.leases import Lease, LeaseKeeper, Leases
from vigil.store.store import Store

log = logging.getLogger(__name__)

FactoryFor = Callable[[Pipeline], TransformFactory]
PIPELINE_BACKOFF = Backoff(base=5.0, factor=2.0, cap=300.0)  # 5 s, 10 s, 20 s, ... at most 5 min


@dataclass
class RunReport:
    """One pass over the DAG: the jobs that ran, pipelines skipped (and why), pipelines that failed (and why)."""

    jobs: list[JobInfo] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    errors: dict[str, VigilError | Exception] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """True if a pipeline could not run or a job did not fully succeed (FAILURE, PARTIAL, KILLED)."""
        return bool(self.errors) or any(j.state not in ("SUCCESS", "EMPTY") for j in self.jobs)


class Runner:
    """Runs pipelines' jobs through ``executor``, one pipeline at a time, each under its lease."""

    def __init__(self, store: Store, executor: Executor, factory_for: FactoryFor, *,
                 leases: Leases | None = None, backoff: Backoff = PIPELINE_BACKOFF) -> None:
        self.store = store
        self.executor = executor
        self.factory_for = factory_for
        self.leases = leases or Leases(store.engine)
        self.keeper = LeaseKeeper(self.leases)
        self.backoff = backoff

    def run_once(self, only: str | None = None, *, force: bool = False, progress: ProgressFn | None = None,
                 after_job: Callable[[JobInfo], object] | None = None) -> RunReport:
        """A job for each pipeline with new input or due retries (just ``only`` if given), upstream first.
        A pipeline backing off is skipped unless it is named in ``only`` or ``force`` is set. ``after_job`` runs
        after each job that published an output commit (e.g. alert delivery: an alert need not wait for the
        pipelines downstream of threat)."""
        report = RunReport()
        pipelines = [get_pipeline(self.store, only)] if only else list_pipelines(self.store)
        now = time.time()
        for p in pipelines:
            if p.retry_at is not None and p.retry_at > now and not (force or only):
                report.skipped[p.name] = (f"backing off after {p.failures} failure(s), next try at "
                                          f"{time.strftime('%H:%M:%S', time.localtime(p.retry_at))}: "
                                          f"{p.last_error or ''}")
                continue
            lease = self.leases.acquire(f"pipeline:{p.name}")
            if lease is None:
                holder = self.leases.holder_of(f"pipeline:{p.name}")
                report.skipped[p.name] = f"being run by {holder.holder if holder else 'another runner'}"
                continue
            self.keeper.hold(lease)
            ran = len(report.jobs)
            try:
                self._run_one(p, lease, force, progress, report)
            finally:
                self.keeper.drop(lease.name)
                self.leases.release(lease)
            if after_job and len(report.jobs) > ran and report.jobs[-1].output_commit:
                after_job(report.jobs[-1])
        return report

    def _run_one(self, p: Pipeline, lease: Lease, force: bool, progress: ProgressFn | None,
                 report: RunReport) -> None:
        try:
            factory = self.factory_for(p)
            job = run_job(self.store, p.spec, p.salt, self.executor, factory, force=force, progress=progress,
                          fence=self._fence(lease), orphaned_by=lease.took_over_from)
        except Exception as exc:  # a broken pipeline is recorded and backed off; the others go on
            log.error("pipeline %s failed: %s", p.name, exc)
            report.errors[p.name] = exc
            self._failed(p, f"{exc.__class__.__name__}: {exc}")
            return
        if job is None:
            return
        report.jobs.append(job)
        if job.state == FAILURE:
            self._failed(p, job.reason)
        elif p.failures:
            self._recovered(p)

    def _fence(self, lease: Lease) -> Callable[..., None]:
        def check(conn: object) -> None:
            if self.keeper.lost(lease.name) or not self.leases.check(conn, lease):  # type: ignore[arg-type]
                raise ConflictError(f"this runner lost the lease of {lease.name} (it stalled past its expiry and "
                                    "another runner took over)", "nothing to do: the other runner redoes the job")
        return check

    def _failed(self, p: Pipeline, error: str) -> None:
        failures = p.failures + 1
        retry_at = time.time() + self.backoff.delay(failures)
        with transaction(self.store.engine, write=True) as conn:
            conn.execute(update(t.pipelines).where(t.pipelines.c.name == p.name).values(
                failures=failures, retry_at=retry_at, last_error=error[:2000]))

    def _recovered(self, p: Pipeline) -> None:
        with transaction(self.store.engine, write=True) as conn:
            conn.execute(update(t.pipelines).where(t.pipelines.c.name == p.name).values(
                failures=0, retry_at=None, last_error=None))

    def watch(self, *, interval: float = 1.0, should_stop: Callable[[], bool] = lambda: False,
              on_report: Callable[[RunReport], None] | None = None, progress: ProgressFn | None = None,
              between: Callable[[], int] | None = None, after_job: Callable[[JobInfo], object] | None = None
              ) -> None:
        """Keep running pending jobs as commits arrive, polling every ``interval`` seconds, until
        ``should_stop``. Never returns on a failing pipeline or an unreachable database: it logs, waits and
        retries. ``between`` runs after each pass (other duties, e.g. alert delivery; returns work done),
        ``after_job`` after each published job."""
        outage = 0
        while not should_stop():
            try:
                report = self.run_once(progress=progress, after_job=after_job)
                done = between() if between else 0
                outage = 0
            except VigilError as exc:  # e.g. the database is down: wait, then try again
                outage += 1
                delay = min(60.0, interval * 2 ** min(outage, 6))
                log.error("runner pass failed (%s); retrying in %.0f s", exc, delay)
                _sleep(delay, should_stop)
                continue
            if on_report and (report.jobs or report.errors):
                on_report(report)
            if not report.jobs and not done:
                _sleep(interval, should_stop)

    def hand_back(self) -> list[str]:
        """When this runner's thread cannot be stopped in time (the process is exiting under it): mark the jobs of
        the pipelines it holds KILLED (their finished datums are reused) and release their leases, so another
        runner takes over at once. Returns those pipelines."""
        names = []
        for lease in self.keeper.held():
            pipeline = lease.name.removeprefix("pipeline:")
            with transaction(self.store.engine, write=True) as conn:
                if self.leases.check(conn, lease):
                    conn.execute(update(t.jobs).where(t.jobs.c.pipeline == pipeline, t.jobs.c.state == "RUNNING")
                                 .values(state="KILLED", finished_at=time.time(),
                                         reason="its server shut down; its finished datums are reused by the next job"))
            self.keeper.drop(lease.name)
            self.leases.release(lease)
            names.append(pipeline)
        return names

    def close(self) -> None:
        self.keeper.close()


def _sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not should_stop() and time.monotonic() < deadline:
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


__all__ = ["PIPELINE_BACKOFF", "FactoryFor", "RunReport", "Runner"]
