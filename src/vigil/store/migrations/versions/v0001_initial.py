"""The schema of Vigil 0.1 (before migrations existed): store and pipeline tables.

Revision ID: 0001
Revises:

A workspace made by Vigil 0.1 already has these tables but no ``alembic_version``: for it this revision only
creates what is missing (0.1 created the pipeline tables lazily), so upgrading it and creating a new workspace
end in the same schema.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


Index = tuple[str, list[str], dict[str, Any]]


def _tables() -> list[tuple[str, list[Any], list[Index]]]:
    """(table, columns and constraints, indexes) as in Vigil 0.1."""
    live = {"sqlite_where": sa.text("to_seq IS NULL"), "postgresql_where": sa.text("to_seq IS NULL")}
    closed = {"sqlite_where": sa.text("to_seq IS NOT NULL"), "postgresql_where": sa.text("to_seq IS NOT NULL")}
    auto = {"sqlite_autoincrement": True}
    return [
        ("vigil_meta", [sa.Column("key", sa.String(64), primary_key=True),
                        sa.Column("value", sa.Text, nullable=False)], []),
        ("repos", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                   sa.Column("name", sa.String(255), nullable=False, unique=True),
                   sa.Column("description", sa.Text, nullable=False),
                   sa.Column("created_at", sa.Float, nullable=False), auto], []),
        ("chains", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("repo_id", sa.Integer, sa.ForeignKey("repos.id", ondelete="CASCADE"), nullable=False),
                    auto],
         [("ix_chains_repo_id", ["repo_id"], {})]),
        ("commits", [sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
                     sa.Column("id", sa.String(32), nullable=False, unique=True),
                     sa.Column("repo_id", sa.Integer, sa.ForeignKey("repos.id", ondelete="CASCADE"),
                               nullable=False),
                     sa.Column("chain_id", sa.Integer, sa.ForeignKey("chains.id", ondelete="CASCADE"),
                               nullable=False),
                     sa.Column("parent_seq", sa.Integer, nullable=True),
                     sa.Column("branch", sa.String(255), nullable=False),
                     sa.Column("created_at", sa.Float, nullable=False),
                     sa.Column("description", sa.Text, nullable=False),
                     sa.Column("origin", sa.String(255), nullable=False),
                     sa.Column("n_added", sa.Integer, nullable=False),
                     sa.Column("n_modified", sa.Integer, nullable=False),
                     sa.Column("n_deleted", sa.Integer, nullable=False),
                     sa.Column("bytes_added", sa.BigInteger, nullable=False), auto],
         [("ix_commits_repo_seq", ["repo_id", "seq"], {}), ("ix_commits_parent", ["parent_seq"], {}),
          ("ix_commits_chain", ["chain_id", "seq"], {})]),
        ("branches", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                      sa.Column("repo_id", sa.Integer, sa.ForeignKey("repos.id", ondelete="CASCADE"),
                                nullable=False),
                      sa.Column("name", sa.String(255), nullable=False),
                      sa.Column("chain_id", sa.Integer, sa.ForeignKey("chains.id", ondelete="CASCADE"),
                                nullable=False),
                      sa.Column("head_seq", sa.Integer, nullable=True),
                      sa.UniqueConstraint("repo_id", "name", name="uq_branch_name")], []),
        ("entries", [sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                     sa.Column("chain_id", sa.Integer, sa.ForeignKey("chains.id", ondelete="CASCADE"),
                               nullable=False),
                     sa.Column("path", sa.Text, nullable=False),
                     sa.Column("oid", sa.String(64), nullable=False),
                     sa.Column("size", sa.BigInteger, nullable=False),
                     sa.Column("from_seq", sa.Integer, nullable=False),
                     sa.Column("to_seq", sa.Integer, nullable=True)],
         [("ix_entries_path", ["chain_id", "path", "from_seq"], {}),
          ("ix_entries_from", ["chain_id", "from_seq"], {}),
          ("ix_entries_to", ["chain_id", "to_seq"], closed),
          ("ix_entries_live", ["chain_id", "path"], {"unique": True, **live}),
          ("ix_entries_oid", ["oid"], {})]),
        ("provenance", [sa.Column("commit_seq", sa.Integer, sa.ForeignKey("commits.seq", ondelete="CASCADE"),
                                  primary_key=True),
                        sa.Column("source_seq", sa.Integer, sa.ForeignKey("commits.seq", ondelete="CASCADE"),
                                  primary_key=True)],
         [("ix_provenance_source", ["source_seq"], {})]),
        ("blobs", [sa.Column("oid", sa.String(64), primary_key=True),
                   sa.Column("size", sa.BigInteger, nullable=False),
                   sa.Column("created_at", sa.Float, nullable=False)], []),
        ("repo_readers", [sa.Column("repo_id", sa.Integer, sa.ForeignKey("repos.id", ondelete="CASCADE"),
                                    primary_key=True),
                          sa.Column("reader", sa.String(255), primary_key=True)], []),
        ("pipelines", [sa.Column("name", sa.String(255), primary_key=True),
                       sa.Column("spec", sa.Text, nullable=False),
                       sa.Column("version", sa.String(64), nullable=False),
                       sa.Column("salt", sa.String(64), nullable=False),
                       sa.Column("created_at", sa.Float, nullable=False),
                       sa.Column("updated_at", sa.Float, nullable=False)], []),
        ("jobs", [sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
                  sa.Column("id", sa.String(32), nullable=False, unique=True),
                  sa.Column("pipeline", sa.String(255), nullable=False),
                  sa.Column("version", sa.String(64), nullable=False),
                  sa.Column("state", sa.String(16), nullable=False),
                  sa.Column("reason", sa.Text, nullable=False),
                  sa.Column("created_at", sa.Float, nullable=False),
                  sa.Column("finished_at", sa.Float, nullable=True),
                  sa.Column("inputs", sa.Text, nullable=False),
                  sa.Column("output_commit", sa.String(32), nullable=True),
                  sa.Column("owner", sa.String(255), nullable=False),
                  *[sa.Column(n, sa.Integer, nullable=False) for n in
                    ("n_total", "n_processed", "n_skipped", "n_recovered", "n_failed", "n_removed")],
                  sa.Column("seconds", sa.Float, nullable=False), auto],
         [("ix_jobs_pipeline", ["pipeline", "seq"], {})]),
        ("datums", [sa.Column("pipeline", sa.String(255), primary_key=True),
                    sa.Column("datum_id", sa.String(64), primary_key=True),
                    sa.Column("job_id", sa.String(32), nullable=False),
                    sa.Column("state", sa.String(16), nullable=False),
                    sa.Column("committed", sa.Boolean, nullable=False),
                    sa.Column("attempts", sa.Integer, nullable=False),
                    sa.Column("seconds", sa.Float, nullable=False),
                    sa.Column("error", sa.Text, nullable=True),
                    sa.Column("log", sa.Text, nullable=False),
                    sa.Column("inputs", sa.Text, nullable=False),
                    sa.Column("outputs", sa.Text, nullable=True)],
         [("ix_datums_job", ["job_id"], {})]),
        ("datum_units", [sa.Column("pipeline", sa.String(255), primary_key=True),
                         sa.Column("input_name", sa.String(255), primary_key=True),
                         sa.Column("root", sa.Text, primary_key=True),
                         sa.Column("datum_id", sa.String(64), primary_key=True)],
         [("ix_units_datum", ["pipeline", "datum_id"], {})]),
        ("datum_outputs", [sa.Column("pipeline", sa.String(255), primary_key=True),
                           sa.Column("path", sa.Text, primary_key=True),
                           sa.Column("datum_id", sa.String(64), nullable=False),
                           sa.Column("oid", sa.String(64), nullable=False),
                           sa.Column("size", sa.Integer, nullable=False)],
         [("ix_outputs_datum", ["pipeline", "datum_id"], {})]),
    ]


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, items, indexes in _tables():
        if name in existing:
            continue
        columns = [i for i in items if not isinstance(i, dict)]
        options: dict[str, Any] = next((i for i in items if isinstance(i, dict)), {})
        op.create_table(name, *columns, **options)
        for index, cols, kw in indexes:
            op.create_index(index, name, cols, **kw)


def downgrade() -> None:
    for name, _items, _indexes in reversed(_tables()):
        op.drop_table(name)
