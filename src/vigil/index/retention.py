"""Retention runs and erasure requests: which frame bytes to delete, decided from the repos and the events index.

A frame is any ``.jpg``/``.jpeg``/``.png`` file, in any commit of a policy's repos, whose camera and capture
time can be read from its path (``<camera>_<ts>.jpg`` as uploaded, ``/valid/<camera>/<ts>.jpg`` after
validate). A frame "has an event" when the events index holds an event of its camera at its time stamp.
Deleting is by content (the same bytes in ``images`` and ``validate`` are one blob) through
:func:`vigil.store.erasure.erase`, which records and audits it first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select

from vigil.domain.identity import camera_name, parse_camera, parse_name
from vigil.domain.retention import FRAME_SUFFIXES, RetentionPolicy, first_policy
from vigil.index.cameras import _frame as valid_frame
from vigil.index.schema import events
from vigil.store import erasure
from vigil.store import schema as s
from vigil.store.database import transaction
from vigil.store.erasure import ERASURE
from vigil.store.store import Store, chunks


@dataclass
class RetentionReport:
    """What a run deleted (or, dry, would delete): frames (blobs) and bytes per policy."""

    dry_run: bool
    frames: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    kept_for_events: int = 0  # frames (blobs) past frames_days kept because they raised an event

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def frame_of(path: str) -> tuple[str, int] | None:
    """(camera, capture ts) of a frame file, from its path; None for anything else."""
    if not path.lower().endswith(FRAME_SUFFIXES):
        return None
    found = valid_frame(path)
    if found is not None:
        return found
    ident = parse_name(path)
    if ident is not None:
        return camera_name(ident.tenant, ident.device), ident.ts
    parts = path.rsplit("/", 2)  # /<camera>/<ts>.jpg
    if len(parts) == 3 and parse_camera(parts[1]) is not None:
        stem = parts[2].split(".", 1)[0].partition("~")[0]
        if stem.isdigit():
            return parts[1], int(stem)
    return None


def _frames(store: Store, repo: str) -> Iterator[tuple[str, str, str, int]]:
    """(oid, path, camera, capture ts) of every frame in any commit of ``repo``."""
    e, c, r = s.entries.c, s.chains.c, s.repos.c
    q = (select(e.path, e.oid).distinct().select_from(s.entries.join(s.chains, c.id == e.chain_id)
                                                     .join(s.repos, r.id == c.repo_id)).where(r.name == repo))
    with transaction(store.engine) as conn:
        rows = conn.execute(q).all()
    for path, oid in rows:
        found = frame_of(path)
        if found is not None:
            yield oid, path, found[0], found[1]


def _event_frames(store: Store) -> set[tuple[str, int]]:
    with transaction(store.engine) as conn:
        return {(str(cam), int(ts)) for cam, ts in conn.execute(select(events.c.camera, events.c.ts).distinct())}


def apply(store: Store, policies: list[RetentionPolicy], now: float, *, dry_run: bool = False) -> RetentionReport:
    """Delete the bytes of every frame past its policy's keeping time (``dry_run``: only count them)."""
    report = RetentionReport(dry_run)
    with_events = _event_frames(store)
    repos = sorted({repo for p in policies for repo in p.repos})
    existing = {info.name for info in store.list_repos()}
    doomed: dict[str, dict[str, str]] = {}  # policy -> {oid: path}
    keep: set[str] = set()  # an oid some policy keeps (or no policy governs) is never deleted by another
    for_events: set[str] = set()
    for repo in (r for r in repos if r in existing):
        for oid, path, camera, ts in _frames(store, repo):
            policy = first_policy(policies, repo, camera)
            if policy is None:
                keep.add(oid)
                continue
            event = (camera, ts) in with_events
            if policy.expired(ts, now, has_event=event):
                doomed.setdefault(policy.name, {})[oid] = f"{repo}:{path}"
            else:
                keep.add(oid)
                if event and policy.expired(ts, now, has_event=False):
                    for_events.add(oid)
    report.kept_for_events = len(for_events)
    for name, oids in doomed.items():
        chosen = {oid: where for oid, where in oids.items() if oid not in keep}
        with transaction(store.engine) as conn:
            chosen = {oid: w for oid, w in chosen.items() if oid not in erasure.erased_oids(conn, list(chosen))}
        report.frames[name] = len(chosen)
        report.bytes[name] = _size(store, list(chosen)) if dry_run else 0
        if chosen and not dry_run:
            report.bytes[name] = erasure.erase(store, chosen, name, action="retention.apply",
                                               reason="retention policy")
    return report


def erase_camera(store: Store, camera: str, since: int, until: int, *, reason: str = "",
                 dry_run: bool = False) -> RetentionReport:
    """An erasure request: delete every frame of ``camera`` captured in ``[since, until)``, events or not."""
    report = RetentionReport(dry_run)
    existing = {info.name for info in store.list_repos()}
    chosen: dict[str, str] = {}
    for repo in ("images", "validate"):
        if repo in existing:
            for oid, path, cam, ts in _frames(store, repo):
                if cam == camera and since <= ts < until:
                    chosen[oid] = f"{repo}:{path}"
    report.frames[ERASURE] = len(chosen)
    report.bytes[ERASURE] = _size(store, list(chosen))
    if chosen and not dry_run:
        erasure.erase(store, chosen, ERASURE, action="retention.erase", reason=reason,
                      detail={"camera": camera, "from": since, "to": until})
    return report


def _size(store: Store, oids: list[str]) -> int:
    total = 0
    with transaction(store.engine) as conn:
        for part in chunks(oids):
            total += sum(int(n) for n in conn.execute(select(s.blobs.c.size).where(s.blobs.c.oid.in_(part))).scalars())
    return total


__all__ = ["ERASURE", "RetentionReport", "apply", "erase_camera", "frame_of"]
