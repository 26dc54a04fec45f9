"""Feedback on events (true/false positive, reviewed), kept as versioned data and indexed.

Each verdict is a record ``/<camera>/<event_id>.json`` in the ``feedback`` repo (so it has history and
provenance like everything else); the ``feedback`` table holds the latest one per event for queries. Recording
feedback commits the record and updates the table in ONE transaction; the table is also a feed index of the
repo, so ``vigil index rebuild`` re-derives it (a record edited with ``vigil put`` is picked up too).

Precision over a time range = true positives / (true + false positives) among the events with a verdict.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Literal

from sqlalchemy import Connection, case, delete, func, insert, select

from vigil.domain.access import Principal
from vigil.errors import UsageError
from vigil.index.events import get_event, scope_conditions
from vigil.index.feed import FeedIndex
from vigil.index.schema import event_labels, events, feedback
from vigil.store.database import transaction
from vigil.store.feeds import FeedBatch
from vigil.store.store import Store, chunks

log = logging.getLogger(__name__)

NAME = "feedback-index"
REPO = "feedback"
VERDICTS = ("true_positive", "false_positive")
Group = Literal["rule", "camera", "label"]


def _row(doc: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": doc["event_id"], "verdict": doc.get("verdict"), "reviewed": bool(doc.get("reviewed")),
            "note": str(doc.get("note", "")), "by": str(doc.get("by", "")), "updated_at": float(doc["at"])}


def _upsert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    for part in chunks(rows):
        conn.execute(delete(feedback).where(feedback.c.event_id.in_([r["event_id"] for r in part])))
        conn.execute(insert(feedback), list(part))


def record(store: Store, principal: Principal, event_id: str, verdict: str | None, note: str = "",
           reviewed: bool = True) -> dict[str, Any]:
    """Record a verdict (or just a "reviewed" mark) on an event the principal may see; returns the record."""
    if verdict is not None and verdict not in VERDICTS:
        raise UsageError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}",
                         "or leave it out to only mark the event reviewed")
    event = get_event(store, principal, event_id)
    doc = {"event_id": event_id, "verdict": verdict, "reviewed": reviewed or verdict is not None, "note": note,
           "by": principal.token_id, "at": time.time(), "camera": event["camera"], "tenant": event["tenant"],
           "rule_id": event["rule_id"]}
    store.create_repo(REPO, "feedback on events: verdicts and review marks", exist_ok=True)
    builder = store.begin_commit(REPO, description=f"feedback on {event_id[:12]}: {verdict or 'reviewed'}",
                                 origin="api")
    builder.put_bytes(f"/{event['camera']}/{event_id}.json",
                      json.dumps(doc, sort_keys=True, indent=2).encode() + b"\n")
    store.objects.sync()
    with transaction(store.engine, write=True) as conn:
        commit = builder.publish(conn)
        _upsert(conn, [_row(doc)])
    return {**doc, "commit": commit.id}


def _prepare(store: Store, batch: FeedBatch) -> list[dict[str, Any]]:
    rows = []
    for change in batch.changes:
        if change.oid is not None and change.path.endswith(".json"):
            with store.objects.open(change.oid) as fh:
                data = fh.read()
            try:
                rows.append(_row(json.loads(data)))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("feedback index: %s:%s is not a feedback record (%s); skipped", REPO, change.path, exc)
    return rows


def _apply(conn: Connection, _store: Store, batch: FeedBatch, rows: list[dict[str, Any]]) -> int:
    if batch.rebuilt:
        conn.execute(delete(feedback))
    gone = [c.path.rsplit("/", 1)[-1].removesuffix(".json") for c in batch.changes if c.kind == "deleted"]
    for part in chunks(gone):
        conn.execute(delete(feedback).where(feedback.c.event_id.in_(part)))
    _upsert(conn, rows)
    return len(rows)


def feedback_index(store: Store) -> FeedIndex:
    return FeedIndex(store, NAME, REPO, _prepare, _apply)


def precision(store: Store, principal: Principal, by: Group = "rule", since: int | None = None,
              until: int | None = None) -> list[dict[str, Any]]:
    """Per rule, camera or label: events, reviewed, true/false positives and precision (None without verdicts)
    over events with ``since <= ts < until``, within the principal's scope."""
    e, f = events.c, feedback.c
    key = {"rule": e.rule_id, "camera": e.camera, "label": event_labels.c.label}.get(by)
    if key is None:
        raise UsageError(f"cannot group precision by {by!r}", "use rule, camera or label")
    source = events.outerjoin(feedback, f.event_id == e.event_id)
    if by == "label":
        source = source.join(event_labels, event_labels.c.event_id == e.event_id)
    conds = scope_conditions(principal, e.tenant, e.camera)
    if since is not None:
        conds.append(e.ts >= since)
    if until is not None:
        conds.append(e.ts < until)
    tp = func.sum(case((f.verdict == "true_positive", 1), else_=0))
    fp = func.sum(case((f.verdict == "false_positive", 1), else_=0))
    reviewed = func.sum(case((f.reviewed.is_(True), 1), else_=0))
    q = (select(key.label("key"), func.count().label("events"), reviewed, tp, fp).select_from(source)
         .where(*conds).group_by(key).order_by(key))
    with transaction(store.engine) as conn:
        rows = conn.execute(q).all()
    return [{by: r[0], "events": int(r[1]), "reviewed": int(r[2] or 0), "true_positive": int(r[3] or 0),
             "false_positive": int(r[4] or 0),
             "precision": (int(r[3] or 0) / (int(r[3] or 0) + int(r[4] or 0))) if (r[3] or r[4]) else None}
            for r in rows]


__all__ = ["VERDICTS", "feedback_index", "precision", "record"]
