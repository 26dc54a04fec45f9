"""HTTP camera push, below the web layer: check and time-stamp each frame, store its blob, group-commit it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from vigil.errors import UsageError
from vigil.ingest.committer import Ack, GroupCommitter, Staged
from vigil.ingest.frames import exif_time, frame_path, name_time, sniff
from vigil.store.models import CommitInfo
from vigil.store.store import Store

IMAGES = "images"


@dataclass(frozen=True)
class Upload:
    """One frame as received: its bytes, and the part's file name for multipart uploads."""

    data: bytes
    filename: str | None = None


@dataclass(frozen=True)
class GivenTime:
    """A capture time the request states for all its frames (header or query), and where it came from."""

    ts: int
    source: str


class FramePush:
    """Takes pushed frames for the images repo. Time stamp precedence per frame: the multipart part's file name
    (``<camera>_<seconds>.jpg``), the request's header/query, EXIF ``DateTimeOriginal`` (read as UTC), arrival."""

    def __init__(self, store: Store, repo: str = IMAGES,
                 on_commit: Callable[[CommitInfo, int], None] | None = None) -> None:
        self.store = store
        self.repo = repo
        self.committer = GroupCommitter(store, repo, on_commit=on_commit)
        self._repo_ready = False

    def _ensure_repo(self) -> None:
        if not self._repo_ready:
            self.store.create_repo(self.repo, "camera frames", exist_ok=True)
            self._repo_ready = True

    def push(self, camera: str, uploads: Sequence[Upload], given: GivenTime | None = None) -> Future[list[Ack]]:
        """Store the frames' blobs and queue them for the next commit; the future resolves once committed.
        ``UsageError`` (nothing stored) if any frame is not a JPEG/PNG or no frame was sent."""
        if not uploads:
            raise UsageError("no frame in the request", "send a JPEG/PNG body, or multipart files")
        arrival = int(time.time())
        exts = [sniff(u.data) for u in uploads]  # all checked before any blob is written
        self._ensure_repo()
        staged = []
        for upload, ext in zip(uploads, exts, strict=True):
            ts = _timestamp(upload, given, arrival)
            oid = self.store.objects.put_bytes(upload.data)
            staged.append(Staged(frame_path(camera, ts, oid, ext), oid, len(upload.data)))
        return self.committer.submit(staged)

    def close(self) -> None:
        self.committer.close()


def _timestamp(upload: Upload, given: GivenTime | None, arrival: int) -> int:
    named = name_time(upload.filename)
    if named is not None:
        return named
    if given is not None:
        return given.ts
    taken = exif_time(upload.data)
    return taken if taken is not None else arrival

__all__ = ["IMAGES", "FramePush", "GivenTime", "Upload"]
