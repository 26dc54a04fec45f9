"""Queries over datum records: per job, one datum, logs, restart, and which datum wrote an output path."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import delete, select, update

from vigil.errors import NotFoundError
from vigil.pipeline import state as t
from vigil.store.database import transaction
from vigil.store.store import Store


def _row(m: Any) -> dict[str, Any]:
    d = dict(m)
    d["inputs"] = json.loads(d["inputs"])
    d["outputs"] = json.loads(d["outputs"]) if d.get("outputs") else None
    return d


def for_job(store: Store, job_id: str) -> list[dict[str, Any]]:
    with transaction(store.engine) as conn:
        rows = conn.execute(select(t.datums).where(t.datums.c.job_id == job_id).order_by(t.datums.c.datum_id))
        return [_row(r) for r in rows.mappings()]


def get(store: Store, pipeline: str, datum: str) -> dict[str, Any]:
    d = t.datums.c
    with transaction(store.engine) as conn:
        rows = conn.execute(select(t.datums).where(d.pipeline == pipeline, d.datum_id.like(datum + "%")).limit(2)
                            ).mappings().all()
        if len(rows) != 1:
            raise NotFoundError(f"no single datum {datum!r} in pipeline {pipeline!r}",
                                "list datums with `vigil datum list JOB`")
        rec = _row(rows[0])
        o = t.datum_outputs.c
        rec["committed_outputs"] = dict(conn.execute(select(o.path, o.oid).where(
            o.pipeline == pipeline, o.datum_id == rec["datum_id"])).all())
        return rec


def logs(store: Store, *, pipeline: str | None, job_id: str | None, datum: str | None) -> list[dict[str, Any]]:
    d = t.datums.c
    q = select(t.datums).where(d.log != "").order_by(d.pipeline, d.datum_id)
    if pipeline:
        q = q.where(d.pipeline == pipeline)
    if job_id:
        q = q.where(d.job_id == job_id)
    if datum:
        q = q.where(d.datum_id.like(datum + "%"))
    with transaction(store.engine) as conn:
        return [_row(r) for r in conn.execute(q).mappings()]


def restart(store: Store, pipeline: str, datum: str) -> None:
    """Forget a datum's committed record so that the next job treats it as new (its outputs get rewritten).
    The pipeline is marked changed, so the next run plans it in full even when no input moved."""
    rec = get(store, pipeline, datum)
    with transaction(store.engine, write=True) as conn:
        conn.execute(update(t.pipelines).where(t.pipelines.c.name == pipeline).values(updated_at=time.time()))
        conn.execute(delete(t.datums).where(t.datums.c.pipeline == pipeline,
                                            t.datums.c.datum_id == rec["datum_id"]))
        conn.execute(delete(t.datum_units).where(t.datum_units.c.pipeline == pipeline,
                                                 t.datum_units.c.datum_id == rec["datum_id"]))


def retry(store: Store, pipeline: str, datum: str | None = None) -> int:
    """Make failed datums of ``pipeline`` (one, by id prefix, or all) due for a retry now; returns how many."""
    d = t.datums.c
    cond = [d.pipeline == pipeline, d.committed.is_(False), d.state == "FAILED"]
    if datum:
        cond.append(d.datum_id.like(datum + "%"))
    with transaction(store.engine, write=True) as conn:
        return int(conn.execute(update(t.datums).where(*cond).values(retry_at=time.time())).rowcount)


def writer_of(store: Store, pipeline: str, path: str) -> dict[str, Any] | None:
    """The datum record that wrote ``path`` of ``pipeline``'s output, or None."""
    o = t.datum_outputs.c
    with transaction(store.engine) as conn:
        row = conn.execute(select(o.datum_id).where(o.pipeline == pipeline, o.path == path)).first()
    return get(store, pipeline, row[0]) if row else None
