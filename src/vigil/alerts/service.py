"""Alerts for one workspace: the two duties (outbox feeder, delivery worker) and what the ``vigil alerts``
commands ask: list, show, retry, test a channel, describe the channels, deliver."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update

from vigil.alerts import tables as t
from vigil.alerts.channels import Outcome, open_channel
from vigil.alerts.channels.base import read_secret
from vigil.alerts.delivery import DeliveryWorker, Renderer
from vigil.alerts.message import Alert
from vigil.alerts.outbox import OutboxFeeder, effective_channels
from vigil.domain.alerting import AlertsConfig, Channel
from vigil.errors import AmbiguousRefError, ChannelError, NotFoundError, UsageError
from vigil.store.database import transaction
from vigil.store.leases import db_now
from vigil.store.store import Store

log = logging.getLogger(__name__)

LIST_STATES = ("pending", "sent", "failed", "dead", "skipped", "grouped")


def _summary(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"], "alert_id": row["alert_id"], "event_id": row["event_id"], "state": row["state"],
        "kind": row["kind"], "channel": row["channel"], "target": row["target"], "rule": row["rule_id"],
        "severity": row["severity"], "camera": row["camera"], "ts": row["ts"], "attempts": row["attempts"],
        "grouped": row["grouped"], "created_at": row["created_at"], "sent_at": row["sent_at"],
        "next_attempt_at": row["next_attempt_at"], "latency": row["latency"], "last_code": row["last_code"],
        "last_error": row["last_error"],
    }


class AlertService:
    def __init__(self, store: Store, config: AlertsConfig, root: Path, *, renderer: Renderer | None = None) -> None:
        self.store = store
        self.config = config
        self.root = root
        self.renderer = renderer

    def feeder(self) -> OutboxFeeder:
        return OutboxFeeder(self.store, self.config)

    def worker(self, holder: str | None = None) -> DeliveryWorker:
        return DeliveryWorker(self.store, self.config, self.root, renderer=self.renderer, holder=holder)

    # ------------------------------------------------------------------ reading
    def _select(self) -> Any:
        d, e = t.alert_deliveries.c, t.alert_events.c
        return select(t.alert_deliveries, e.rule_id, e.severity, e.camera, e.ts).join(
            t.alert_events, e.event_id == d.event_id)

    def deliveries(self, state: str | None = None, limit: int = 100, event_id: str | None = None
                   ) -> list[dict[str, Any]]:
        """Deliveries, newest first (``state``: one of :data:`LIST_STATES`; ``event_id``: of one event)."""
        if state is not None and state not in LIST_STATES:
            raise UsageError(f"unknown state {state!r}", f"use one of {', '.join(LIST_STATES)}")
        d = t.alert_deliveries.c
        q = self._select().order_by(d.id.desc()).limit(limit)
        if state is not None:
            q = q.where(d.state == state)
        if event_id is not None:
            q = q.where(d.event_id == event_id)
        with transaction(self.store.engine) as conn:
            return [_summary(r) for r in conn.execute(q).mappings()]

    def counts(self) -> dict[str, int]:
        d = t.alert_deliveries.c
        with transaction(self.store.engine) as conn:
            return {str(s): int(n) for s, n in conn.execute(select(d.state, func.count()).group_by(d.state))}

    def _find(self, conn: Any, ident: str) -> Any:
        d = t.alert_deliveries.c
        cond = d.id == int(ident) if ident.isdigit() and len(ident) < 12 else d.alert_id.startswith(ident)
        rows = conn.execute(self._select().where(cond).limit(2)).mappings().all()
        if not rows:
            raise NotFoundError(f"no alert {ident!r}", "list them with `vigil alerts list`")
        if len(rows) > 1:
            raise AmbiguousRefError(f"{ident!r} matches several alerts", "give more characters of the alert id")
        return rows[0]

    def show(self, ident: str) -> dict[str, Any]:
        """One delivery (by number or alert-id prefix) with its event and every attempt."""
        a = t.alert_attempts.c
        with transaction(self.store.engine) as conn:
            row = self._find(conn, ident)
            event = conn.execute(select(t.alert_events).where(t.alert_events.c.event_id == row["event_id"])
                                 ).mappings().one()
            attempts = conn.execute(select(t.alert_attempts).where(a.delivery_id == row["id"]).order_by(a.number)
                                    ).mappings().all()
        return {**_summary(row), "event": json.loads(event["doc"]),
                "record": f"{event['repo']}@{event['commit_id']}:{event['path']}", "frame_oid": event["frame_oid"],
                "frame_committed_at": event["frame_committed_at"], "timezone": event["timezone"],
                "attempts_log": [{k: r[k] for k in ("number", "worker", "started_at", "finished_at", "outcome", "code",
                                                    "error")} for r in attempts]}

    # ------------------------------------------------------------------ acting
    def retry(self, ident: str | None = None, *, dead: bool = False, now: float | None = None) -> int:
        """Re-queue one delivery (any state but sent) or every dead one; their endpoints are enabled again."""
        if (ident is None) == (not dead):
            raise UsageError("name one alert or pass --dead", "e.g. `vigil alerts retry 3f2a` or `--dead`")
        d, ep = t.alert_deliveries.c, t.alert_endpoints.c
        with transaction(self.store.engine, write=True) as conn:
            at = db_now(conn) if now is None else now
            if ident is not None:
                row = self._find(conn, ident)
                if row["state"] == t.SENT:
                    raise UsageError(f"alert {row['alert_id'][:12]} was sent already", "nothing to retry")
                ids = [row["id"]]
            else:
                ids = list(conn.execute(select(d.id).where(d.state == t.DEAD)).scalars())
            if not ids:
                return 0
            targets = conn.execute(select(d.channel, d.target).distinct().where(d.id.in_(ids))).all()
            for channel, target in targets:
                conn.execute(delete(t.alert_endpoints).where(ep.channel == channel, ep.target == target))
            conn.execute(update(t.alert_deliveries).where(d.id.in_(ids)).values(
                state=t.PENDING, next_attempt_at=at, created_at=at, claimed_by=None, claimed_until=None))
        return len(ids)

    def channels(self) -> list[dict[str, Any]]:
        """Every channel: type, where it sends, whether its secrets are readable, disabled endpoints."""
        routed = {kind: self.config.channel_for(kind) for kind in ("email", "webhook", "mqtt")}
        with transaction(self.store.engine) as conn:
            disabled = conn.execute(select(t.alert_endpoints)).mappings().all()
        out = []
        for name, ch in effective_channels(self.config).items():
            out.append({"name": name, "type": ch.type, "destination": _destination(ch),
                        "recipients": list(_recipients(ch)), "secrets": self._secret_status(ch),
                        "routes": [k for k, v in routed.items() if v == name],
                        "disabled": [{"target": r["target"], "reason": r["reason"], "at": r["disabled_at"]}
                                     for r in disabled if r["channel"] == name]})
        return out

    def _secret_status(self, ch: Channel) -> list[str]:
        refs = [getattr(ch, k) for k in ("password", "api_key") if getattr(ch, k, None) is not None]
        refs += list(getattr(ch, "secrets", ()))
        status = []
        for ref in refs:
            try:
                read_secret(ref, self.root)
                status.append(f"{ref.describe()}: set")
            except ChannelError:
                status.append(f"{ref.describe()}: MISSING")
        return status

    def test(self, name: str, target: str | None = None) -> tuple[Alert, Outcome]:
        """Send a test message through channel ``name`` now (not through the outbox); the server's answer."""
        configs = effective_channels(self.config)
        if name not in configs:
            raise NotFoundError(f"no alert channel {name!r}", f"channels: {', '.join(configs) or 'none configured'}")
        config = configs[name]
        target = target or next(iter(_recipients(config)), None)
        if target is None:
            raise UsageError(f"channel {name!r} has no recipient of its own", "give one: --to ADDRESS|URL")
        now = int(time.time())
        alert = Alert(alert_id="test" + secrets.token_hex(14), event_id="test", kind="test", channel=name,
                      target=target, camera="test-camera", event={
                          "event_id": "test", "rule_id": "vigil-test", "severity": "low", "ts": now,
                          "description": "a test message from `vigil alerts test`", "objects": []})
        channel = open_channel(name, config, self.root)
        try:
            return alert, channel.send(alert)
        finally:
            channel.close()

    def deliver(self, *, watch: bool = False, interval: float = 1.0, should_stop: Callable[[], bool] = lambda: False,
                on_pass: Callable[[int, int], None] | None = None) -> int:
        """Feed the outbox and deliver what is due, once or (``watch``) until ``should_stop``; returns the
        attempts made."""
        feeder, worker = self.feeder(), self.worker()
        total = 0
        try:
            while True:
                created = feeder.run_once()
                attempted = worker.drain()
                total += attempted
                if on_pass is not None and (created or attempted):
                    on_pass(created, attempted)
                if not watch or should_stop():
                    return total
                if not created and not attempted:
                    _sleep(interval, should_stop)
        finally:
            worker.close()


def _destination(ch: Channel) -> str:
    if ch.type == "smtp":
        return f"{ch.host}:{ch.default_port} ({ch.security})"
    if ch.type == "sendgrid":
        return ch.base_url
    if ch.type == "webhook":
        return ch.url or "(URLs named by rules)"
    if ch.type == "mqtt":
        return f"{ch.host}:{ch.port} topic {ch.topic_prefix}/events"
    return f"folder {ch.path}"


def _recipients(ch: Channel) -> tuple[str, ...]:
    if ch.type == "webhook":
        return (ch.url,) if ch.url else ()
    if ch.type == "mqtt":
        return (ch.topic_prefix,)
    return ch.to


def _sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not should_stop() and time.monotonic() < deadline:
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


__all__ = ["LIST_STATES", "AlertService"]
