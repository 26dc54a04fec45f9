"""Running the DAG: every pipeline whose inputs moved gets a job, upstream first, so one input commit runs
the whole DAG in one pass. ``watch`` repeats that as commits arrive."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from vigil.pipeline.jobs import JobInfo, ProgressFn, run_job
from vigil.pipeline.registry import Pipeline, get_pipeline, list_pipelines
from vigil.pipeline.transform import Executor, TransformFactory
from vigil.store.store import Store

log = logging.getLogger(__name__)

FactoryFor = Callable[[Pipeline], TransformFactory]


def run_pending(store: Store, executor: Executor, factory_for: FactoryFor, *, only: str | None = None,
                force: bool = False, progress: ProgressFn | None = None) -> list[JobInfo]:
    """Run a job for each pipeline with new input (just ``only`` if given), in topological order."""
    pipelines = [get_pipeline(store, only)] if only else list_pipelines(store)
    jobs: list[JobInfo] = []
    for p in pipelines:
        job = run_job(store, p.spec, p.salt, executor, factory_for(p), force=force, progress=progress)
        if job is not None:
            jobs.append(job)
    return jobs


def watch(store: Store, executor: Executor, factory_for: FactoryFor, *, interval: float = 1.0,
          should_stop: Callable[[], bool] = lambda: False, on_jobs: Callable[[list[JobInfo]], None] | None = None,
          progress: ProgressFn | None = None) -> None:
    """Keep running pending jobs as input commits arrive, polling every ``interval`` seconds."""
    while not should_stop():
        jobs = run_pending(store, executor, factory_for, progress=progress)
        if jobs and on_jobs:
            on_jobs(jobs)
        if not jobs:
            time.sleep(interval)
