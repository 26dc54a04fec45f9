"""`vigil serve`: API tokens, and the derived indexes the API queries (events, their labels, cameras, feedback).

Revision ID: 0004
Revises: 0003

* ``api_tokens``: hashed API tokens with role, tenant and camera scopes (``vigil.store.tokens``);
* ``events`` / ``event_labels``: the events index derived from the threat repo (``vigil.index.events``);
* ``cameras``: valid frames per camera and the newest one, from the validate repo (``vigil.index.cameras``);
* ``feedback``: the latest verdict per event, from the feedback repo (``vigil.index.feedback``).

The indexes start empty: their feed cursors (``feed_cursors``) are absent, so the first pass derives them from
the repos' heads.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=True),
        sa.Column("cameras", sa.Text, nullable=False, server_default="[]"),
        sa.Column("name", sa.String(255), nullable=False, server_default=""),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float, nullable=True),
    )
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=True),
        sa.Column("camera", sa.String(160), nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("ts", sa.Integer, nullable=False),
        sa.Column("rule_id", sa.String(255), nullable=False),
        sa.Column("rules_version", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.Column("threat_path", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_index("ix_events_ts", "events", ["ts", "event_id"])
    op.create_index("ix_events_tenant_ts", "events", ["tenant", "ts", "event_id"])
    op.create_index("ix_events_camera_ts", "events", ["camera", "ts", "event_id"])
    op.create_index("ix_events_rule_ts", "events", ["rule_id", "ts"])
    op.create_index("ix_events_path", "events", ["threat_path"])
    op.create_table(
        "event_labels",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("label", sa.String(64), primary_key=True),
    )
    op.create_index("ix_event_labels_label", "event_labels", ["label", "event_id"])
    op.create_table(
        "cameras",
        sa.Column("camera", sa.String(160), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=True),
        sa.Column("frames", sa.Integer, nullable=False),
        sa.Column("last_ts", sa.Integer, nullable=True),
        sa.Column("last_path", sa.Text, nullable=True),
    )
    op.create_index("ix_cameras_tenant", "cameras", ["tenant", "camera"])
    op.create_table(
        "feedback",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("reviewed", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("by", sa.String(32), nullable=False, server_default=""),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_feedback_verdict", "feedback", ["verdict"])


def downgrade() -> None:
    op.drop_index("ix_feedback_verdict", "feedback")
    op.drop_table("feedback")
    op.drop_index("ix_cameras_tenant", "cameras")
    op.drop_table("cameras")
    op.drop_index("ix_event_labels_label", "event_labels")
    op.drop_table("event_labels")
    for name in ("ix_events_path", "ix_events_rule_ts", "ix_events_camera_ts", "ix_events_tenant_ts", "ix_events_ts"):
        op.drop_index(name, "events")
    op.drop_table("events")
    op.drop_table("api_tokens")
    op.execute("DELETE FROM feed_cursors WHERE consumer IN ('events-index', 'cameras-index', 'feedback-index')")
