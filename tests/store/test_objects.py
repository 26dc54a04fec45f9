"""The local object folder's group commit: blobs are flushed once, before metadata that names them is published."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.errors import StoreError
from vigil.store import objects as objects_module
from vigil.store.history import log
from vigil.store.objects import LocalObjectStore
from vigil.store.store import Store
from vigil.store.workspace import LocalObjects, Workspace, WorkspaceConfig


def durable_store(root: Path) -> Store:
    return Workspace.init(root, WorkspaceConfig(objects=LocalObjects(fsync=True))).store


def test_a_commit_flushes_its_blobs_before_the_branch_moves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = durable_store(tmp_path / "ws")
    store.create_repo("r")
    flushes: list[tuple[int, bool]] = []
    real = objects_module._syncfs

    def spy(folder: Path) -> bool:
        flushes.append((len(log(store, "r")), blob.exists()))
        return real(folder)

    monkeypatch.setattr(objects_module, "_syncfs", spy)
    blob = tmp_path / "unset"
    with store.begin_commit("r", description="one") as c:
        oid = c.put_bytes("/a.bin", b"payload")
        blob = store.objects.local_path(oid) or blob
    assert flushes == [(0, True)]  # flushed once, while the repo still had no commit
    assert len(log(store, "r")) == 1


def test_one_flush_per_commit_however_many_blobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = durable_store(tmp_path / "ws")
    store.create_repo("r")
    calls: list[Path] = []
    monkeypatch.setattr(objects_module, "_syncfs", lambda folder: calls.append(folder) or True)
    with store.begin_commit("r", description="many") as c:
        for i in range(50):
            c.put_bytes(f"/f{i}.bin", f"blob {i}".encode())
    assert len(calls) == 1
    store.objects.sync()  # nothing new since: no second flush
    assert len(calls) == 1


def test_without_syncfs_each_blob_and_folder_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=True)
    synced: list[Path] = []
    monkeypatch.setattr(objects_module, "_syncfs", lambda folder: False)
    monkeypatch.setattr(objects_module, "_fsync_path", synced.append)
    a, b = objects.put_bytes(b"a"), objects.put_bytes(b"b")
    objects.sync()
    expected = {objects.local_path(a), objects.local_path(b), tmp_path / "objects" / a[:2],
                tmp_path / "objects" / b[:2]}
    assert set(synced) == expected


def test_a_failed_flush_is_an_error_and_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=True)
    objects.put_bytes(b"x")

    def broken(folder: Path) -> bool:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(objects_module, "_syncfs", broken)
    with pytest.raises(StoreError, match="cannot flush blobs"):
        objects.sync()
    calls: list[Path] = []
    monkeypatch.setattr(objects_module, "_syncfs", lambda folder: calls.append(folder) or True)
    objects.sync()
    assert calls == [tmp_path / "objects"]  # the blob is still pending after the failure


def test_without_fsync_nothing_is_flushed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    calls: list[Path] = []
    monkeypatch.setattr(objects_module, "_syncfs", lambda folder: calls.append(folder) or True)
    objects.put_bytes(b"x")
    objects.sync()
    assert calls == []


def test_syncfs_really_runs_here(tmp_path: Path) -> None:
    """On Linux the real call succeeds (no fallback, no error)."""
    assert objects_module._syncfs(tmp_path) is True
