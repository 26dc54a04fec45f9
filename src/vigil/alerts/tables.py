"""The outbox's tables in the metadata database (created by migration 0003).

* ``alert_events``: every event the outbox has seen, once (its record's repo, path and commit, the frame's blob
  and first commit time, the event document);
* ``alert_deliveries``: the outbox proper, one row per (event, channel, target) (a unique key: enqueueing twice
  is impossible), with its state, attempts, schedule, claim and outcome;
* ``alert_attempts``: one row per attempt (worker, times, response code or error): the delivery record;
* ``alert_endpoints``: targets disabled by their receiver (HTTP 410 Gone).
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from vigil.store.schema import metadata

PENDING, FAILED, SENT, DEAD, SKIPPED, GROUPED = "pending", "failed", "sent", "dead", "skipped", "grouped"
STATES = (PENDING, FAILED, SENT, DEAD, SKIPPED, GROUPED)
DUE_STATES = (PENDING, FAILED)  # rows a worker may claim when their next attempt is due

alert_events = Table(
    "alert_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("repo", String(255), nullable=False),
    Column("path", Text, nullable=False),
    Column("commit_id", String(32), nullable=False),
    Column("rule_id", String(255), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("tenant", String(255), nullable=True),
    Column("device", String(255), nullable=False),
    Column("camera", String(255), nullable=False),
    Column("ts", Integer, nullable=False),  # the frame's time (unix seconds, UTC)
    Column("timezone", String(64), nullable=False),  # the camera's zone, for messages
    Column("frame_oid", String(64), nullable=True),  # the frame's blob (evidence), when known
    Column("frame_committed_at", Float, nullable=True),  # when the frame first entered Vigil
    Column("recorded_at", Float, nullable=False),
    Column("doc", Text, nullable=False),  # the event as JSON (ThreatEvent.to_dict() or a health event)
)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(32), nullable=False, unique=True),  # idempotency key: Message-ID, webhook-id
    Column("event_id", String(64), ForeignKey("alert_events.event_id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(255), nullable=False),
    Column("target", Text, nullable=False),
    Column("sender", Text, nullable=True),  # a rule's own From (the 2017 from_email)
    Column("kind", String(16), nullable=False),  # new: an alert; update: an event grouped into one
    Column("state", String(16), nullable=False),
    Column("group_key", Text, nullable=False),  # rule and camera
    Column("event_ts", Integer, nullable=False),
    Column("group_id", Integer, nullable=True),  # the alert this event was grouped into
    Column("grouped", Integer, nullable=False, server_default="0"),  # events grouped into this alert
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Float, nullable=False),
    Column("claimed_by", String(255), nullable=True),
    Column("claimed_until", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("sent_at", Float, nullable=True),
    Column("latency", Float, nullable=True),  # frame committed -> handed to the channel, seconds
    Column("closed_at", Float, nullable=True),  # an alert with updates: when its "end" was sent (MQTT)
    Column("last_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("event_id", "channel", "target", name="uq_delivery_key"),
    Index("ix_deliveries_due", "state", "next_attempt_at"),
    Index("ix_deliveries_group", "group_key", "event_ts"),
)

alert_attempts = Table(
    "alert_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", Integer, ForeignKey("alert_deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("worker", String(255), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),  # NULL: the worker died during the attempt
    Column("outcome", String(16), nullable=True),
    Column("code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_attempts_delivery", "delivery_id", "number"),
)

alert_endpoints = Table(
    "alert_endpoints",
    metadata,
    Column("channel", String(255), primary_key=True),
    Column("target", String(2048), primary_key=True),
    Column("disabled_at", Float, nullable=False),
    Column("reason", Text, nullable=False),
)

__all__ = ["DEAD", "DUE_STATES", "FAILED", "GROUPED", "PENDING", "SENT", "SKIPPED", "STATES", "alert_attempts",
           "alert_deliveries", "alert_endpoints", "alert_events"]
