"""The delivery worker: claim due deliveries, hand each to its channel, record the attempt and what comes next.

Several workers (threads, processes, machines) share one outbox without delivering a row twice: a worker claims
rows before sending (``claimed_by``/``claimed_until``). On PostgreSQL the claim query locks the rows it picks
with ``FOR UPDATE SKIP LOCKED``, so concurrent workers take different rows; SQLite serialises writers, so the
same conditional claim in a write transaction is enough. A claim expires after ``claim_ttl``; a claim held by a
process of this host that is gone (a SIGKILLed worker) is taken over at once.

Hand-off is at least once: a worker that dies after the receiver accepted an alert but before recording it
leaves the row claimed, and the next worker sends it again with the same ``alert_id`` (the e-mail Message-ID,
the ``webhook-id``), which receivers use to de-duplicate. Every attempt is a row in ``alert_attempts`` (an
unfinished one shows where a worker died).

Failures back off on ``alerts.retry.schedule`` (the Standard Webhooks schedule by default: 5 s, 5 min, 30 min,
2 h, ...), with jitter, never sooner than the receiver's ``Retry-After``; past ``give_up_after`` since enqueueing,
or on a permanent failure, a delivery is ``dead`` with its last error (``vigil alerts retry`` re-queues it). A
410 Gone disables the endpoint (``alert_endpoints``) and kills what is queued for it.

Time: ``now`` arguments (tests step through schedules without sleeping); by default the database's clock.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from vigil.alerts import metrics
from vigil.alerts import tables as t
from vigil.alerts.channels import Channel, Outcome, open_channel
from vigil.alerts.message import Alert
from vigil.alerts.outbox import effective_channels
from vigil.domain.alerting import AlertsConfig, RetryPolicy
from vigil.errors import redact
from vigil.store import audit
from vigil.store.database import transaction
from vigil.store.leases import _dead_here, db_now, holder_id
from vigil.store.store import Store

log = logging.getLogger(__name__)

Renderer = Callable[[str, Callable[[], bytes], list[dict[str, Any]]], bytes]  # frame oid, read, objects -> JPEG


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds, with its event and the attempt it is making."""

    delivery: Mapping[str, Any]
    event: Mapping[str, Any]
    attempt_id: int
    group_alert_id: str | None
    disabled: str | None = None  # why its endpoint is disabled (HTTP 410), if it is
    at: float = 0.0  # when it was claimed


def next_delay(policy: RetryPolicy, failures: int, retry_after: float | None, rng: random.Random) -> float:
    """Seconds before the next attempt after ``failures`` failed ones: the schedule's entry (its last one
    repeats) times a random factor in [1 - jitter, 1 + jitter], at least ``retry_after``."""
    base = policy.schedule[min(max(failures, 1), len(policy.schedule)) - 1]
    delay = base * (1 + policy.jitter * (2 * rng.random() - 1))
    return max(delay, retry_after or 0.0)


class Evidence:
    """The evidence picture of an event: its frame with the event's objects boxed, rendered once per event
    (a small cache: one alert usually has several recipients)."""

    def __init__(self, store: Store, renderer: Renderer | None, size: int = 32) -> None:
        self.store = store
        self.renderer = renderer
        self.size = size
        self._cache: OrderedDict[str, bytes | None] = OrderedDict()
        self._lock = threading.Lock()  # channels deliver on their own threads

    def __call__(self, event: Mapping[str, Any]) -> bytes | None:
        key = str(event["event_id"])
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        image = self._render(event)
        with self._lock:
            self._cache[key] = image
            if len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return image

    def _render(self, event: Mapping[str, Any]) -> bytes | None:
        if self.renderer is None or not event.get("frame_oid"):
            return None
        oid = str(event["frame_oid"])

        def read() -> bytes:
            with self.store.objects.open(oid) as fh:
                return fh.read()

        try:
            return self.renderer(oid, read, json.loads(event["doc"]).get("objects") or [])
        except Exception as exc:  # no evidence is better than no alert
            log.warning("no evidence for event %s: %s", str(event["event_id"])[:12], exc)
            return None


class DeliveryWorker:
    """The duty that delivers due alerts (see the module docstring)."""

    name = "alert-delivery"

    def __init__(self, store: Store, config: AlertsConfig, root: Path, *, renderer: Renderer | None = None,
                 holder: str | None = None, channels: Mapping[str, Channel] | None = None,
                 rng: random.Random | None = None) -> None:
        self.store = store
        self.config = config
        self.root = root
        self.holder = holder or holder_id()
        self.configs = effective_channels(config)
        self._channels: dict[str, Channel] = dict(channels or {})
        self.evidence = Evidence(store, renderer)
        self.rng = rng or random.Random()
        self._gone: dict[tuple[str, str], str] = {}  # endpoints this worker disabled since its batch was claimed

    # ------------------------------------------------------------------ claiming
    def claim(self, now: float | None = None, limit: int | None = None) -> list[Claimed]:
        """Claim up to ``limit`` (``alerts.batch``) due deliveries, oldest due first."""
        d, e = t.alert_deliveries.c, t.alert_events.c
        with transaction(self.store.engine) as conn:  # most polls find nothing: no write lock for them
            at = db_now(conn) if now is None else now
            if conn.execute(select(d.id).where(d.state.in_(t.DUE_STATES), d.next_attempt_at <= at).limit(1)).first() \
                    is None:
                return []
        with transaction(self.store.engine, write=True) as conn:
            at = db_now(conn) if now is None else now
            dead = self._dead_holders(conn, at)
            free = or_(d.claimed_until.is_(None), d.claimed_until <= at, *([d.claimed_by.in_(dead)] if dead else []))
            ids = list(conn.execute(select(d.id).where(d.state.in_(t.DUE_STATES), d.next_attempt_at <= at, free)
                                    .order_by(d.next_attempt_at, d.id).limit(limit or self.config.batch)
                                    .with_for_update(skip_locked=True)).scalars())
            if not ids:
                return []
            conn.execute(update(t.alert_deliveries).where(d.id.in_(ids)).values(
                claimed_by=self.holder, claimed_until=at + self.config.claim_ttl, attempts=d.attempts + 1))
            rows = conn.execute(select(t.alert_deliveries, *[c for c in t.alert_events.c if c.key != "event_id"])
                                .join(t.alert_events, e.event_id == d.event_id).where(d.id.in_(ids))
                                .order_by(d.channel, d.next_attempt_at, d.id)).mappings().all()
            leaders = {r["group_id"] for r in rows if r["group_id"] is not None}
            alert_ids = dict(conn.execute(select(d.id, d.alert_id).where(d.id.in_(leaders))).all()) if leaders else {}
            ep = t.alert_endpoints.c
            disabled = {(c, tg): why for c, tg, why in conn.execute(select(ep.channel, ep.target, ep.reason))}
            claimed = []
            for r in rows:
                attempt = conn.execute(insert(t.alert_attempts).values(
                    delivery_id=r["id"], number=r["attempts"], worker=self.holder, started_at=at)
                    .returning(t.alert_attempts.c.id)).scalar_one()
                claimed.append(Claimed(dict(r), dict(r), attempt, alert_ids.get(r["group_id"]),
                                       disabled.get((r["channel"], r["target"])), at))
            return claimed

    def _dead_holders(self, conn: Connection, at: float) -> list[str]:
        """Holders of live claims that are processes of this host which no longer exist."""
        d = t.alert_deliveries.c
        holders = conn.execute(select(d.claimed_by).distinct().where(
            d.state.in_(t.DUE_STATES), d.claimed_until > at, d.claimed_by.is_not(None))).scalars()
        return [h for h in holders if h != self.holder and _dead_here(h)]

    # ------------------------------------------------------------------ sending
    def run_once(self, now: float | None = None) -> int:
        """Claim and deliver one batch; returns how many were claimed (0: nothing due). Each channel's
        deliveries run on their own thread, so a slow or unreachable channel does not hold up the others."""
        claimed = self.claim(now)
        started = time.monotonic()
        by_channel: dict[str, list[Claimed]] = {}
        for c in claimed:
            by_channel.setdefault(c.delivery["channel"], []).append(c)

        def work(rows: list[Claimed]) -> None:
            for i, c in enumerate(rows):
                if time.monotonic() - started > self.config.claim_ttl / 2:  # keep clear of the claim's expiry
                    self.release(rows[i:])
                    return
                self.deliver(c, now)

        if len(by_channel) <= 1:
            work(claimed)
        else:
            with ThreadPoolExecutor(len(by_channel), thread_name_prefix="vigil-alerts") as pool:
                for future in [pool.submit(work, rows) for rows in by_channel.values()]:
                    future.result()
        return len(claimed) + (self.close_groups(now) if not claimed else 0)

    def close_groups(self, now: float | None = None) -> int:
        """Send ``end`` for alerts of channels with updates (MQTT) whose group went quiet: no event joined it
        for its group window. At least once: an alert is marked closed after its ``end`` was handed over."""
        names = [name for name, config in self.configs.items() if config.updates]
        if not names:
            return 0
        d, e = t.alert_deliveries.c, t.alert_events.c
        m = t.alert_deliveries.alias("m")
        last = select(func.max(m.c.created_at)).where(m.c.group_id == d.id).scalar_subquery()
        last_ts = select(func.max(m.c.event_ts)).where(m.c.group_id == d.id).scalar_subquery()
        with transaction(self.store.engine) as conn:
            at = db_now(conn) if now is None else now
            rows = conn.execute(select(t.alert_deliveries, *[c for c in t.alert_events.c if c.key != "event_id"],
                                       last.label("last_joined"), last_ts.label("last_ts"))
                                .join(t.alert_events, e.event_id == d.event_id)
                                .where(d.kind == "new", d.state == t.SENT, d.closed_at.is_(None), d.channel.in_(names))
                                .order_by(d.id).limit(self.config.batch)).mappings().all()
        closed = 0
        for r in rows:
            window = self.config.group_window_for(r["rule_id"], r["channel"])
            if (r["last_joined"] or r["created_at"]) + window > at:
                continue
            channel = self.channel(r["channel"])
            if channel is None:
                continue
            claimed = Claimed(dict(r), dict(r), 0, None, at=at)
            base = self.alert(claimed)
            event = {**base.event, "end_ts": r["last_ts"] or base.event.get("ts")}
            end = dataclasses.replace(base, kind="end", event=event)
            if channel.send(end).status != "sent":
                continue
            with transaction(self.store.engine, write=True) as conn:
                conn.execute(update(t.alert_deliveries).where(d.id == r["id"]).values(closed_at=at))
            closed += 1
        return closed

    def release(self, rows: list[Claimed]) -> None:
        """Give claims back unattempted (their attempt is recorded as released, not counted)."""
        d, a = t.alert_deliveries.c, t.alert_attempts.c
        with transaction(self.store.engine, write=True) as conn:
            for c in rows:
                conn.execute(update(t.alert_deliveries).where(d.id == c.delivery["id"], d.claimed_by == self.holder)
                             .values(claimed_by=None, claimed_until=None, attempts=d.attempts - 1))
                conn.execute(delete(t.alert_attempts).where(a.id == c.attempt_id))

    def drain(self, now: float | None = None, rounds: int = 1000) -> int:
        """Deliver until nothing is due (at ``now``); returns the attempts made."""
        total = 0
        for _ in range(rounds):
            n = self.run_once(now)
            total += n
            if n == 0:
                break
        return total

    def channel(self, name: str) -> Channel | None:
        if name not in self._channels:
            config = self.configs.get(name)
            if config is None:
                return None
            self._channels[name] = open_channel(name, config, self.root)
        return self._channels[name]

    def alert(self, c: Claimed) -> Alert:
        r = c.delivery
        event = json.loads(c.event["doc"])
        url = self.config.evidence_url
        return Alert(
            alert_id=r["alert_id"], event_id=r["event_id"], kind=r["kind"], channel=r["channel"],
            target=r["target"], event=event, camera=c.event["camera"], timezone=c.event["timezone"],
            sender=r["sender"], grouped=r["grouped"], group_alert_id=c.group_alert_id,
            record=f"{c.event['repo']}@{c.event['commit_id']}:{c.event['path']}",
            evidence_url=url.format(event_id=r["event_id"], alert_id=r["alert_id"]) if url else None,
            evidence=lambda: self.evidence(c.event),
        )

    def deliver(self, c: Claimed, now: float | None = None) -> Outcome:
        """One attempt at a claimed delivery, recorded."""
        r = c.delivery
        outcome = self._precheck(c, now)
        if outcome is None:
            channel = self.channel(r["channel"])
            if channel is None:
                outcome = Outcome("retry", None, f"channel {r['channel']!r} is not configured any more")
            else:
                try:
                    outcome = channel.send(self.alert(c))
                except Exception as exc:  # a channel bug must not stop the others: record, retry later
                    log.exception("channel %s failed on alert %s", r["channel"], r["alert_id"])
                    outcome = Outcome("retry", None, f"{exc.__class__.__name__}: {exc}")
        self.record(c, outcome, now)
        return outcome

    def _precheck(self, c: Claimed, now: float | None) -> Outcome | None:
        """Dead before sending: the endpoint was disabled (410), or the delivery is too old to try again."""
        r = c.delivery
        at = c.at if now is None else now
        disabled = c.disabled or self._gone.get((r["channel"], r["target"]))
        if disabled is not None:
            return Outcome("dead", None, f"endpoint disabled: {disabled}")
        if r["attempts"] > 1 and at - r["created_at"] > self.config.retry.give_up_after:
            return Outcome("dead", None, f"gave up after {r['attempts'] - 1} attempt(s) over "
                                         f"{self.config.retry.give_up_after:.0f} s: {r['last_error']}")
        return None

    # ---------------------------------------------------------------- recording
    def record(self, c: Claimed, outcome: Outcome, now: float | None = None) -> None:
        """Write the attempt's outcome and the delivery's next state (fenced by this worker's claim)."""
        r = c.delivery
        d = t.alert_deliveries.c
        metrics.ATTEMPTS.labels(r["channel"], outcome.status).inc()
        with transaction(self.store.engine, write=True) as conn:
            at = db_now(conn) if now is None else now
            values: dict[str, Any] = {"claimed_by": None, "claimed_until": None, "last_code": outcome.code}
            if outcome.status == "sent":
                latency = at - c.event["frame_committed_at"] if c.event["frame_committed_at"] else None
                values.update(state=t.SENT, sent_at=at, latency=latency, last_error=None)
                if latency is not None:
                    metrics.LATENCY.labels(r["channel"]).observe(max(latency, 0.0))
            elif outcome.status == "retry":
                delay = next_delay(self.config.retry, r["attempts"], outcome.retry_after, self.rng)
                if at + delay - r["created_at"] > self.config.retry.give_up_after:
                    values.update(state=t.DEAD, last_error=f"gave up after {r['attempts']} attempt(s): "
                                                           f"{outcome.detail}")
                else:
                    values.update(state=t.FAILED, next_attempt_at=at + delay, last_error=outcome.detail)
            else:
                values.update(state=t.DEAD, last_error=outcome.detail)
                if outcome.status == "gone":
                    self._disable(conn, r["channel"], r["target"], outcome.detail, at)
                    self._gone[(r["channel"], r["target"])] = "the receiver answered 410 Gone"
            done = conn.execute(update(t.alert_deliveries).where(d.id == r["id"], d.claimed_by == self.holder)
                                .values(**values))
            if done.rowcount != 1:
                log.warning("alert %s: this worker's claim was taken over meanwhile (outcome %s kept)",
                            r["alert_id"], outcome.status)
                conn.execute(update(t.alert_deliveries).where(d.id == r["id"], d.state != t.SENT).values(**values))
            if outcome.status in ("sent", "gone", "dead") and done.rowcount == 1:
                audit.append(conn, f"alert.{outcome.status}", f"alert:{r['alert_id']}", detail={
                    "event": c.event["event_id"], "channel": r["channel"], "target": redact(str(r["target"])),
                    "attempts": r["attempts"]})
            conn.execute(update(t.alert_attempts).where(t.alert_attempts.c.id == c.attempt_id).values(
                finished_at=at, outcome=outcome.status, code=outcome.code, error=None if outcome.status == "sent"
                else outcome.detail[:2000]))

    @staticmethod
    def _disable(conn: Connection, channel: str, target: str, detail: str, at: float) -> None:
        ep = t.alert_endpoints.c
        conn.execute(delete(t.alert_endpoints).where(ep.channel == channel, ep.target == target))
        conn.execute(insert(t.alert_endpoints).values(channel=channel, target=target[:2048], disabled_at=at,
                                                      reason=f"the receiver answered 410 Gone ({detail[:200]})"))
        d = t.alert_deliveries.c
        conn.execute(update(t.alert_deliveries).where(and_(
            d.channel == channel, d.target == target, d.state.in_(t.DUE_STATES), d.claimed_by.is_(None)))
            .values(state=t.DEAD, last_error="endpoint disabled: the receiver answered 410 Gone"))

    def close(self) -> None:
        for channel in self._channels.values():
            try:
                channel.close()
            except Exception as exc:  # closing is best effort
                log.debug("closing channel %s: %s", channel.name, exc)


__all__ = ["Claimed", "DeliveryWorker", "Evidence", "Renderer", "next_delay"]
