"""Fresh PostgreSQL databases for tests, on the machine's server (``.ci/run`` starts it; CI=true fails without).

``fresh_database()`` creates ``vigil_test_<random>`` and drops it afterwards; ``VIGIL_TEST_PG`` overrides the
admin URL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tests.shared_data import unavailable

PG_ADMIN = os.environ.get("VIGIL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@contextmanager
def fresh_database(prefix: str = "vigil_test") -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty database; dropped (connections forced out) on exit."""
    import sqlalchemy

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # no server: skip locally, fail in CI
        admin.dispose()
        unavailable(f"PostgreSQL not reachable at {PG_ADMIN}: {exc.__class__.__name__}")
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
