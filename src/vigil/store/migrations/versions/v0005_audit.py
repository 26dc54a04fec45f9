"""Proof: the hash-chained audit log, code identities of pipeline versions, frames erased by retention.

Revision ID: 0005
Revises: 0004

* ``audit_log``: append-only, hash-chained entries (``vigil.store.audit``); triggers refuse UPDATE and DELETE;
* ``code_identities``: what code a pipeline version ran (spec, Vigil version, stage source hashes, image
  digest or script hashes), by digest; ``jobs.code_digest`` and ``commits.code_digest`` point at it;
* ``erased_blobs``: frame bytes deleted by a retention policy or an erasure request (metadata and hashes stay).

Plain ``ADD COLUMN`` (nullable, no constraint): no table rebuild, so upgrading a large workspace is instant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_MESSAGE = "the audit log is append-only"


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object", sa.Text, nullable=False),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sqlite_autoincrement=True,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""CREATE FUNCTION vigil_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                       BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$""")
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION vigil_audit_append_only()")
    else:
        for what in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{what.lower()} BEFORE {what} ON audit_log "
                       f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END")
    op.create_table(
        "code_identities",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("pipeline", sa.String(255), nullable=False),
        sa.Column("reproducible", sa.Boolean, nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.add_column("jobs", sa.Column("code_digest", sa.String(64), nullable=True))
    op.add_column("commits", sa.Column("code_digest", sa.String(64), nullable=True))
    op.create_table(
        "erased_blobs",
        sa.Column("oid", sa.String(64), primary_key=True),
        sa.Column("policy", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("erased_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("erased_blobs")
    op.drop_column("commits", "code_digest")
    op.drop_column("jobs", "code_digest")
    op.drop_table("code_identities")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS vigil_audit_append_only()")
    op.drop_table("audit_log")
