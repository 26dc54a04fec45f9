"""Counts for monitoring: jobs and datums by pipeline and state (one grouped query each)."""

from __future__ import annotations

from sqlalchemy import func, select

from vigil.pipeline import state as t
from vigil.store.database import transaction
from vigil.store.store import Store


def job_counts(store: Store) -> dict[tuple[str, str], int]:
    """(pipeline, state) -> number of jobs."""
    j = t.jobs.c
    with transaction(store.engine) as conn:
        rows = conn.execute(select(j.pipeline, j.state, func.count()).group_by(j.pipeline, j.state)).all()
    return {(r[0], r[1]): int(r[2]) for r in rows}


def datum_counts(store: Store) -> dict[tuple[str, str], int]:
    """(pipeline, state) -> number of datums (their latest record)."""
    d = t.datums.c
    with transaction(store.engine) as conn:
        rows = conn.execute(select(d.pipeline, d.state, func.count()).group_by(d.pipeline, d.state)).all()
    return {(r[0], r[1]): int(r[2]) for r in rows}


__all__ = ["datum_counts", "job_counts"]
