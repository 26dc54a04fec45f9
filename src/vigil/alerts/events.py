"""Events as the outbox sees them: read from the records of a feed batch, with their frame and its age.

A record (``/<camera>/<ts>.json`` of the threat repo, or of any repo in the same format, e.g. camera health)
holds ``events``, each with a stable ``event_id``. For the evidence and for the back-fill check the outbox also
needs the frame: the record's ``source`` is the detect record (in a repo among the commit's provenance), whose
``source.sha256`` is the frame's blob; the first commit that holds that blob says when the frame entered Vigil.
Events without a resolvable frame (health events) keep ``frame_oid`` None and are dated by their record's commit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from vigil.domain.rules import parse_ruleset
from vigil.errors import VigilError
from vigil.store import schema as s
from vigil.store.database import transaction
from vigil.store.feeds import FeedBatch
from vigil.store.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventFacts:
    """One event and where it came from."""

    event_id: str
    repo: str
    path: str
    commit_id: str
    camera: str
    timezone: str
    frame_oid: str | None
    frame_committed_at: float  # when the frame first entered Vigil (no frame: when the record was committed)
    doc: dict[str, Any]

    @property
    def rule_id(self) -> str:
        return str(self.doc.get("rule_id") or self.doc.get("type") or "event")

    @property
    def severity(self) -> str:
        return str(self.doc.get("severity") or "medium")

    @property
    def ts(self) -> int:
        return int(self.doc.get("ts") or 0)

    @property
    def group_key(self) -> str:
        """Events with one key within the group window make one alert. A health event's state is part of it:
        a camera's recovery is news of its own, never an update folded into its outage's alert."""
        state = self.doc.get("state")
        return f"{self.rule_id}\x1f{self.camera}" + (f"\x1f{state}" if isinstance(state, str) else "")


@dataclass
class _Resolver:
    """Per-batch caches: the detect repo of a record's ``source``, rule sets' time zones, frames' first commits."""

    store: Store
    batch: FeedBatch
    zones: dict[str, Any] = field(default_factory=dict)
    first_seen: dict[str, float | None] = field(default_factory=dict)

    def frame(self, record: dict[str, Any]) -> str | None:
        """The frame blob behind a record: its detect record's ``source.sha256``, or None."""
        source = record.get("source")
        if not isinstance(source, str):
            return None
        rules_commit = (record.get("rules") or {}).get("commit")
        for ref in self.batch.head.provenance:
            repo, _, commit = ref.partition("@")
            if commit == rules_commit:
                continue
            try:
                detect = json.loads(self.store.read_bytes(repo, commit, source))
            except (VigilError, ValueError):
                continue
            oid = (detect.get("source") or {}).get("sha256") if isinstance(detect, dict) else None
            if isinstance(oid, str):
                return oid
        return None

    def committed_at(self, oid: str) -> float | None:
        """When blob ``oid`` first entered any repo (one index probe)."""
        if oid not in self.first_seen:
            with transaction(self.store.engine) as conn:
                self.first_seen[oid] = conn.execute(
                    select(func.min(s.commits.c.created_at)).select_from(
                        s.entries.join(s.commits, s.commits.c.seq == s.entries.c.from_seq))
                    .where(s.entries.c.oid == oid)).scalar()
        return self.first_seen[oid]

    def timezone(self, record: dict[str, Any], device: str) -> str:
        """The camera's zone from the record's rule set (by blob), else UTC."""
        oid = (record.get("rules") or {}).get("sha256")
        if not isinstance(oid, str):
            return "UTC"
        if oid not in self.zones:
            try:
                with self.store.objects.open(oid) as fh:
                    self.zones[oid] = parse_ruleset(fh.read().decode("utf-8"), oid)
            except (VigilError, OSError, UnicodeDecodeError) as exc:
                log.warning("cannot read rule set %s for time zones: %s", oid[:12], exc)
                self.zones[oid] = None
        rules = self.zones[oid]
        return str(rules.timezone_for(device)) if rules is not None else "UTC"


def read_events(store: Store, batch: FeedBatch, known: set[str] | None = None,
                zones: dict[str, Any] | None = None) -> Iterator[EventFacts]:
    """The events of the records added or modified in ``batch`` (deleted records send nothing), skipping the
    ids in ``known`` (already recorded) before any lookup. ``zones``: parsed rule sets by blob, kept by the
    caller between batches."""
    resolver = _Resolver(store, batch, zones if zones is not None else {})
    for change in batch.changes:
        if change.kind == "deleted" or change.oid is None or not change.path.endswith(".json"):
            continue
        try:
            with store.objects.open(change.oid) as fh:
                record = json.loads(fh.read())
        except (VigilError, ValueError, OSError) as exc:
            log.error("cannot read event record %s:%s: %s", batch.repo, change.path, exc)
            continue
        events = record.get("events") if isinstance(record, dict) else None
        if not isinstance(events, list):
            continue
        fresh = [e for e in events if isinstance(e, dict) and isinstance(e.get("event_id"), str)
                 and (known is None or e["event_id"] not in known)]
        if not fresh:
            continue
        frame = resolver.frame(record)
        committed = resolver.committed_at(frame) if frame else None
        if committed is None:  # no frame (a health event): dated by its record's commit
            committed = batch.head.created_at
        for event in fresh:
            device = str(event.get("device") or record.get("device") or "")
            tenant = event.get("tenant")
            camera = str(record.get("camera") or (f"{tenant}-{device}" if tenant else device))
            yield EventFacts(event["event_id"], batch.repo, change.path, batch.head.id, camera,
                             resolver.timezone(record, device), frame, committed, event)


__all__ = ["EventFacts", "read_events"]
