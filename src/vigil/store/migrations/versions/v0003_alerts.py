"""Alerts: the outbox (events seen, deliveries per event/channel/target, attempts) and disabled endpoints.

Revision ID: 0003
Revises: 0002

Tables of ``vigil.alerts.tables``: ``alert_events``, ``alert_deliveries`` (unique (event_id, channel, target):
an alert can never be enqueued twice), ``alert_attempts``, ``alert_endpoints``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("repo", sa.String(255), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("commit_id", sa.String(32), nullable=False),
        sa.Column("rule_id", sa.String(255), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("tenant", sa.String(255), nullable=True),
        sa.Column("device", sa.String(255), nullable=False),
        sa.Column("camera", sa.String(255), nullable=False),
        sa.Column("ts", sa.Integer, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("frame_oid", sa.String(64), nullable=True),
        sa.Column("frame_committed_at", sa.Float, nullable=True),
        sa.Column("recorded_at", sa.Float, nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(32), nullable=False, unique=True),
        sa.Column("event_id", sa.String(64), sa.ForeignKey("alert_events.event_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("channel", sa.String(255), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("sender", sa.Text, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("group_key", sa.Text, nullable=False),
        sa.Column("event_ts", sa.Integer, nullable=False),
        sa.Column("group_id", sa.Integer, nullable=True),
        sa.Column("grouped", sa.Integer, nullable=False, server_default="0"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("claimed_by", sa.String(255), nullable=True),
        sa.Column("claimed_until", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("sent_at", sa.Float, nullable=True),
        sa.Column("latency", sa.Float, nullable=True),
        sa.Column("closed_at", sa.Float, nullable=True),
        sa.Column("last_code", sa.Integer, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.UniqueConstraint("event_id", "channel", "target", name="uq_delivery_key"),
    )
    op.create_index("ix_deliveries_due", "alert_deliveries", ["state", "next_attempt_at"])
    op.create_index("ix_deliveries_group", "alert_deliveries", ["group_key", "event_ts"])
    op.create_table(
        "alert_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.Integer, sa.ForeignKey("alert_deliveries.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(255), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("code", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_attempts_delivery", "alert_attempts", ["delivery_id", "number"])
    op.create_table(
        "alert_endpoints",
        sa.Column("channel", sa.String(255), primary_key=True),
        sa.Column("target", sa.String(2048), primary_key=True),
        sa.Column("disabled_at", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_endpoints")
    op.drop_index("ix_attempts_delivery", "alert_attempts")
    op.drop_table("alert_attempts")
    op.drop_index("ix_deliveries_group", "alert_deliveries")
    op.drop_index("ix_deliveries_due", "alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_table("alert_events")
