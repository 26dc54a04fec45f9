"""One snapshot of the site for monitoring (``/metrics``): jobs and datums by state, lease holders, cameras
and events indexed. A few grouped queries, run once per scrape."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from vigil.index.schema import cameras, events
from vigil.pipeline.stats import datum_counts, job_counts
from vigil.store.database import transaction
from vigil.store.leases import Leases
from vigil.store.store import Store


def snapshot(store: Store) -> dict[str, Any]:
    with transaction(store.engine) as conn:
        n_events = int(conn.execute(select(func.count()).select_from(events)).scalar_one())
        n_cameras = int(conn.execute(select(func.count()).select_from(cameras)).scalar_one())
    return {
        "jobs": job_counts(store),
        "datums": datum_counts(store),
        "leases": [(lease.name, lease.holder) for lease in Leases(store.engine).list()],
        "events": n_events,
        "cameras": n_cameras,
    }


__all__ = ["snapshot"]
