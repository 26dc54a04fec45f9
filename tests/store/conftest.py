"""Store fixtures. Every store test runs once per backend in ``BACKENDS``.

Today that is the local object folder with SQLite. An S3+PostgreSQL backend is added by writing one more
factory (a ``StoreFactory`` that opens a Store on a fresh bucket prefix and a fresh database) and one more
``pytest.param(..., marks=[pytest.mark.s3, pytest.mark.postgres])`` entry; no test changes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.pg import fresh_database
from vigil.store.database import make_engine
from vigil.store.store import Store
from vigil.store.workspace import LocalObjects, Workspace, WorkspaceConfig

StoreFactory = Callable[[], Store]


def local_sqlite(root: Path) -> StoreFactory:
    """Fresh workspaces below ``root``: objects in a folder (no fsync: tests do not test power loss), SQLite."""
    counter = itertools.count()

    def make() -> Store:
        config = WorkspaceConfig(objects=LocalObjects(fsync=False))
        return Workspace.init(root / f"ws{next(counter)}", config).store

    return make


BACKENDS = [pytest.param(local_sqlite, id="local-sqlite")]


@pytest.fixture(params=BACKENDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Makes a fresh, empty store on the backend under test each time it is called (Hypothesis uses one per
    example)."""
    return request.param(tmp_path / "stores")  # type: ignore[no-any-return]


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    """An empty store on the backend under test."""
    return store_factory()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A metadata database at the current schema: SQLite in a file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'meta.db'}")
        yield eng
        eng.dispose()
        return
    pytest.importorskip("psycopg")
    with fresh_database("vigil_test_store") as url:
        eng = make_engine(url)
        yield eng
        eng.dispose()
