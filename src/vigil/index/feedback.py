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

from sqlalchemy import Connection, delete, func, insert, select

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
    over events with ``since <= ts < until``, within the principal's scope.

    Two grouped queries: events per key (an index scan of the events alone), and the feedback rows joined to
    their events: an outer join of every event to feedback costs O(events) row lookups per call, which the
    dashboard pays on every review page."""
    e, f = events.c, feedback.c
    key = {"rule": e.rule_id, "camera": e.camera, "label": event_labels.c.label}.get(by)
    if key is None:
        raise UsageError(f"cannot group precision by {by!r}", "use rule, camera or label")
    conds = scope_conditions(principal, e.tenant, e.camera)
    if since is not None:
        conds.append(e.ts >= since)
    if until is not None:
        conds.append(e.ts < until)
    counted: Any = events
    judged: Any = feedback.join(events, e.event_id == f.event_id)
    if by == "label":
        counted = counted.join(event_labels, event_labels.c.event_id == e.event_id)
        judged = judged.join(event_labels, event_labels.c.event_id == e.event_id)
    with transaction(store.engine) as conn:
        totals = conn.execute(select(key, func.count()).select_from(counted).where(*conds).group_by(key)).all()
        # no GROUP BY here: grouping makes SQLite walk every event by the key's index, probing feedback for
        # each; without it, the (few) feedback rows drive the join
        judgements = conn.execute(select(key, f.verdict, f.reviewed).select_from(judged).where(*conds)).all()
    verdicts: dict[Any, list[int]] = {}
    for name, verdict, was_reviewed in judgements:
        tally = verdicts.setdefault(name, [0, 0, 0])
        tally[0] += bool(was_reviewed)
        tally[1] += verdict == "true_positive"
        tally[2] += verdict == "false_positive"
    rows = []
    for name, n in sorted(totals, key=lambda r: r[0]):
        n_reviewed, n_tp, n_fp = verdicts.get(name, (0, 0, 0))
        rows.append({by: name, "events": int(n), "reviewed": n_reviewed, "true_positive": n_tp,
                     "false_positive": n_fp, "precision": n_tp / (n_tp + n_fp) if n_tp + n_fp else None})
    return rows


__all__ = ["VERDICTS", "feedback_index", "precision", "record"]
