"""The events index: one row per threat event, derived from the ``threat`` repo's records
(``/<camera>/<ts>.json``, each with the ``events`` the rules raised), and the queries the API lists them with.

Listing is one indexed query whatever the number of events: keyset (cursor) pagination on (ts, event_id),
newest first, with filters on tenant, camera, rule, severity, label, time range and feedback.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, insert, or_, select

from vigil.domain.access import Principal
from vigil.errors import NotFoundError, UsageError
from vigil.index.feed import FeedIndex
from vigil.index.schema import event_labels, events, feedback
from vigil.store.database import transaction
from vigil.store.feeds import FeedBatch
from vigil.store.store import Store, chunks

log = logging.getLogger(__name__)

NAME = "events-index"
REPO = "threat"
SEVERITIES = ("low", "medium", "high", "critical")
MAX_PAGE = 1000


def _event_rows(path: str, doc: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for ev in doc.get("events", []):
        objects = ev.get("objects", [])
        rows.append({
            "event_id": ev["event_id"], "tenant": ev.get("tenant"), "camera": doc["camera"],
            "device": ev["device"], "ts": int(ev["ts"]), "rule_id": ev["rule_id"],
            "rules_version": ev["rules_version"], "severity": ev["severity"],
            "max_score": max((float(o["score"]) for o in objects), default=0.0), "threat_path": path,
            "source": ev["source"], "doc": json.dumps(ev, sort_keys=True),
            "labels": sorted({str(o["label"]) for o in objects}),
        })
    return rows


def _prepare(store: Store, batch: FeedBatch) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for change in batch.changes:
        if change.oid is not None and change.path.endswith(".json"):
            with store.objects.open(change.oid) as fh:
                data = fh.read()
            try:
                rows.extend(_event_rows(change.path, json.loads(data)))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:  # one bad record never stops the index
                log.warning("events index: %s@%s:%s is not a threat record (%s: %s); skipped", REPO,
                            batch.head.id[:12], change.path, exc.__class__.__name__, exc)
    return rows


def _apply(conn: Connection, _store: Store, batch: FeedBatch, rows: list[dict[str, Any]]) -> int:
    if batch.rebuilt:
        conn.execute(delete(event_labels))
        conn.execute(delete(events))
    else:
        _drop(conn, [c.path for c in batch.changes])
    _drop_ids(conn, [r["event_id"] for r in rows])  # an event re-derived under another record
    for part in chunks(rows):
        conn.execute(insert(events), [{k: v for k, v in r.items() if k != "labels"} for r in part])
        labels = [{"event_id": r["event_id"], "label": label} for r in part for label in r["labels"]]
        if labels:
            conn.execute(insert(event_labels), labels)
    return len(rows)


def _drop(conn: Connection, paths: Sequence[str]) -> None:
    for part in chunks(list(paths)):
        ids = list(conn.execute(select(events.c.event_id).where(events.c.threat_path.in_(part))).scalars())
        _drop_ids(conn, ids)


def _drop_ids(conn: Connection, ids: Sequence[str]) -> None:
    for part in chunks(list(ids)):
        conn.execute(delete(event_labels).where(event_labels.c.event_id.in_(part)))
        conn.execute(delete(events).where(events.c.event_id.in_(part)))


def events_index(store: Store) -> FeedIndex:
    """The duty that keeps the events index up to date."""
    return FeedIndex(store, NAME, REPO, _prepare, _apply)


# ------------------------------------------------------------------------------------------------ queries
@dataclass(frozen=True)
class EventQuery:
    """Filters of an event listing (all optional). ``since``/``until``: unix seconds, ``since <= ts < until``."""

    tenant: str | None = None
    camera: str | None = None
    rule: str | None = None
    severity: str | None = None
    label: str | None = None
    since: int | None = None
    until: int | None = None
    reviewed: bool | None = None
    verdict: str | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True)
class EventPage:
    events: list[dict[str, Any]]
    next_cursor: str | None


def _encode_cursor(ts: int, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{ts}:{event_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        ts, _, event_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        return int(ts), event_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise UsageError("invalid cursor", "pass the next_cursor of a previous page unchanged") from None


def scope_conditions(principal: Principal, tenant_col: Any, camera_col: Any) -> list[Any]:
    """SQL conditions keeping only rows of the principal's tenant and cameras."""
    conds: list[Any] = []
    if principal.tenant is not None:
        conds.append(tenant_col == principal.tenant)
    if principal.cameras:
        conds.append(or_(*(camera_col.like(_like(p), escape="\\") for p in principal.cameras)))
    return conds


def _like(pattern: str) -> str:
    """An fnmatch pattern with ``*`` and ``?`` as a LIKE pattern (``\\`` escapes)."""
    out = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return out.replace("*", "%").replace("?", "_")


def _filters(q: EventQuery) -> list[Any]:
    e = events.c
    conds: list[Any] = []
    for col, value in ((e.tenant, q.tenant), (e.camera, q.camera), (e.rule_id, q.rule), (e.severity, q.severity)):
        if value is not None:
            conds.append(col == value)
    if q.since is not None:
        conds.append(e.ts >= q.since)
    if q.until is not None:
        conds.append(e.ts < q.until)
    if q.label is not None:
        # correlated: the newest-first index walk stops at the page's end (an IN list would be sorted whole)
        conds.append(exists().where(event_labels.c.event_id == e.event_id, event_labels.c.label == q.label))
    if q.reviewed is not None:
        reviewed = select(feedback.c.event_id).where(feedback.c.reviewed.is_(True))
        conds.append(e.event_id.in_(reviewed) if q.reviewed else e.event_id.not_in(reviewed))
    if q.verdict is not None:
        conds.append(e.event_id.in_(select(feedback.c.event_id).where(feedback.c.verdict == q.verdict)))
    return conds


def _shape(row: Any, fb: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(row.doc)
    doc.update(camera=row.camera, threat_path=row.threat_path, feedback=feedback_dict(fb))
    return doc


def feedback_dict(fb: Any) -> dict[str, Any] | None:
    if fb is None or fb.updated_at is None:
        return None
    return {"verdict": fb.verdict, "reviewed": bool(fb.reviewed), "note": fb.note, "by": fb.by,
            "updated_at": fb.updated_at}


def _with_feedback() -> Any:
    f = feedback.c
    return select(events, f.verdict, f.reviewed, f.note, f.by, f.updated_at).select_from(
        events.outerjoin(feedback, feedback.c.event_id == events.c.event_id))


def list_events(store: Store, principal: Principal, q: EventQuery) -> EventPage:
    """A page of the events the principal may see, newest first, and the cursor of the next page."""
    if not 1 <= q.limit <= MAX_PAGE:
        raise UsageError(f"limit must be 1..{MAX_PAGE}, got {q.limit}", "page with next_cursor instead")
    e = events.c
    conds = _filters(q) + scope_conditions(principal, e.tenant, e.camera)
    if q.cursor:
        ts, event_id = _decode_cursor(q.cursor)
        conds.append(or_(e.ts < ts, and_(e.ts == ts, e.event_id < event_id)))
    query = _with_feedback().where(*conds).order_by(e.ts.desc(), e.event_id.desc()).limit(q.limit + 1)
    with transaction(store.engine) as conn:
        rows = conn.execute(query).all()
    page = [_shape(r, r) for r in rows[: q.limit]]
    more = len(rows) > q.limit
    return EventPage(page, _encode_cursor(page[-1]["ts"], page[-1]["event_id"]) if more and page else None)


def get_event(store: Store, principal: Principal, event_id: str) -> dict[str, Any]:
    """One event the principal may see (with its feedback); ``NotFoundError`` otherwise."""
    e = events.c
    with transaction(store.engine) as conn:
        row = conn.execute(_with_feedback().where(
            e.event_id == event_id, *scope_conditions(principal, e.tenant, e.camera))).first()
    if row is None:
        raise NotFoundError(f"no event {event_id}", "list events with GET /api/v1/events")
    return _shape(row, row)


def count_by(store: Store, principal: Principal, column: str, since: int | None, until: int | None
             ) -> dict[str, int]:
    """Events per value of ``column`` (camera, rule_id, severity, ...) in ``[since, until)``."""
    e = events.c
    col = e[column]
    conds = _filters(EventQuery(since=since, until=until)) + scope_conditions(principal, e.tenant, e.camera)
    with transaction(store.engine) as conn:
        rows = conn.execute(select(col, func.count()).where(*conds).group_by(col).order_by(col)).all()
    return {str(r[0]): int(r[1]) for r in rows}


def daily(store: Store, principal: Principal, since: int | None, until: int | None) -> list[dict[str, Any]]:
    """Events per UTC day, camera and severity in ``[since, until)`` (the daily report's data)."""
    e = events.c
    day = (e.ts - e.ts % 86400).label("day")
    conds = _filters(EventQuery(since=since, until=until)) + scope_conditions(principal, e.tenant, e.camera)
    q = (select(day, e.camera, e.severity, func.count()).where(*conds)
         .group_by(day, e.camera, e.severity).order_by(day, e.camera, e.severity))
    with transaction(store.engine) as conn:
        return [{"day": int(r[0]), "camera": r[1], "severity": r[2], "events": int(r[3])}
                for r in conn.execute(q)]


def event_ids_of(store: Store, paths: Iterable[str]) -> list[str]:
    """Ids of the events derived from the given threat records."""
    with transaction(store.engine) as conn:
        return [r for part in chunks(list(paths))
                for r in conn.execute(select(events.c.event_id).where(events.c.threat_path.in_(part))).scalars()]


__all__ = ["NAME", "EventPage", "EventQuery", "count_by", "daily", "events_index", "get_event", "list_events",
           "scope_conditions"]
