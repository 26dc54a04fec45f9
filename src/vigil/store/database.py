"""Engine creation for the metadata database: SQLite (WAL) by default, PostgreSQL for clusters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from vigil.errors import StoreError
from vigil.store import migrations


def make_engine(url: str, *, migrate: bool | None = True) -> Engine:
    """An engine for ``url`` with the schema at the current revision (:mod:`vigil.store.migrations`: upgraded
    when behind, or ``WorkspaceError`` when ``migrate`` is False; None leaves the schema unchecked, for
    ``vigil migrate`` itself). SQLite gets WAL, foreign keys and write locks up front."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 60})
            _configure_sqlite(engine)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        if migrate is not None:
            migrations.ensure_current(engine, migrate=migrate)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open metadata database {redact_url(url)}: {exc.__class__.__name__}: {exc}",
                         "check the `metadata` URL in .vigil/vigil.yaml and that the server is up") from exc
    return engine


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparseable database URL>"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock at BEGIN so two writers never deadlock on a lock upgrade; readers don't.
        write = conn.get_execution_options().get("vigil_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def transaction(engine: Engine, *, write: bool = False) -> Iterator[Connection]:
    """A connection inside one transaction; committed on success, rolled back on any error.

    SQLite waits up to 60 s for a competing writer (busy_timeout) before failing.
    """
    try:
        with engine.connect().execution_options(vigil_write=write) as conn, conn.begin():
            yield conn
    except OperationalError as exc:
        raise StoreError(f"metadata database error: {exc.orig}", "retry; if it persists run `vigil fsck`") from exc
