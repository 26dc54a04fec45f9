"""A watched folder (watchdog): cameras that FTP (or SMB, or rsync) their pictures into a directory.

Files already there when the source starts are taken first (oldest first: what came while Vigil was down),
then each file as soon as its writer closes it (inotify's close-write; a rename into the folder counts too, as
uploaders that write ``.part`` files and rename them do). Sub-folders are watched as well (cameras that write
``2017/11/28/...``; a new folder is scanned once its watch is added, for files written before). A file that is
not a JPEG or PNG is logged and left alone. Capture time: the file name's
``<camera>_<seconds>`` when it has one, else EXIF ``DateTimeOriginal`` (as UTC), else the file's modification
time. With ``remove`` a file is deleted once its frame is committed (nothing is deleted before).
"""

from __future__ import annotations

import fnmatch
import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from vigil.domain.identity import parse_name
from vigil.errors import NotFoundError, UnsupportedMediaError
from vigil.ingest.frames import exif_time, sniff
from vigil.ingest.sources.base import SourceFrame, SourceStats

log = logging.getLogger(__name__)


class FolderSource:
    kind = "folder"

    def __init__(self, folder: str | Path, *, patterns: Sequence[str] = ("*.jpg", "*.jpeg", "*.png"),
                 remove: bool = False) -> None:
        self.folder = Path(folder)
        self.patterns = tuple(p.lower() for p in patterns)
        self.remove = remove
        self.stats = SourceStats()
        self._queue: queue.Queue[Path] = queue.Queue()
        self._seen: dict[Path, tuple[int, int]] = {}  # path -> (mtime_ns, size) taken, so a repeat event is ignored

    def _wanted(self, path: Path) -> bool:
        return any(fnmatch.fnmatchcase(path.name.lower(), p) for p in self.patterns)

    def frames(self, stop: threading.Event) -> Iterator[SourceFrame]:
        from watchdog.events import (
            DirCreatedEvent,
            DirMovedEvent,
            FileClosedEvent,
            FileMovedEvent,
            FileSystemEvent,
            FileSystemEventHandler,
        )
        from watchdog.observers import Observer

        if not self.folder.is_dir():
            raise NotFoundError(f"no folder {self.folder}", "create it, or give the folder cameras write into")
        files = self._queue

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if isinstance(event, FileMovedEvent):
                    files.put(Path(str(event.dest_path)))
                elif isinstance(event, FileClosedEvent):
                    files.put(Path(str(event.src_path)))
                elif isinstance(event, (DirCreatedEvent, DirMovedEvent)):
                    # files written into a new folder before its watch was added raise no event of their own
                    folder = Path(str(event.dest_path if isinstance(event, DirMovedEvent) else event.src_path))
                    for path in sorted(folder.rglob("*"), key=_mtime):
                        if path.is_file():
                            files.put(path)

        observer = Observer()
        observer.schedule(Handler(), str(self.folder), recursive=True)
        observer.start()  # before the scan: a file closed meanwhile is seen twice, and taken once
        try:
            existing = sorted((p for p in self.folder.rglob("*") if p.is_file()), key=_mtime)
            for path in existing:
                files.put(path)
            self.stats.set_state("streaming")
            while not stop.is_set():
                try:
                    path = files.get(timeout=0.5)
                except queue.Empty:
                    continue
                frame = self._frame(path)
                if frame is not None:
                    yield frame
        finally:
            observer.stop()
            observer.join(5)
            self.stats.set_state("stopped")

    def _frame(self, path: Path) -> SourceFrame | None:
        if not self._wanted(path):
            return None
        try:
            st = path.stat()
            if self._seen.get(path) == (st.st_mtime_ns, st.st_size):
                return None
            data = path.read_bytes()
            ext = sniff(data)
        except FileNotFoundError:
            return None  # gone again (a temporary file)
        except (OSError, UnsupportedMediaError) as exc:
            self.stats.count("errors", f"{path.name}: {exc}")
            log.warning("watched folder: skipping %s: %s", path, exc)
            return None
        self._seen[path] = (st.st_mtime_ns, st.st_size)
        self.stats.frame_in()
        return SourceFrame(_capture_time(path.name, data, st.st_mtime), lambda: (data, ext), name=path.name,
                           done=(lambda: path.unlink(missing_ok=True)) if self.remove else None)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _capture_time(name: str, data: bytes, mtime: float) -> float:
    identity = parse_name(name)
    if identity is not None:
        return float(identity.ts)
    taken = exif_time(data)
    return float(taken) if taken is not None else mtime


__all__ = ["FolderSource"]
