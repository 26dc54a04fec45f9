"""Queries behind the dashboard that the API does not need: events per day and hour (the heat map), a camera's
activity (frames today, recent frame times, invalid frames and their reasons), a camera's frames around a
moment, storage used. Each is an index probe or a bounded range scan of the validate repo (its paths sort by
camera, then time), never a walk over history."""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

from sqlalchemy import func, select

from vigil.domain.access import Principal
from vigil.errors import NotFoundError
from vigil.index.events import EventQuery, _filters, scope_conditions
from vigil.index.schema import events
from vigil.store.database import transaction
from vigil.store.schema import blobs, commits, repos
from vigil.store.store import Store

log = logging.getLogger(__name__)

VALIDATE = "validate"
REASON_SAMPLES = 10  # invalid frames whose reasons are read per camera (the newest)


def hourly(store: Store, principal: Principal, since: int | None, until: int | None) -> list[dict[str, int]]:
    """Events per UTC day and hour of day in ``[since, until)``: ``[{day, hour, events}]``."""
    e = events.c
    day = (e.ts - e.ts % 86400).label("day")
    hour = ((e.ts % 86400) / 3600).label("hour")
    conds = _filters(EventQuery(since=since, until=until)) + scope_conditions(principal, e.tenant, e.camera)
    q = select(day, hour, func.count()).where(*conds).group_by(day, hour).order_by(day, hour)
    with transaction(store.engine) as conn:
        return [{"day": int(r[0]), "hour": int(r[1]), "events": int(r[2])} for r in conn.execute(q)]


def _ts_of(path: str) -> int | None:
    stem = path.rsplit("/", 1)[-1].split(".", 1)[0].partition("~")[0].rpartition("_")[2]
    return int(stem) if stem.isdigit() else None


def _has_validate(store: Store) -> bool:
    return any(r.name == VALIDATE for r in store.list_repos())


def activity(store: Store, camera: str, since: int, recent: int = 20) -> dict[str, Any]:
    """A camera's frames since ``since`` (valid and invalid), its newest ``recent`` valid frame times
    (ascending), and the reasons of its newest invalid frames (code -> count)."""
    if not _has_validate(store):
        return {"frames": 0, "invalid": 0, "recent": [], "reasons": {}}
    valid = store.list_range(VALIDATE, "master", f"/valid/{camera}/{since:010d}", f"/valid/{camera}0")
    invalid = [f for f in store.list_range(VALIDATE, "master", f"/invalid/{camera}/", f"/invalid/{camera}0")
               if f.path.endswith(".reasons.json") and (_ts_of(f.path.removesuffix(".reasons.json")) or 0) >= since]
    times = sorted(t for f in valid if (t := _ts_of(f.path)) is not None)
    if len(times) < recent:  # a quiet day: look further back for the usual interval
        before = store.list_range(VALIDATE, "master", f"/valid/{camera}/", f"/valid/{camera}/{since:010d}")
        times = sorted(t for f in before[-recent:] if (t := _ts_of(f.path)) is not None) + times
    reasons: Counter[str] = Counter()
    for f in invalid[-REASON_SAMPLES:]:
        try:
            with store.objects.open(f.oid) as fh:
                reasons.update(str(r["code"]) for r in json.loads(fh.read()).get("reasons", []))
        except (ValueError, NotFoundError, AttributeError, KeyError, TypeError) as exc:  # never hides the camera
            log.warning("reasons of %s unreadable: %s", f.path, exc)
    return {"frames": len(valid) + len(invalid), "invalid": len(invalid), "recent": times[-recent:],
            "reasons": dict(reasons.most_common())}


def frames_around(store: Store, camera: str, ts: int, span: int = 60, limit: int = 7) -> list[dict[str, Any]]:
    """The camera's valid frames within ``span`` seconds of ``ts`` (the ``limit`` nearest), by time."""
    if not _has_validate(store):
        return []
    files = store.list_range(VALIDATE, "master", f"/valid/{camera}/{max(ts - span, 0):010d}",
                             f"/valid/{camera}/{ts + span + 1:010d}")
    found = sorted((abs(t - ts), f.path, t, f.oid) for f in files if (t := _ts_of(f.path)) is not None)[:limit]
    return [{"path": path, "ts": t, "sha256": oid} for _, path, t, oid in sorted(found, key=lambda f: (f[2], f[1]))]


def storage(store: Store) -> dict[str, Any]:
    """Blobs stored (count, bytes: each distinct content once) and commits per repo."""
    with transaction(store.engine) as conn:
        n, size = conn.execute(select(func.count(), func.coalesce(func.sum(blobs.c.size), 0))).one()
        per_repo = conn.execute(select(repos.c.name, func.count(commits.c.seq))
                                .select_from(repos.outerjoin(commits, commits.c.repo_id == repos.c.id))
                                .group_by(repos.c.name).order_by(repos.c.name)).all()
    return {"blobs": int(n), "bytes": int(size), "commits": {str(r[0]): int(r[1]) for r in per_repo}}


__all__ = ["activity", "frames_around", "hourly", "storage"]
