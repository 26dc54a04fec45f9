"""Pipeline bookkeeping tables, on the store's metadata database.

* ``pipelines``: the current spec and version of each pipeline;
* ``jobs``: one row per job with its state, input commits and output commit;
* ``datums``: the latest record of each datum of each pipeline. ``committed`` is true once its outputs are in
  an output commit; results of an interrupted job stay uncommitted and are reused ("RECOVERED") on restart;
* ``datum_units``: which input root each datum read (how a changed input file finds the datums it affects);
* ``datum_outputs``: which datum wrote each output path (collisions, removals, per-file lineage).
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

from vigil.store.schema import metadata

pipelines = Table(
    "pipelines",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("spec", Text, nullable=False),
    Column("version", String(64), nullable=False),
    Column("salt", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # back-off of a failing pipeline: consecutive failed jobs, when the next try is due, and why
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("retry_at", Float, nullable=True),
    Column("last_error", Text, nullable=True),
)

jobs = Table(
    "jobs",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(32), nullable=False, unique=True),
    Column("pipeline", String(255), nullable=False),
    Column("version", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("inputs", Text, nullable=False),  # JSON: {input name: [repo, commit id]}
    Column("output_commit", String(32), nullable=True),
    Column("owner", String(255), nullable=False, default=""),  # host:pid of the runner
    Column("n_total", Integer, nullable=False, default=0),
    Column("n_processed", Integer, nullable=False, default=0),
    Column("n_skipped", Integer, nullable=False, default=0),
    Column("n_recovered", Integer, nullable=False, default=0),
    Column("n_failed", Integer, nullable=False, default=0),
    Column("n_removed", Integer, nullable=False, default=0),
    Column("seconds", Float, nullable=False, default=0.0),
    Column("code_digest", String(64), nullable=True),  # the code identity it ran (code_identities)
    Index("ix_jobs_pipeline", "pipeline", "seq"),
    sqlite_autoincrement=True,
)

datums = Table(
    "datums",
    metadata,
    Column("pipeline", String(255), primary_key=True),
    Column("datum_id", String(64), primary_key=True),
    Column("job_id", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("committed", Boolean, nullable=False, default=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("seconds", Float, nullable=False, default=0.0),
    Column("error", Text, nullable=True),
    Column("log", Text, nullable=False, default=""),
    Column("inputs", Text, nullable=False),  # JSON: [[input name, repo, root, n files], ...]
    Column("outputs", Text, nullable=True),  # JSON {path: [oid, size]} while uncommitted (for recovery)
    # a FAILED datum is retried by a later job once retry_at has passed; failures = jobs that failed it
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("retry_at", Float, nullable=True),
    Index("ix_datums_job", "job_id"),
    Index("ix_datums_pending", "pipeline", "committed", "state"),
)

datum_units = Table(
    "datum_units",
    metadata,
    # Key order = the hot lookup "which datums read this root of this input" (one index probe).
    Column("pipeline", String(255), primary_key=True),
    Column("input_name", String(255), primary_key=True),
    Column("root", Text, primary_key=True),
    Column("datum_id", String(64), primary_key=True),
    Index("ix_units_datum", "pipeline", "datum_id"),
)

datum_outputs = Table(
    "datum_outputs",
    metadata,
    Column("pipeline", String(255), primary_key=True),
    Column("path", Text, primary_key=True),
    Column("datum_id", String(64), nullable=False),
    Column("oid", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    # the path the datum wrote, when the engine renamed a conflicting output (``path`` is where it landed)
    Column("claimed_path", Text, nullable=True),
    Index("ix_outputs_datum", "pipeline", "datum_id"),
    Index("ix_outputs_claimed", "pipeline", "claimed_path"),
)
