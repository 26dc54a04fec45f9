"""Camera offline and recovery, on a clock: a runner duty that keeps each camera's recent frame times (from the
images repo's new commits, whatever door they came through) and asks :func:`vigil.domain.health.offline_events`
what is true now.

Events go to the ``health`` repo as records in the threat records' format (``/<camera>/<ts>-<state>-<id>.json``
with ``events``), so the alert outbox sends them through the rules' targets and the channels like any other
event (``alerts.repos`` lists ``health`` by default). Event ids are stable (made from the last frame before the
outage), and a record is written once: a duty running every pass, a restarted server, or two servers, all
yield one offline event per outage and one recovery when frames come again.

The rules are the rules repo's one rule file (as the threat stage reads it); without an ``offline`` health rule
the duty only follows the frame times. Memory: ``window`` distinct frame seconds per camera.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from vigil.domain.health import CameraSeen, health_rules, offline_events
from vigil.domain.identity import camera_name, parse_name
from vigil.domain.rules import RuleSet, parse_ruleset
from vigil.domain.threat import ThreatEvent
from vigil.errors import NotFoundError, StoreError, VigilError
from vigil.store import history
from vigil.store.database import transaction
from vigil.store.store import DEFAULT_BRANCH, Store

log = logging.getLogger(__name__)

HEALTH_REPO = "health"
RULE_SUFFIXES = (".json", ".yaml", ".yml")


class OfflineWatch:
    """The duty (see the module docstring). ``clock``: unix seconds now (tests pass their own)."""

    name = "camera-offline"

    def __init__(self, store: Store, *, images: str = "images", rules: str = "rules", repo: str = HEALTH_REPO,
                 window: int = 64, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.images = images
        self.rules = rules
        self.repo = repo
        self.window = window
        self.clock = clock
        self._seq: int | None = None  # images commit whose frames are in _seen
        self._images_commit: str | None = None
        self._seen: dict[tuple[str | None, str], deque[int]] = {}
        self._ruleset: tuple[str, RuleSet] | None = None  # (rule file blob, parsed)
        self._written: set[str] = set()

    def run_once(self) -> int:
        self._follow_frames()
        found = self._rules()
        if found is None:
            return 0
        ruleset, ref = found
        version = ruleset.fingerprint()
        now = int(self.clock())
        events: list[ThreatEvent] = []
        for (tenant, device), seen in self._seen.items():
            if health_rules(ruleset, tenant, device):
                events += offline_events(ruleset, CameraSeen(tenant, device, tuple(seen)), now,
                                         rules_version=version)
        fresh = [e for e in events if e.event_id not in self._written]
        return self._write(fresh, ref) if fresh else 0

    def _follow_frames(self) -> None:
        """Add the frame times of the images repo's commits since the last pass."""
        with transaction(self.store.engine) as conn:
            try:
                head = self.store.branch_head_seq(conn, self.images, DEFAULT_BRANCH)
            except NotFoundError:
                return
            if head is None or head == self._seq:
                return
            changes = history.changes_between(self.store, conn, self._seq, head) if self._seq is not None else None
            paths = ([c.path for c in changes if c.kind != "deleted"] if changes is not None
                     else [f.path for f in self.store.files_at(conn, head)])
            self._images_commit = self.store.commit_info_at(conn, head).id
        self._seq = head
        for path in paths:
            identity = parse_name(path)
            if identity is None:
                continue
            seen = self._seen.setdefault((identity.tenant, identity.device), deque(maxlen=self.window))
            if not seen or identity.ts > seen[-1]:
                seen.append(identity.ts)
            elif identity.ts not in seen:  # late or out of order (a full listing is by path): keep them sorted
                ordered = sorted({*seen, identity.ts})[-self.window:]
                seen.clear()
                seen.extend(ordered)

    def _rules(self) -> tuple[RuleSet, dict[str, Any]] | None:
        try:
            files = [f for f in self.store.list_files(self.rules) if f.path.endswith(RULE_SUFFIXES)]
            head = self.store.head(self.rules)
        except NotFoundError:
            return None
        if len(files) != 1 or head is None:
            return None  # the threat stage says what is wrong with the rules repo
        rule_file = files[0]
        if self._ruleset is None or self._ruleset[0] != rule_file.oid:
            with self.store.objects.open(rule_file.oid) as fh:
                self._ruleset = (rule_file.oid, parse_ruleset(fh.read().decode("utf-8"), rule_file.path))
        return self._ruleset[1], {"path": rule_file.path, "sha256": rule_file.oid, "commit": head.id}

    def _write(self, events: list[ThreatEvent], rules: dict[str, Any]) -> int:
        records: dict[str, bytes] = {}
        for event in events:
            camera = camera_name(event.tenant, event.device)
            state = event.extra.get("state", "started")
            path = f"/{camera}/{event.ts:010d}-offline-{state}-{event.event_id[:16]}.json"
            doc = {"camera": camera, "tenant": event.tenant, "device": event.device, "ts": event.ts,
                   "rules": rules, "events": [event.to_dict()]}
            records[path] = json.dumps(doc, sort_keys=True, indent=1).encode()
        self.store.create_repo(self.repo, "camera health events judged on a clock (offline, recovered)",
                               exist_ok=True)
        new = {p: data for p, data in records.items() if not self._exists(p)}
        if new:
            try:
                provenance = [(self.rules, str(rules["commit"]))]
                if self._images_commit is not None:
                    provenance.append((self.images, self._images_commit))
                with self.store.begin_commit(self.repo, description=f"{len(new)} camera offline event(s)",
                                             origin="health", provenance=provenance) as commit:
                    for path, data in new.items():
                        commit.put_bytes(path, data)
            except (StoreError, VigilError) as exc:
                log.warning("camera-offline: cannot record %d event(s): %s; next pass retries", len(new), exc)
                return 0
            for event in events:
                log.warning("camera %s: %s", camera_name(event.tenant, event.device), event.description)
        self._written.update(e.event_id for e in events)
        return len(new)

    def _exists(self, path: str) -> bool:
        try:
            self.store.stat(self.repo, None, path)
        except NotFoundError:
            return False
        return True


__all__ = ["HEALTH_REPO", "OfflineWatch"]
