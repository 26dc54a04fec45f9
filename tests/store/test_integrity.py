"""fsck and gc (vigil.store.integrity)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from tests.store.builders import commit, object_files, tree
from vigil.store import integrity
from vigil.store.store import Store

HOUR = 3600.0


def blob_path(store: Store, data: bytes) -> Path:
    path = store.objects.local_path(hashlib.sha256(data).hexdigest())
    assert path is not None, "these tests damage blob files: the store fixture must be a local object store"
    return path


def age(path: Path, seconds: float) -> None:
    """Make a blob look ``seconds`` old (gc's grace period is measured on the modification time)."""
    t = time.time() - seconds
    os.utime(path, (t, t))


@pytest.fixture
def filled(store: Store) -> Store:
    store.create_repo("r")
    commit(store, "r", {"/a": b"alpha", "/b": b"beta", "/empty": b""})
    commit(store, "r", {"/a": b"alpha-2"})
    return store


def test_fsck_clean(filled: Store) -> None:
    report = integrity.fsck(filled)
    assert report.ok and report.problems == []
    assert report.objects_checked == 4  # alpha, beta, empty, alpha-2: old versions are checked too
    assert report.bytes_checked == len(b"alphabetaalpha-2")
    assert report.to_dict()["ok"] is True


@pytest.mark.parametrize(("damage", "problem"), [
    ("corrupt", "is corrupt"),
    ("truncate", "is corrupt"),
    ("missing", "missing from the object store"),
])
def test_fsck_detects_damaged_blobs(filled: Store, damage: str, problem: str) -> None:
    path = blob_path(filled, b"beta")
    path.chmod(0o644)
    if damage == "corrupt":
        path.write_bytes(b"BETA")
    elif damage == "truncate":
        path.write_bytes(b"be")
    else:
        path.unlink()
    report = integrity.fsck(filled)
    assert not report.ok
    assert len(report.problems) == 1
    assert problem in report.problems[0] and hashlib.sha256(b"beta").hexdigest() in report.problems[0]


def test_fsck_detects_damage_in_old_commit_only(filled: Store) -> None:
    blob_path(filled, b"alpha").unlink()  # only master^1 needs it
    report = integrity.fsck(filled)
    assert [p for p in report.problems if "missing" in p] == report.problems and len(report.problems) == 1


def test_gc_keeps_referenced_and_young_removes_old_unreferenced(filled: Store) -> None:
    objects = filled.objects
    referenced = set(object_files(filled))
    orphan_old = objects.put_bytes(b"orphan-old")  # as left by a crashed or abandoned put
    orphan_young = objects.put_bytes(b"orphan-young")
    for data in (b"alpha", b"beta", b"", b"alpha-2", b"orphan-old"):
        age(blob_path(filled, data), 2 * HOUR)
    report = integrity.gc(filled, grace_seconds=HOUR)
    assert report.removed_objects == 1 and not objects.exists(orphan_old)
    assert objects.exists(orphan_young)
    assert set(object_files(filled)) == referenced | {orphan_young}
    assert report.kept_objects == len(referenced) + 1
    assert integrity.fsck(filled).ok
    assert tree(filled, "r", "master^1")["/a"] == b"alpha"  # old commits keep their blobs


def test_gc_frees_blobs_of_deleted_repo_but_not_shared_ones(filled: Store) -> None:
    filled.create_repo("other")
    commit(filled, "other", {"/x": b"beta", "/y": b"only-other"})
    filled.delete_repo("other")
    for oid in object_files(filled):
        path = filled.objects.local_path(oid)
        assert path is not None
        age(path, 2 * HOUR)
    report = integrity.gc(filled, grace_seconds=HOUR)
    assert report.removed_objects == 1
    assert report.removed_bytes == len(b"only-other")
    assert tree(filled, "r")["/b"] == b"beta"
    assert integrity.fsck(filled).ok


def test_gc_removes_old_temporaries(filled: Store) -> None:
    probe = filled.objects.local_path("0" * 64)
    assert probe is not None, "this test needs a local object store (it ages files in its tmp folder)"
    tmp_dir = probe.parent.parent / "tmp"
    old, young = tmp_dir / "up-old", tmp_dir / "up-young"
    old.write_bytes(b"partial")
    young.write_bytes(b"in flight")
    age(old, 2 * HOUR)
    assert integrity.gc(filled, grace_seconds=HOUR).removed_temporaries == 1
    assert not old.exists() and young.exists()


def test_gc_zero_grace_is_safe_for_live_data(filled: Store) -> None:
    filled.objects.put_bytes(b"garbage")
    report = integrity.gc(filled, grace_seconds=0)
    assert report.removed_objects == 1
    assert integrity.fsck(filled).ok
    assert integrity.gc(filled, grace_seconds=0).removed_objects == 0
