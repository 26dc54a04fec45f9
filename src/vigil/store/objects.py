"""Content-addressed blob storage.

Blobs are keyed by the hex sha256 of their bytes ("oid") and laid out as ``oid[:2]/oid[2:]`` (as DVC's ObjectDB).
Writes stream through a hasher into a temporary file beside the target and are published with an atomic rename,
so a reader never sees a partial blob and a crash leaves at most a stray temporary file (removed by ``gc``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from vigil.errors import IntegrityError, NotFoundError, StoreError

CHUNK = 1 << 20
EMPTY_OID = hashlib.sha256(b"").hexdigest()


class ObjectStore(Protocol):
    """Where blob bytes live. Implementations: :class:`LocalObjectStore`, ``vigil.store.s3.S3ObjectStore``."""

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        """Store everything read from ``stream``; return (oid, size). Idempotent for identical content."""
        ...

    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; return its oid."""
        ...

    def open(self, oid: str) -> BinaryIO:
        """A readable binary stream of the blob; ``NotFoundError`` if absent."""
        ...

    def exists(self, oid: str) -> bool: ...

    def delete(self, oid: str) -> None: ...

    def iter_oids(self) -> Iterator[tuple[str, float]]:
        """Every stored oid with its modification time (seconds since the epoch)."""
        ...

    def local_path(self, oid: str) -> Path | None:
        """A filesystem path of the blob when the store is local (zero-copy reads), else None."""
        ...

    def clean_temporaries(self, older_than: float) -> int:
        """Remove abandoned temporary uploads last touched before ``older_than``; return how many."""
        ...


def check_oid(oid: str) -> str:
    if len(oid) != 64 or any(c not in "0123456789abcdef" for c in oid):
        raise IntegrityError(f"malformed object id {oid!r}", "object ids are 64 lowercase hex digits (sha256)")
    return oid


class LocalObjectStore:
    """Blobs in a local folder: ``root/ab/cdef...``; temporary uploads in ``root/tmp``."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self._tmp = self.root / "tmp"
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create object folder {self.root}: {exc}", "check permissions") from exc

    def _path(self, oid: str) -> Path:
        return self.root / oid[:2] / oid[2:]

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="up-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                if self.fsync:
                    out.flush()
                    os.fsync(out.fileno())
            oid = digest.hexdigest()
            self._publish(Path(tmp_name), oid)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return oid, size

    def put_bytes(self, data: bytes) -> str:
        oid = hashlib.sha256(data).hexdigest()
        if self._path(oid).exists():
            os.utime(self._path(oid))  # as in _publish: a concurrent gc's grace period must protect it
            return oid
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp, prefix="up-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                if self.fsync:
                    out.flush()
                    os.fsync(out.fileno())
            self._publish(Path(tmp_name), oid)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return oid

    def _publish(self, tmp: Path, oid: str) -> None:
        target = self._path(oid)
        if target.exists():  # deduplicated: the same bytes are already stored
            tmp.unlink()
            os.utime(target)  # refresh mtime so a concurrent gc's grace period protects it
            return
        target.parent.mkdir(exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)

    def open(self, oid: str) -> BinaryIO:
        try:
            return open(self._path(check_oid(oid)), "rb")
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"object {oid[:12]} is missing from {self.root}", "run `vigil fsck` to find damaged commits"
            ) from exc

    def exists(self, oid: str) -> bool:
        return self._path(oid).exists()

    def delete(self, oid: str) -> None:
        self._path(check_oid(oid)).unlink(missing_ok=True)

    def iter_oids(self) -> Iterator[tuple[str, float]]:
        for sub in sorted(self.root.iterdir()):
            if len(sub.name) != 2 or not sub.is_dir():
                continue
            for entry in os.scandir(sub):
                yield sub.name + entry.name, entry.stat().st_mtime

    def local_path(self, oid: str) -> Path | None:
        return self._path(oid)

    def clean_temporaries(self, older_than: float) -> int:
        removed = 0
        for entry in os.scandir(self._tmp):
            if entry.stat().st_mtime < older_than:
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
        return removed
