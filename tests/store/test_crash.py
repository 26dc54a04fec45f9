"""Crash safety: a `vigil put` killed with SIGKILL at any moment leaves the whole commit or nothing, and a
clean fsck. The kill moments are drawn across the whole run (startup, uploads, the metadata transaction)."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.console import MISSING, VIGIL
from vigil.store import integrity
from vigil.store.store import Store
from vigil.store.workspace import Workspace

pytestmark = pytest.mark.skipif(MISSING, reason="the `vigil` console script is not installed")

N_FILES = 150
KILLS = 8


def put_command(ws: Path, target: str, *sources: Path) -> list[str]:
    return [str(VIGIL), "--workspace", str(ws), "put", target, *map(str, sources), "-m", "crash test"]


def make_batch(folder: Path, rng: random.Random, tag: int) -> dict[str, bytes]:
    """N_FILES small files in ``folder``; returns {repo path: bytes} as `vigil put REPO folder` stores them."""
    folder.mkdir(parents=True)
    files = {}
    for i in range(N_FILES):
        data = f"{tag}-{i}-".encode() + rng.randbytes(rng.randint(0, 8000))
        (folder / f"f{i:04}.bin").write_bytes(data)
        files[f"/{folder.name}/f{i:04}.bin"] = data
    return files


def open_store(ws: Path) -> Store:
    return Workspace.open(ws).store  # a fresh connection, as the next command after the crash would open


def snapshot(store: Store) -> tuple[str | None, dict[str, str]]:
    head = store.head("r")
    files = {f.path: f.oid for f in store.list_files("r")} if head else {}
    return (head.id if head else None), files


def check_after_kill(ws: Path, before: tuple[str | None, dict[str, str]], batch: dict[str, bytes]) -> bool:
    """Assert all-or-nothing and a clean fsck; returns whether the commit landed."""
    store = open_store(ws)
    head, files = snapshot(store)
    report = integrity.fsck(store)
    assert report.ok, report.problems
    if head == before[0]:
        assert files == before[1]
        return False
    commit = store.resolve("r")
    assert commit.parent == before[0]
    assert commit.n_added == len(batch)
    assert files.keys() == before[1].keys() | batch.keys()
    for path, data in batch.items():
        assert store.read_bytes("r", None, path) == data
    return True


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    Workspace.init(ws).store.create_repo("r")  # default config: fsync on, as users run it
    return ws


def test_sigkill_during_put_of_many_files(workspace: Path, tmp_path: Path) -> None:
    rng = random.Random(1511891255)
    # One uninterrupted run measures how long a put takes, so kill moments cover all of it.
    first = make_batch(tmp_path / "b0", rng, 0)
    start = time.perf_counter()
    subprocess.run(put_command(workspace, "r", tmp_path / "b0"), check=True, capture_output=True)
    duration = time.perf_counter() - start
    assert check_after_kill(workspace, (None, {}), first)
    outcomes = []
    for k in range(1, KILLS + 1):
        batch = make_batch(tmp_path / f"b{k}", rng, k)
        before = snapshot(open_store(workspace))
        proc = subprocess.Popen(put_command(workspace, "r", tmp_path / f"b{k}"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.0, duration * 1.1))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        outcomes.append(check_after_kill(workspace, before, batch))
    # The garbage a killed put leaves (blobs, temporaries) is collectable without harming live data.
    integrity.gc(open_store(workspace), grace_seconds=0)
    assert integrity.fsck(open_store(workspace)).ok
    head, files = snapshot(open_store(workspace))
    assert head is not None and len(files) == N_FILES * (1 + sum(outcomes))


def test_sigkill_during_large_file(workspace: Path, tmp_path: Path) -> None:
    rng = random.Random(7)
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        for _ in range(64):
            fh.write(rng.randbytes(1 << 20))
    oid = hashlib.sha256(big.read_bytes()).hexdigest()
    open_store(workspace).create_repo("probe")
    start = time.perf_counter()
    subprocess.run(put_command(workspace, "probe", big), check=True, capture_output=True)
    duration = time.perf_counter() - start
    open_store(workspace).delete_repo("probe")
    before = snapshot(open_store(workspace))
    for _ in range(3):
        proc = subprocess.Popen(put_command(workspace, "r:/big", big),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(duration * 0.2, duration * 0.9))  # mid-upload
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        store = open_store(workspace)
        head, files = snapshot(store)
        assert integrity.fsck(store).ok
        assert (head, files) == before or files == {"/big/big.bin": oid}
    integrity.gc(open_store(workspace), grace_seconds=0)
    tmp_dir = workspace / ".vigil" / "objects" / "tmp"
    assert list(tmp_dir.iterdir()) == []  # partial uploads were cleaned
