"""The same store scenario on every backend: local folder + SQLite, and S3 (moto server) + PostgreSQL.

Both must give identical results (paths, blob ids, histories). PostgreSQL is the machine's server (CI starts it
in .ci/run); each test run gets a fresh database, dropped afterwards. Outside CI a missing server skips.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.shared_data import unavailable
from vigil.errors import NotFoundError, UsageError
from vigil.store import history, integrity
from vigil.store.database import make_engine
from vigil.store.objects import LocalObjectStore
from vigil.store.store import Store

PG_ADMIN = os.environ.get("VIGIL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    name = f"vigil_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # no server: skip locally, fail in CI
        unavailable(f"PostgreSQL not reachable at {PG_ADMIN}: {exc.__class__.__name__}")
    yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server_mod = pytest.importorskip("moto.server")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _s3_pg_store(pg_url: str, endpoint: str) -> Store:
    import boto3

    from vigil.store.s3 import S3ObjectStore

    bucket = f"vigil-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return Store(make_engine(pg_url), S3ObjectStore(bucket, "ws", endpoint_url=endpoint))


@pytest.fixture(params=["local-sqlite", "s3-postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "local-sqlite":
        store = Store(make_engine(f"sqlite:///{tmp_path / 'meta.db'}"), LocalObjectStore(tmp_path / "objects"))
    else:
        store = _s3_pg_store(request.getfixturevalue("pg_url"), request.getfixturevalue("s3_endpoint"))
    yield store
    store.close()


def scenario(store: Store) -> dict[str, Any]:
    """A compact tour of the store API; returns everything observable, for comparison across backends."""
    repo = f"cams{uuid.uuid4().hex[:6]}"
    store.create_repo(repo)
    with store.begin_commit(repo, description="first") as c1:
        c1.put_bytes("/cam1/1.jpg", b"one")
        c1.put_bytes("/cam1/2.jpg", b"two")
        c1.put_bytes("/cam2/1.jpg", b"one")  # same bytes: one blob
    with store.begin_commit(repo, provenance=[(repo, c1.result.id)]) as c2:  # type: ignore[union-attr]
        c2.delete("/cam1")
        c2.put_bytes("/cam2/1.jpg", b"uno")
    store.create_branch(repo, "old", "master^1")
    with store.begin_commit(repo, "old") as c3:
        c3.put_bytes("/cam3/9.jpg", b"nine")
    files = lambda ref: [(f.path, f.oid, f.size) for f in store.list_files(repo, ref)]  # noqa: E731
    with pytest.raises(NotFoundError):
        store.stat(repo, "master", "/cam1/1.jpg")
    with pytest.raises(UsageError, match="/cam2 is a directory"), store.begin_commit(repo) as c4:
        for i in range(9):  # more paths than the smallest probe size, the clash among them
            c4.put_bytes(f"/cam{i}", b"uno")  # a blob already referenced: gc finds nothing new to remove
    return {
        "master": files("master"),
        "master^1": files("master^1"),
        "old": files("old"),
        "old^1": files("old^1"),
        "read": store.read_bytes(repo, "master^1", "/cam1/2.jpg"),
        "diff": [c.to_dict() for c in history.diff(store, repo, "master^1", repo, "master")],
        "log": [(c.n_added, c.n_modified, c.n_deleted) for c in history.log(store, repo, "old")],
        "lineage": len(history.lineage(store, repo, c1.result.id, "down")),  # type: ignore[union-attr]
        "fsck": integrity.fsck(store).problems,
    }


def test_same_results_on_every_backend(any_store: Store, tmp_path: Path) -> None:
    ref_store = Store(make_engine(f"sqlite:///{tmp_path / 'ref.db'}"), LocalObjectStore(tmp_path / "ref-objects"))
    reference = scenario(ref_store)
    ref_store.close()
    assert scenario(any_store) == reference
    assert reference["master"] == [("/cam2/1.jpg", hashlib.sha256(b"uno").hexdigest(), 3)]
    assert [p for p, _, _ in reference["old"]] == ["/cam1/1.jpg", "/cam1/2.jpg", "/cam2/1.jpg", "/cam3/9.jpg"]
    assert reference["log"] == [(1, 0, 0), (3, 0, 0)]


def test_gc_keeps_referenced_blobs(any_store: Store) -> None:
    result = scenario(any_store)
    report = integrity.gc(any_store, grace_seconds=0)
    assert report.removed_objects == 0  # every blob is still referenced by some commit
    assert integrity.fsck(any_store).ok
    assert result["fsck"] == []
