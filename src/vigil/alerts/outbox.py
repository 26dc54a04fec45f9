"""The outbox: derive one delivery per (event, channel, target) from the event repos' new commits, once.

:class:`OutboxFeeder` reads each event repo's commit feed (``alert-outbox:<repo>``), records the new events and
their deliveries, and moves the feed's cursor in the same write transaction: a batch is derived exactly once even
with several processes (the others get ``ConflictError`` and roll back), and the unique key (event_id, channel,
target) makes a second enqueue impossible anyway. An event recorded once never gets deliveries again: re-running
history, ``pipeline update --reprocess`` and restarts produce the same event ids, so nothing is re-sent.

Routing: the rules' own ``notify`` targets go to the channel routed for their kind (``alerts.route``, default the
first channel of that kind); besides, every channel with its own recipients (``to``, ``url``, MQTT) gets the events
its ``match`` accepts. Per delivery, in order:

* no channel for a target: recorded ``skipped`` with the reason;
* back-fill: the frame entered Vigil longer than ``max_age`` ago (a rules change re-evaluating old frames, a new
  outbox over old history): recorded ``skipped``, not sent;
* grouping: an earlier alert for the same rule, camera, channel and target within ``group_window`` (frame time)
  takes the event in (``grouped``; channels with ``updates`` deliver it as an update), else it is a new alert.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from vigil.alerts import tables as t
from vigil.alerts.events import EventFacts, read_events
from vigil.domain.alerting import AlertsConfig, Channel, SendGridChannel
from vigil.errors import ConflictError, NotFoundError
from vigil.store import feeds
from vigil.store.database import transaction
from vigil.store.leases import db_now
from vigil.store.store import Store

log = logging.getLogger(__name__)

CONSUMER = "alert-outbox:"
ENV_SENDGRID = "SGKEY"


def effective_channels(config: AlertsConfig, environ: Mapping[str, str] = os.environ) -> dict[str, Channel]:
    """The configured channels; with none for e-mail and ``$SGKEY`` set, a ``sendgrid`` channel too (the 2017
    ``rule.json`` with its ``SGKEY`` works unchanged)."""
    channels: dict[str, Channel] = dict(config.channels)
    if config.channel_for("email") is None and environ.get(ENV_SENDGRID) and "sendgrid" not in channels:
        channels["sendgrid"] = SendGridChannel(type="sendgrid")
    return channels


def alert_id(event_id: str, channel: str, target: str) -> str:
    """The delivery's idempotency key (Message-ID, ``webhook-id``): 32 hex digits of sha256 of the key."""
    return hashlib.sha256(f"{event_id}\x1f{channel}\x1f{target}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Route:
    """Where one event goes: a channel name (or, unconfigured, the target kind) and a target."""

    channel: str
    target: str
    sender: str | None = None
    problem: str | None = None  # why it cannot be sent (no such channel)


def _route_for(kind: str, to: str, sender: str | None, config: AlertsConfig,
               channels: Mapping[str, Channel]) -> Route:
    named = channels.get(to)
    if named is not None and kind in ("webhook", "mqtt") and named.type == kind:
        target = getattr(named, "url", None) if kind == "webhook" else getattr(named, "topic_prefix", None)
        if target:
            return Route(to, target, sender)
    name = _routed(kind, config, channels)
    if name is None or (kind == "webhook" and not to.startswith(("http://", "https://"))):
        return Route(kind, to, sender, f"no {kind} channel configured for it (alerts.channels in .vigil/vigil.yaml)")
    return Route(name, to, sender)


def _routed(kind: str, config: AlertsConfig, channels: Mapping[str, Channel]) -> str | None:
    name = config.channel_for(kind)
    if name is None and kind == "email" and "sendgrid" in channels:
        return "sendgrid"
    return name


def routes(event: Mapping[str, Any], config: AlertsConfig, channels: Mapping[str, Channel]) -> list[Route]:
    """Every (channel, target) the event goes to, rules' targets first, without repeats."""
    out: dict[tuple[str, str], Route] = {}
    for target in event.get("notify") or ():
        if not isinstance(target, dict) or not target.get("to"):
            continue
        r = _route_for(str(target.get("channel")), str(target["to"]), target.get("sender"), config, channels)
        out.setdefault((r.channel, r.target), r)
    for name, ch in channels.items():
        if not ch.match.matches(event):
            continue
        if ch.type == "webhook":
            targets: tuple[str, ...] = (ch.url,) if ch.url else ()
        elif ch.type == "mqtt":
            targets = (ch.topic_prefix,)
        else:
            targets = ch.to
        for target in targets:
            out.setdefault((name, target), Route(name, target))
    return list(out.values())


def _insert(conn: Connection, table: Any) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


class OutboxFeeder:
    """The duty that turns new event records into deliveries (see the module docstring)."""

    name = "alert-outbox"

    def __init__(self, store: Store, config: AlertsConfig, environ: Mapping[str, str] = os.environ) -> None:
        self.store = store
        self.config = config
        self.channels = effective_channels(config, environ)
        self._rulesets: dict[str, Any] = {}  # parsed rule sets by blob (camera time zones), between batches

    def run_once(self, now: float | None = None) -> int:
        """Derive every event repo's new commits; returns the deliveries created."""
        return sum(self.feed(repo, now) for repo in self.config.repos)

    def feed(self, repo: str, now: float | None = None) -> int:
        try:
            batch = feeds.read(self.store, CONSUMER + repo, repo)
        except NotFoundError:
            return 0  # no such repo (yet)
        if batch is None:
            return 0
        known = self._known(repo) if batch.rebuilt else None
        if len(self._rulesets) > 64:
            self._rulesets.clear()
        facts = list(read_events(self.store, batch, known, self._rulesets))
        try:
            with transaction(self.store.engine, write=True) as conn:
                created = self.enqueue(conn, facts, db_now(conn) if now is None else now)
                feeds.advance(conn, batch)
        except ConflictError:
            return 0  # another process derived this batch
        if created:
            log.info("outbox: %d deliveries from %d new event(s) of %s@%s", created, len(facts), repo,
                     batch.head.id[:12])
        return created

    def _known(self, repo: str) -> set[str]:
        with transaction(self.store.engine) as conn:
            return set(conn.execute(select(t.alert_events.c.event_id).where(t.alert_events.c.repo == repo))
                       .scalars())

    def enqueue(self, conn: Connection, facts: list[EventFacts], now: float) -> int:
        """Record ``facts`` and their deliveries inside the caller's write transaction; events already recorded
        are left alone. Returns the deliveries created."""
        created = 0
        for f in facts:
            e = t.alert_events.c
            recorded = conn.execute(_insert(conn, t.alert_events).values(
                event_id=f.event_id, repo=f.repo, path=f.path, commit_id=f.commit_id, rule_id=f.rule_id[:255],
                severity=f.severity[:16], tenant=f.doc.get("tenant"), device=str(f.doc.get("device") or ""),
                camera=f.camera, ts=f.ts, timezone=f.timezone, frame_oid=f.frame_oid,
                frame_committed_at=f.frame_committed_at, recorded_at=now,
                doc=json.dumps(f.doc, sort_keys=True, separators=(",", ":")),
            ).on_conflict_do_nothing(index_elements=["event_id"]).returning(e.event_id)).first()
            if recorded is None:
                continue
            for route in routes(f.doc, self.config, self.channels):
                created += self._enqueue_one(conn, f, route, now)
        return created

    def _enqueue_one(self, conn: Connection, f: EventFacts, route: Route, now: float) -> int:
        state, kind, group_id, error = t.PENDING, "new", None, route.problem
        age = now - f.frame_committed_at
        max_age = self.config.max_age_for(f.rule_id, route.channel)
        if error is not None:
            state = t.SKIPPED
        elif age > max_age:
            state = t.SKIPPED
            error = (f"back-filled: its frame entered Vigil {age:.0f} s ago, more than max_age {max_age:.0f} s "
                     "(alerts.max_age, per channel or per rule)")
        else:
            window = self.config.group_window_for(f.rule_id, route.channel)
            leader = self._leader(conn, f, route, window) if window > 0 else None
            if leader is not None:
                kind, group_id = "update", leader
                channel = self.channels.get(route.channel)
                state = t.PENDING if channel is not None and channel.updates else t.GROUPED
        d = t.alert_deliveries.c
        done = conn.execute(_insert(conn, t.alert_deliveries).values(
            alert_id=alert_id(f.event_id, route.channel, route.target), event_id=f.event_id, channel=route.channel,
            target=route.target, sender=route.sender, kind=kind, state=state, group_key=f.group_key,
            event_ts=f.ts, group_id=group_id, next_attempt_at=now, created_at=now, last_error=error,
        ).on_conflict_do_nothing(index_elements=["event_id", "channel", "target"]).returning(d.id)).first()
        if done is not None and group_id is not None:
            conn.execute(update(t.alert_deliveries).where(d.id == group_id).values(grouped=d.grouped + 1))
        return 0 if done is None else 1

    @staticmethod
    def _leader(conn: Connection, f: EventFacts, route: Route, window: float) -> int | None:
        """The alert an event joins: same rule, camera, channel and target, frame times less than ``window``
        apart (the latest such alert)."""
        d = t.alert_deliveries.c
        return conn.execute(select(d.id).where(
            d.group_key == f.group_key, d.event_ts > f.ts - window, d.event_ts < f.ts + window,
            d.channel == route.channel, d.target == route.target, d.kind == "new",
            d.state.not_in((t.SKIPPED, t.GROUPED)),
        ).order_by(d.event_ts.desc()).limit(1)).scalar()


__all__ = ["CONSUMER", "OutboxFeeder", "Route", "alert_id", "effective_channels", "routes"]
