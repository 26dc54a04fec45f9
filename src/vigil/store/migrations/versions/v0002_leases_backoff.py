"""Run unattended: leases, commit feeds, pipeline back-off, datum retries, renamed outputs.

Revision ID: 0002
Revises: 0001

* ``leases``: named, expiring locks held by runners and workers (``vigil.store.leases``);
* ``feed_cursors``: how far each consumer of a repo's commits has got (``vigil.store.feeds``);
* ``pipelines.failures/retry_at/last_error``: a failing pipeline backs off instead of being retried every poll;
* ``datums.failures/retry_at``: a failed datum is retried by later jobs, with back-off, instead of failing them;
* ``datum_outputs.claimed_path``: the path a datum wrote when the engine renamed a conflicting output.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("acquired_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_table(
        "feed_cursors",
        sa.Column("consumer", sa.String(255), primary_key=True),
        sa.Column("repo", sa.String(255), nullable=False),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("commit_seq", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("pipelines") as batch:
        batch.add_column(sa.Column("failures", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("retry_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text, nullable=True))
    with op.batch_alter_table("datums") as batch:
        batch.add_column(sa.Column("failures", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("retry_at", sa.Float, nullable=True))
    op.create_index("ix_datums_pending", "datums", ["pipeline", "committed", "state"])
    with op.batch_alter_table("datum_outputs") as batch:
        batch.add_column(sa.Column("claimed_path", sa.Text, nullable=True))
    op.create_index("ix_outputs_claimed", "datum_outputs", ["pipeline", "claimed_path"])


def downgrade() -> None:
    op.drop_index("ix_outputs_claimed", "datum_outputs")
    with op.batch_alter_table("datum_outputs") as batch:
        batch.drop_column("claimed_path")
    op.drop_index("ix_datums_pending", "datums")
    with op.batch_alter_table("datums") as batch:
        batch.drop_column("retry_at")
        batch.drop_column("failures")
    with op.batch_alter_table("pipelines") as batch:
        batch.drop_column("last_error")
        batch.drop_column("retry_at")
        batch.drop_column("failures")
    op.drop_table("feed_cursors")
    op.drop_table("leases")
