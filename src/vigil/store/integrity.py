"""Integrity: ``fsck`` (re-hash every blob, check every reference) and ``gc`` (remove unreferenced blobs)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import delete, select

from vigil.errors import CorruptBlobError, NotFoundError
from vigil.store import audit
from vigil.store import schema as s
from vigil.store.database import transaction
from vigil.store.erasure import erased_oids
from vigil.store.objects import CHUNK
from vigil.store.store import Store, chunks


@dataclass
class Reference:
    """A file that uses a damaged blob: ``repo@branch:path`` from commit ``commit`` on, up to (not including)
    commit ``until`` (None: the branch head still has it)."""

    repo: str
    branch: str
    path: str
    commit: str
    until: str | None

    def __str__(self) -> str:
        span = "still at the head" if self.until is None else f"until commit {self.until}"
        return f"{self.repo}@{self.branch}:{self.path} (from commit {self.commit}, {span})"


@dataclass
class Damage:
    """One damaged blob: what is wrong, every file that uses it, and whether ``--repair`` removed it."""

    oid: str
    problem: str
    references: list[Reference] = field(default_factory=list)
    removed: bool = False


@dataclass
class FsckReport:
    objects_checked: int = 0
    bytes_checked: int = 0
    problems: list[str] = field(default_factory=list)
    damaged: list[Damage] = field(default_factory=list)
    erased: int = 0  # referenced blobs whose bytes a retention policy or erasure request deleted

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


SHOWN_REFERENCES = 3  # in a problem line; the report (and `fsck --json`) has them all


def fsck(store: Store, progress: Callable[[int], None] | None = None, *, repair: bool = False) -> FsckReport:
    """Check that every referenced blob exists with the right hash and every commit reference resolves.

    Each damaged blob (bad bytes, or gone) is reported with every repo/branch/path/commit range that uses it.
    ``repair``: remove the damaged copies from the object store, so that putting the original bytes again (at
    any path) stores them afresh and heals every file that uses them; until then reads of those files fail
    with ``CorruptBlobError`` naming them."""
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
        problem = _check_blob(store, oid, report)
        if problem is not None:
            report.damaged.append(Damage(oid, problem))
        if progress:
            progress(1)
    _find_references(store, report.damaged)
    for damage in report.damaged:
        if repair and "missing" not in damage.problem:
            store.objects.delete(damage.oid)
            damage.removed = True
        refs = [str(r) for r in damage.references[:SHOWN_REFERENCES]]
        more = len(damage.references) - len(refs)
        used = "; used by " + ", ".join(refs) + (f" and {more} more" if more > 0 else "") if refs else ""
        report.problems.append(f"blob {damage.oid} {damage.problem}{used}")
    return report


def _check_blob(store: Store, oid: str, report: FsckReport) -> str | None:
    """What is wrong with blob ``oid`` (re-hashed in one streaming pass), or None if it is intact."""
    if not store.objects.exists(oid):
        return "is referenced but missing from the object store"
    report.objects_checked += 1
    try:
        with store.objects.open(oid) as fh:
            while chunk := fh.read(CHUNK):
                report.bytes_checked += len(chunk)
    except CorruptBlobError as exc:
        return f"is corrupt: {exc.detail}"
    except NotFoundError:  # deleted between the two calls (gc)
        return "is referenced but missing from the object store"
    return None


def _find_references(store: Store, damaged: list[Damage]) -> None:
    by_oid = {d.oid: d for d in damaged}
    if not by_oid:
        return
    e, b = s.entries.c, s.branches.c
    start, end = s.commits.alias("start"), s.commits.alias("end")
    with transaction(store.engine) as conn:
        for part in chunks(sorted(by_oid)):
            rows = conn.execute(
                select(e.oid, s.repos.c.name, b.name, e.path, start.c.id, end.c.id)
                .select_from(s.entries.join(s.chains, s.chains.c.id == e.chain_id)
                             .join(s.repos, s.repos.c.id == s.chains.c.repo_id)
                             .outerjoin(s.branches, b.chain_id == e.chain_id)
                             .join(start, start.c.seq == e.from_seq)
                             .outerjoin(end, end.c.seq == e.to_seq))
                .where(e.oid.in_(part)).order_by(s.repos.c.name, b.name, e.path, e.from_seq))
            for oid, repo, branch, path, first, until in rows:
                by_oid[oid].references.append(Reference(repo, branch or "(deleted branch)", path, first, until))


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
