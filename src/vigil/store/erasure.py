"""Deleting blob bytes on purpose (retention, erasure requests) while their records stay.

The blob is first recorded in ``erased_blobs`` (policy, reason, when) together with one audit entry, in one
transaction; then its bytes are deleted. A crash in between leaves bytes of a blob already recorded as erased:
the next run deletes them (:func:`erase` is idempotent). Readers that meet a missing blob ask :func:`erased` to
say why it is gone ("deleted by retention policy P on DATE") instead of failing obscurely; ``fsck`` does not
count such blobs as missing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from vigil.store import audit
from vigil.store import schema as s
from vigil.store.database import transaction
from vigil.store.store import Store, chunks

ERASURE = "erasure-request"  # the policy name an erasure request (one camera, a time range) records


@dataclass(frozen=True)
class Erased:
    oid: str
    policy: str
    reason: str
    erased_at: float

    @property
    def day(self) -> str:
        return datetime.fromtimestamp(self.erased_at, UTC).strftime("%Y-%m-%d")

    def describe(self) -> str:
        if self.policy == ERASURE:
            return f"deleted by an erasure request on {self.day}" + (f" ({self.reason})" if self.reason else "")
        return f"deleted by retention policy {self.policy} on {self.day}"


def erased(conn: Connection, oid: str) -> Erased | None:
    """Why ``oid``'s bytes are gone, or None when they were not erased."""
    row = conn.execute(select(s.erased_blobs).where(s.erased_blobs.c.oid == oid)).first()
    return None if row is None else Erased(row.oid, row.policy, row.reason, row.erased_at)


def erased_oids(conn: Connection, oids: list[str]) -> set[str]:
    found: set[str] = set()
    for part in chunks(sorted(set(oids))):
        found.update(conn.execute(select(s.erased_blobs.c.oid).where(s.erased_blobs.c.oid.in_(part))).scalars())
    return found


def erase(store: Store, doomed: Mapping[str, str], policy: str, *, action: str, reason: str = "",
          detail: dict[str, Any] | None = None) -> int:
    """Delete the bytes of ``doomed`` ({oid: a path it had, for the record}) under ``policy``; returns the bytes
    freed. Audited as one ``action`` entry listing every oid."""
    with transaction(store.engine, write=True) as conn:
        already = erased_oids(conn, list(doomed))
        fresh = sorted(set(doomed) - already)
        sizes: dict[str, int] = {}
        for part in chunks(fresh):
            sizes.update(conn.execute(select(s.blobs.c.oid, s.blobs.c.size).where(s.blobs.c.oid.in_(part))).all())
        now = time.time()
        if fresh:
            conn.execute(insert(s.erased_blobs), [{"oid": oid, "policy": policy, "reason": reason, "erased_at": now}
                                                  for oid in fresh])
            audit.append(conn, action, f"policy:{policy}", reason=reason, detail={
                **(detail or {}), "frames": len(fresh), "bytes": sum(sizes.values()),
                "erased": {oid: doomed[oid] for oid in fresh}})
    for oid in sorted(doomed):  # fresh ones, and any left by a run that stopped before deleting
        if store.objects.exists(oid):
            store.objects.delete(oid)
    return sum(sizes.values())


__all__ = ["ERASURE", "Erased", "erase", "erased", "erased_oids"]
