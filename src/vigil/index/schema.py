"""Tables of the derived indexes (on the store's metadata database; created by migration 0004).

* ``events``: one row per threat event (from the ``threat`` repo's records), keyed by the event's stable id;
* ``event_labels``: the object labels of each event (so "events with a person" is an index probe);
* ``cameras``: per camera, how many valid frames and the newest one (from the ``validate`` repo);
* ``feedback``: the latest verdict / reviewed mark per event (the versioned record is in the ``feedback`` repo).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

from vigil.store.schema import metadata

events = Table(
    "events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("tenant", String(64), nullable=True),
    Column("camera", String(160), nullable=False),
    Column("device", String(64), nullable=False),
    Column("ts", Integer, nullable=False),
    Column("rule_id", String(255), nullable=False),
    Column("rules_version", String(64), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("max_score", Float, nullable=False),
    Column("threat_path", Text, nullable=False),  # the record in the threat repo that holds the event
    Column("source", Text, nullable=False),  # the detect record it was raised from
    Column("doc", Text, nullable=False),  # the event as the threat stage wrote it (JSON)
    Index("ix_events_ts", "ts", "event_id"),
    Index("ix_events_tenant_ts", "tenant", "ts", "event_id"),
    Index("ix_events_camera_ts", "camera", "ts", "event_id"),
    Index("ix_events_rule_ts", "rule_id", "ts"),
    Index("ix_events_path", "threat_path"),
)

event_labels = Table(
    "event_labels",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("label", String(64), primary_key=True),
    Index("ix_event_labels_label", "label", "event_id"),
)

cameras = Table(
    "cameras",
    metadata,
    Column("camera", String(160), primary_key=True),
    Column("tenant", String(64), nullable=True),
    Column("frames", Integer, nullable=False),
    Column("last_ts", Integer, nullable=True),
    Column("last_path", Text, nullable=True),  # the newest valid frame, in the validate repo
    Index("ix_cameras_tenant", "tenant", "camera"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("verdict", String(16), nullable=True),  # true_positive | false_positive | NULL (reviewed only)
    Column("reviewed", Boolean, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("by", String(32), nullable=False, server_default=""),  # token id
    Column("updated_at", Float, nullable=False),
    Index("ix_feedback_verdict", "verdict"),
)
