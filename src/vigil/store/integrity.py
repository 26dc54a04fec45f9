"""Integrity: ``fsck`` (re-hash every blob, check every reference) and ``gc`` (remove unreferenced blobs)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import delete, select

from vigil.store import audit
from vigil.store import schema as s
from vigil.store.database import transaction
from vigil.store.erasure import erased_oids
from vigil.store.objects import CHUNK
from vigil.store.store import Store, chunks


@dataclass
class FsckReport:
    objects_checked: int = 0
    bytes_checked: int = 0
    problems: list[str] = field(default_factory=list)
    erased: int = 0  # referenced blobs whose bytes a retention policy or erasure request deleted

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def fsck(store: Store, progress: Callable[[int], None] | None = None) -> FsckReport:
    """Check that every referenced blob exists with the right hash and every commit reference resolves."""
    report = FsckReport()
    with transaction(store.engine) as conn:
        referenced = set(conn.execute(select(s.entries.c.oid).distinct()).scalars())
        registered = set(conn.execute(select(s.blobs.c.oid)).scalars())
        c = s.commits.c
        all_seqs = set(conn.execute(select(c.seq)).scalars())
        for seq, parent in conn.execute(select(c.seq, c.parent_seq).where(c.parent_seq.is_not(None))):
            if parent not in all_seqs:
                report.problems.append(f"commit #{seq} names a missing parent #{parent}")
        for name, head in conn.execute(select(s.branches.c.name, s.branches.c.head_seq)):
            if head is not None and head not in all_seqs:
                report.problems.append(f"branch {name} points to a missing commit #{head}")
    for oid in sorted(referenced - registered):
        report.problems.append(f"blob {oid} is referenced but not registered")
    with transaction(store.engine) as conn:
        gone = erased_oids(conn, sorted(referenced))  # deleted on purpose: recorded, hashes kept
    report.erased = len(gone)
    for oid in sorted(referenced - gone):
        if not store.objects.exists(oid):
            report.problems.append(f"blob {oid} is referenced but missing from the object store")
            continue
        digest = hashlib.sha256()
        with store.objects.open(oid) as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                report.bytes_checked += len(chunk)
        if digest.hexdigest() != oid:
            report.problems.append(f"blob {oid} is corrupt: its content hashes to {digest.hexdigest()}")
        report.objects_checked += 1
        if progress:
            progress(1)
    return report


@dataclass
class GcReport:
    removed_objects: int = 0
    removed_bytes: int = 0
    removed_temporaries: int = 0
    kept_objects: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def gc(store: Store, grace_seconds: float = 3600.0) -> GcReport:
    """Delete blobs no commit references. Blobs younger than ``grace_seconds`` are kept: they may belong to a
    commit still being written by another process."""
    report = GcReport()
    cutoff = time.time() - grace_seconds
    with transaction(store.engine) as conn:
        referenced = set(conn.execute(select(s.entries.c.oid).distinct()).scalars())
    doomed = []
    for oid, mtime in store.objects.iter_oids():
        if oid in referenced or mtime >= cutoff:
            report.kept_objects += 1
            continue
        doomed.append(oid)
    with transaction(store.engine, write=True) as conn:
        # Re-check under the write lock: a commit may have referenced a doomed blob since the scan.
        still_used: set[str] = set()
        for part in chunks(doomed):
            still_used.update(conn.execute(select(s.entries.c.oid).where(s.entries.c.oid.in_(part))).scalars())
        doomed = [o for o in doomed if o not in still_used]
        for part in chunks(doomed):
            sizes = dict(conn.execute(select(s.blobs.c.oid, s.blobs.c.size).where(s.blobs.c.oid.in_(part))).all())
            report.removed_bytes += sum(sizes.values())
            conn.execute(delete(s.blobs).where(s.blobs.c.oid.in_(part)))
        for oid in doomed:
            store.objects.delete(oid)
            report.removed_objects += 1
        if doomed:
            audit.append(conn, "gc", "objects", detail={"blobs": len(doomed), "bytes": report.removed_bytes})
    report.kept_objects += len(still_used)
    report.removed_temporaries = store.objects.clean_temporaries(cutoff)
    return report
