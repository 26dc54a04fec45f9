"""Verify on read (issue 10 item 3): every blob read is checked against its sha256 while streaming; damage is
an error naming repo, path and commit; fsck names every file that uses a damaged blob, ``--repair`` removes it
and a re-put of the original bytes heals the store. Local folder + SQLite, and S3 (moto server) + SQLite."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.store.builders import commit
from tests.store.test_backends import s3_endpoint  # noqa: F401 - the module's moto server fixture
from vigil.errors import CorruptBlobError
from vigil.store import integrity
from vigil.store.database import make_engine
from vigil.store.objects import CHUNK, LocalObjectStore
from vigil.store.store import Store

FRAME = bytes(range(256)) * 8192  # 2 MiB: a chunked read takes several chunks
OTHER = b"another frame"
Damage = Callable[[Store, str, bytes], None]  # (store, oid, new stored bytes)


def _damage_local(store: Store, oid: str, data: bytes) -> None:
    path = store.objects.local_path(oid)
    assert path is not None
    path.chmod(0o644)
    path.write_bytes(data)


def _damage_s3(store: Store, oid: str, data: bytes) -> None:
    objects = store.objects
    objects.client.put_object(Bucket=objects.bucket, Key=objects._key(oid), Body=data)  # type: ignore[attr-defined]


@pytest.fixture(params=["local-sqlite", "s3-sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Damage]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'meta.db'}")
    if request.param == "local-sqlite":
        store, damage = Store(engine, LocalObjectStore(tmp_path / "objects", fsync=False)), _damage_local
    else:
        import boto3

        from vigil.store.s3 import S3ObjectStore

        endpoint = request.getfixturevalue("s3_endpoint")
        bucket = f"vigil-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        store, damage = Store(engine, S3ObjectStore(bucket, "ws", endpoint_url=endpoint)), _damage_s3
    yield store, damage
    store.close()


def flip(data: bytes) -> bytes:
    return data[:1000] + bytes([data[1000] ^ 0x01]) + data[1001:]


DAMAGES = [pytest.param(flip, id="bit-flip"), pytest.param(lambda d: d[: len(d) // 2], id="truncate")]


def _filled(store: Store) -> tuple[str, str]:
    store.create_repo("images")
    first = commit(store, "images", {"/cam1/1.jpg": FRAME, "/cam1/2.jpg": OTHER})
    commit(store, "images", {"/cam2/1.jpg": FRAME})  # the same blob under a second path
    return hashlib.sha256(FRAME).hexdigest(), first.id


@pytest.mark.parametrize("mangle", DAMAGES)
def test_damaged_blob_is_never_returned_and_names_the_file(backend: tuple[Store, Damage],
                                                           mangle: Callable[[bytes], bytes]) -> None:
    store, damage = backend
    oid, first = _filled(store)
    assert store.read_bytes("images", None, "/cam1/1.jpg") == FRAME  # intact: read as before
    damage(store, oid, mangle(FRAME))
    with pytest.raises(CorruptBlobError) as caught:
        store.read_bytes("images", first, "/cam1/1.jpg")
    error = caught.value
    assert (error.repo, error.path, error.commit, error.oid) == ("images", "/cam1/1.jpg", first, oid)
    assert f"images:/cam1/1.jpg at commit {first}" in error.message and oid in error.message
    assert "vigil fsck --repair" in (error.hint or "") and error.exit_code == 21
    # chunked (streaming) reads: the error comes instead of the chunk that completes the damaged blob
    got = b""
    with pytest.raises(CorruptBlobError), store.open("images", None, "/cam2/1.jpg") as fh:
        while chunk := fh.read(CHUNK // 4):
            got += chunk
    assert len(got) < len(FRAME)
    assert store.read_bytes("images", None, "/cam1/2.jpg") == OTHER  # other blobs unaffected


@pytest.mark.parametrize("mangle", DAMAGES)
def test_fsck_names_every_file_then_repair_and_reput_heal(backend: tuple[Store, Damage],
                                                          mangle: Callable[[bytes], bytes]) -> None:
    store, damage = backend
    oid, first = _filled(store)
    damage(store, oid, mangle(FRAME))
    report = integrity.fsck(store)
    assert not report.ok and [d.oid for d in report.damaged] == [oid]
    refs = {(r.repo, r.branch, r.path, r.commit, r.until) for r in report.damaged[0].references}
    second = store.head("images")
    assert second is not None
    assert refs == {("images", "master", "/cam1/1.jpg", first, None),
                    ("images", "master", "/cam2/1.jpg", second.id, None)}
    assert "images@master:/cam1/1.jpg" in report.problems[0] and "is corrupt" in report.problems[0]

    repaired = integrity.fsck(store, repair=True)
    assert repaired.damaged[0].removed and not store.objects.exists(oid)
    with pytest.raises(CorruptBlobError, match="missing from the object store"):
        store.read_bytes("images", None, "/cam1/1.jpg")
    assert "missing" in integrity.fsck(store).problems[0]

    store.create_repo("uploads")
    commit(store, "uploads", {"/again.jpg": FRAME})  # the original bytes, anywhere: the store is healed
    assert integrity.fsck(store).ok
    assert store.read_bytes("images", first, "/cam1/1.jpg") == FRAME
    assert store.read_bytes("images", None, "/cam2/1.jpg") == FRAME


def test_reput_heals_a_truncated_blob_even_without_repair(backend: tuple[Store, Damage]) -> None:
    store, damage = backend
    oid, _ = _filled(store)
    damage(store, oid, FRAME[:100])
    commit(store, "images", {"/cam3/1.jpg": FRAME})  # dedup sees a stored copy of the wrong size: rewrites it
    assert integrity.fsck(store).ok


def test_reads_by_blob_id_are_verified_too(backend: tuple[Store, Damage]) -> None:
    store, damage = backend
    oid, _ = _filled(store)
    damage(store, oid, flip(FRAME))
    with pytest.raises(CorruptBlobError, match=f"blob {oid} is damaged"), store.objects.open(oid) as fh:
        fh.read()
