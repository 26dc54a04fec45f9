"""Schema migrations of the metadata database (Alembic), run by Vigil itself.

Opening a workspace checks the schema revision with one cheap query; only when it is behind is Alembic imported
and the missing revisions applied, in ONE transaction that first takes the database's migration lock
(PostgreSQL: a transaction-scoped advisory lock; SQLite: the write lock of ``BEGIN IMMEDIATE``), so several
processes opening one workspace at once migrate it exactly once. A workspace made before migrations existed
(Vigil 0.1: a ``vigil_meta`` table, no ``alembic_version``) is upgraded from the baseline revision, which only
creates what it lacks.

``vigil_meta.schema`` mirrors the revision as an integer: Vigil 0.1 refuses to open a database whose number is
above its own, so an old binary never writes into a newer schema.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

from vigil.errors import WorkspaceError

log = logging.getLogger(__name__)

# The newest revision in versions/ (a test checks that it is Alembic's head). Kept here so that the common case,
# an up-to-date database, is checked without importing Alembic.
HEAD = "0005"
FOLDER = Path(__file__).resolve().parent
_LOCK_KEY = 0x5649_4749_4C  # "VIGIL": the PostgreSQL advisory lock that serialises migrations


def current_revision(conn: Connection) -> str | None:
    """The database's revision; None for an empty database or one made before migrations existed."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def is_legacy(conn: Connection) -> bool:
    """True for a database made by Vigil 0.1 (tables, but no revision yet)."""
    return current_revision(conn) is None and inspect(conn).has_table("vigil_meta")


def known_revisions() -> list[str]:
    """Every revision id shipped with this Vigil, oldest first."""
    from alembic.script import ScriptDirectory  # imported only when the schema is not current

    return [str(r.revision) for r in reversed(list(ScriptDirectory(str(FOLDER)).walk_revisions()))]


def ensure_current(engine: Engine, *, migrate: bool = True) -> None:
    """Bring the schema to :data:`HEAD` (``migrate``) or fail saying how (``migrate=False``).

    ``WorkspaceError`` when the database is newer than this Vigil, or behind and ``migrate`` is off.
    """
    with engine.connect() as conn:
        revision = current_revision(conn)
    if revision == HEAD:
        return
    if revision is not None and revision not in known_revisions():
        raise WorkspaceError(f"the metadata database is at schema revision {revision}, newer than this Vigil "
                             f"understands ({HEAD})", "upgrade Vigil")
    if not migrate:
        raise WorkspaceError(f"the metadata database is at schema revision {revision or 'none'}; this Vigil "
                             f"needs {HEAD}", "run `vigil migrate` (back up .vigil/ or the database first)")
    upgrade(engine)


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply every missing revision in one locked transaction; returns (revision before, revision after)."""
    from alembic import command
    from alembic.config import Config

    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        if sqlite:  # table rebuilds (batch migrations) must not cascade deletes; the pragma is per connection
            conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            with conn.execution_options(vigil_write=True).begin():
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
                before = current_revision(conn)  # read under the lock: another process may have just migrated
                existing = before is not None or is_legacy(conn)
                if before != HEAD:
                    config = Config()
                    config.set_main_option("script_location", str(FOLDER))
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
                    _stamp(conn)
                    if existing:
                        log.warning("metadata schema upgraded from %s to %s", before or "0.1", HEAD)
        finally:
            if sqlite:
                conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    return before, HEAD


def _stamp(conn: Connection) -> None:
    conn.execute(text("DELETE FROM vigil_meta WHERE key = 'schema'"))
    conn.execute(text("INSERT INTO vigil_meta (key, value) VALUES ('schema', :v)"), {"v": str(int(HEAD))})


__all__ = ["HEAD", "current_revision", "ensure_current", "is_legacy", "known_revisions", "upgrade"]
