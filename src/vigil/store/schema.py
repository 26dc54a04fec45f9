"""Metadata schema (SQLAlchemy Core): repos, branches, commits, file entries, provenance, blobs.

File entries are stored per *chain* (the line of commits one branch makes) as validity intervals:
an entry is live from the commit that wrote it (``from_seq``) until the commit that replaced or deleted it
(``to_seq``, NULL while live). So:

* a commit of N changes touches O(N) rows, whatever the repo size;
* the files at a branch head are the rows with ``to_seq IS NULL`` (a partial index);
* the files at an older commit ``s`` are the rows with ``from_seq <= s < to_seq``;
* a path at a commit is one index probe on (chain, path, from_seq).

``seq`` is a global, increasing commit number; commit ids shown to users are random hex strings.

These definitions are what queries use; the database itself is created and upgraded by the Alembic revisions
in :mod:`vigil.store.migrations` (a test checks that both agree).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()

meta_info = Table(
    "vigil_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

repos = Table(
    "repos",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    sqlite_autoincrement=True,
)

chains = Table(
    "chains",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), nullable=False, index=True),
    sqlite_autoincrement=True,
)

commits = Table(
    "commits",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), nullable=False),
    Column("chain_id", Integer, ForeignKey("chains.id", ondelete="CASCADE"), nullable=False),
    Column("parent_seq", Integer, nullable=True),
    Column("branch", String(255), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("origin", String(255), nullable=False),
    Column("n_added", Integer, nullable=False, default=0),
    Column("n_modified", Integer, nullable=False, default=0),
    Column("n_deleted", Integer, nullable=False, default=0),
    Column("bytes_added", BigInteger, nullable=False, default=0),
    Column("code_digest", String(64), nullable=True),  # an output commit's code identity (code_identities)
    Index("ix_commits_repo_seq", "repo_id", "seq"),
    Index("ix_commits_parent", "parent_seq"),
    Index("ix_commits_chain", "chain_id", "seq"),
    sqlite_autoincrement=True,
)

branches = Table(
    "branches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("chain_id", Integer, ForeignKey("chains.id", ondelete="CASCADE"), nullable=False),
    Column("head_seq", Integer, nullable=True),
    UniqueConstraint("repo_id", "name", name="uq_branch_name"),
)

entries = Table(
    "entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chain_id", Integer, ForeignKey("chains.id", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False),
    Column("oid", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("from_seq", Integer, nullable=False),
    Column("to_seq", Integer, nullable=True),
    Index("ix_entries_path", "chain_id", "path", "from_seq"),
    Index("ix_entries_from", "chain_id", "from_seq"),
    # Partial: only closed entries. A plain (chain_id, to_seq) index lures SQLite into scanning every live row
    # for "to_seq IS NULL" queries that the partial live index below answers with one probe.
    Index("ix_entries_to", "chain_id", "to_seq", sqlite_where=text("to_seq IS NOT NULL"),
          postgresql_where=text("to_seq IS NOT NULL")),
    Index(
        "ix_entries_live",
        "chain_id",
        "path",
        unique=True,
        sqlite_where=text("to_seq IS NULL"),
        postgresql_where=text("to_seq IS NULL"),
    ),
    Index("ix_entries_oid", "oid"),
)

provenance = Table(
    "provenance",
    metadata,
    Column("commit_seq", Integer, ForeignKey("commits.seq", ondelete="CASCADE"), primary_key=True),
    Column("source_seq", Integer, ForeignKey("commits.seq", ondelete="CASCADE"), primary_key=True),
    Index("ix_provenance_source", "source_seq"),
)

blobs = Table(
    "blobs",
    metadata,
    Column("oid", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
)

# Which pipelines read a repo: maintained by the pipeline layer, consulted before a repo is deleted.
readers = Table(
    "repo_readers",
    metadata,
    Column("repo_id", Integer, ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True),
    Column("reader", String(255), primary_key=True),
)

# Named, expiring locks (vigil.store.leases): one runner per pipeline, one worker per outbox row, ...
leases = Table(
    "leases",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("holder", String(255), nullable=False),
    Column("token", String(32), nullable=False),
    Column("acquired_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

# Commit feeds (vigil.store.feeds): each consumer's cursor, the commit it has derived everything up to.
feed_cursors = Table(
    "feed_cursors",
    metadata,
    Column("consumer", String(255), primary_key=True),
    Column("repo", String(255), nullable=False),
    Column("branch", String(255), nullable=False),
    Column("commit_seq", Integer, nullable=True),
    Column("updated_at", Float, nullable=False),
)

# What code a pipeline version ran (vigil.pipeline.identity), by the digest jobs and output commits record.
code_identities = Table(
    "code_identities",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("pipeline", String(255), nullable=False),
    Column("reproducible", Boolean, nullable=False),
    Column("doc", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

# Blobs whose bytes a retention policy or an erasure request deleted (their entries and hashes stay).
erased_blobs = Table(
    "erased_blobs",
    metadata,
    Column("oid", String(64), primary_key=True),
    Column("policy", String(255), nullable=False),
    Column("reason", Text, nullable=False),
    Column("erased_at", Float, nullable=False),
)
