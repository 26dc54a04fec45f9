"""Snapshot polling against a local HTTP camera serving changing JPEGs, and a watched folder cameras write into."""

from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path

from tests.ingest.conftest import FRAME_PATH, SnapshotCamera, frames, wait_for
from vigil.app import App
from vigil.domain.sources import SourceConfig
from vigil.ingest.live import Ingestor, ingestor_for


def run_in_thread(ingestor: Ingestor) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=ingestor.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def blobs(app: App) -> set[str]:
    return {f.oid for f in app.store.list_files("images")} if frames(app) else set()


def test_snapshot_url_is_polled_and_survives_errors(app: App, snapshot_camera: SnapshotCamera) -> None:
    config = SourceConfig(camera="lobby", url=snapshot_camera.url, interval=0.05, group_seconds=0.2,
                          backoff_max=0.2)
    ingestor = ingestor_for(config, app.store, app.committer_for)
    stop, thread = run_in_thread(ingestor)
    try:
        wait_for(lambda: ingestor.stats.committed >= 5, 60, "5 snapshots committed")
        snapshot_camera.fail = 3  # the camera answers 503 three times: counted, backed off, polled again
        wait_for(lambda: ingestor.stats.errors >= 3 and ingestor.stats.committed >= 12, 60,
                 "polling to resume after the errors")
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    stats = ingestor.stats.to_dict()
    assert stats["errors"] == 3 and stats["stalls"] == 1 and stats["reconnects"] >= 1
    assert "503" in (stats["last_error"] or "")
    served = {hashlib.sha256(b).hexdigest() for b in snapshot_camera.served}
    stored = blobs(app)
    assert stored == served  # every picture served was committed, byte for byte, and nothing else
    for path in frames(app):
        match = FRAME_PATH.match(path)
        assert match is not None and match["camera"] == "lobby", path
        assert match["ms"] is not None  # polled faster than once a second: milliseconds in the folder


def test_watched_folder_takes_existing_and_new_files(app: App, tmp_path: Path, car_park: list[bytes]) -> None:
    drop = tmp_path / "ftp" / "cam3"
    drop.mkdir(parents=True)
    (drop / "cam3_1511891000.jpg").write_bytes(car_park[0])  # there before the source starts
    config = SourceConfig(camera="cam3", url=f"folder:{drop}", group_seconds=0.2, remove=True)
    ingestor = ingestor_for(config, app.store, app.committer_for)
    stop, thread = run_in_thread(ingestor)
    try:
        wait_for(lambda: len(frames(app)) == 1, 60, "the existing file")
        (drop / "cam3_1511891001.jpg").write_bytes(car_park[1])  # written in place
        part = drop / "upload.part"
        part.write_bytes(car_park[2])
        part.rename(drop / "cam3_1511891002.jpg")  # uploaded under a temporary name, then renamed
        (drop / "2017" / "11").mkdir(parents=True)
        (drop / "2017" / "11" / "snap.jpg").write_bytes(car_park[3])  # sub-folder, no time in the name
        (drop / "notes.jpg").write_bytes(b"not a picture")  # logged and left alone
        wait_for(lambda: len(frames(app)) == 4, 60, "the new files")
        wait_for(lambda: not (drop / "cam3_1511891002.jpg").exists(), 30, "committed files to be removed")
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    paths = frames(app)
    named = sorted(p for p in paths if "/15118910" in p)
    assert [FRAME_PATH.match(p)["ts"] for p in named[:3]] == ["1511891000", "1511891001", "1511891002"]  # type: ignore[index]
    assert all(FRAME_PATH.match(p) is not None for p in paths)
    assert blobs(app) == {hashlib.sha256(b).hexdigest() for b in car_park[:4]}
    assert ingestor.stats.errors == 1 and "notes.jpg" in (ingestor.stats.last_error or "")
    assert (drop / "notes.jpg").exists()  # not ingested, so not removed
    assert sorted(p.name for p in drop.rglob("*.jpg")) == ["notes.jpg"]


def test_folder_source_copied_tree(app: App, tmp_path: Path, seed_dir: Path) -> None:
    """The 2017 sample images copied in as a camera's FTP upload would be: every one lands, timed by its name."""
    drop = tmp_path / "drop"
    drop.mkdir()
    config = SourceConfig(camera="dev1", url=f"{drop}/", group_frames=3, group_seconds=0.2)
    ingestor = ingestor_for(config, app.store, app.committer_for)
    stop, thread = run_in_thread(ingestor)
    sources = sorted(p for p in seed_dir.rglob("*.jpg"))[:6]
    try:
        for src in sources:
            shutil.copy(src, drop / src.name)
        wait_for(lambda: len(frames(app)) == len(sources), 60, "the copied files")
    finally:
        stop.set()
        thread.join(30)
    assert blobs(app) == {hashlib.sha256(p.read_bytes()).hexdigest() for p in sources}
