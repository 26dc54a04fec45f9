"""Content-addressed blob storage.

Blobs are keyed by the hex sha256 of their bytes ("oid") and laid out as ``oid[:2]/oid[2:]`` (as DVC's ObjectDB).
Writes stream through a hasher into a temporary file beside the target and are published with an atomic rename,
so a reader never sees a partial blob and a crash leaves at most a stray temporary file (removed by ``gc``).

Reads are verified: :meth:`ObjectStore.open` returns a :class:`VerifiedReader`, which hashes the chunks as the
caller reads them (no second pass) and raises :class:`~vigil.errors.CorruptBlobError` at the end of the blob when
the bytes are not those of its id.

Durability is a group commit: a write does not wait for the disk. :meth:`ObjectStore.sync` makes every blob
written so far durable, and the store calls it before publishing any metadata that references them (a commit,
or a job's staged results). One ``syncfs`` per commit instead of one ``fsync`` per blob keeps workers computing
instead of waiting on the disk.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import itertools
import logging
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from vigil.errors import CorruptBlobError, IntegrityError, NotFoundError, StoreError

log = logging.getLogger(__name__)

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
        """A readable binary stream of the blob (a :class:`VerifiedReader`); ``NotFoundError`` if absent."""
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

    def sync(self) -> None:
        """Make every blob written (or found already stored) by this store so far durable. Call it before
        publishing metadata that references them; a no-op where writes are durable when they return."""
        ...


class VerifiedReader(io.BufferedIOBase):
    """A blob's byte stream that hashes what it yields. At the end of the blob it raises
    :class:`CorruptBlobError` when the bytes hash to another id (bit rot, truncation): a whole read (``read()``)
    returns no bad bytes at all; chunked reads get the error instead of the completing chunk when the size is
    known, else instead of the end-of-stream ``b""`` (so write to a temporary file and publish it only after
    the end was read). Reads of part of a blob are not checked.

    ``expected_size`` (when the caller knows it) names a truncation as such; ``where`` is (repo, path, commit) of
    the file being read, for the error message."""

    def __init__(self, raw: BinaryIO, oid: str) -> None:
        super().__init__()
        self._raw = raw
        self.oid = oid
        self._digest: Any = hashlib.sha256()
        self._size = 0
        self.expected_size: int | None = None
        self.where: tuple[str | None, str, str | None] | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size == 0:
            return b""
        whole = size is None or size < 0
        data = self._raw.read() if size is None or size < 0 else self._raw.read(size)
        if self._digest is not None:
            self._digest.update(data)
            self._size += len(data)
            # The end is known by the size when the caller gave it: the chunk completing a damaged blob is never
            # returned. Otherwise the read that finds the end of the stream raises.
            if whole or not data or (self.expected_size is not None and self._size >= self.expected_size):
                self._check()
        return data

    read1 = read

    def _check(self) -> None:
        actual, self._digest = self._digest.hexdigest(), None
        if actual == self.oid:
            return
        if self.expected_size is not None and self._size != self.expected_size:
            detail = f"{self._size} of its {self.expected_size} bytes are left (truncated)"
        else:
            detail = f"its {self._size} bytes hash to {actual[:12]}, not to its id"
        error = CorruptBlobError(self.oid, detail)
        raise error.within(*self.where) if self.where else error

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def verified(raw: BinaryIO, oid: str) -> BinaryIO:
    """``raw`` (the stored bytes of ``oid``) as a :class:`VerifiedReader`."""
    return cast(BinaryIO, VerifiedReader(raw, oid))


def describe(stream: BinaryIO, repo: str | None, path: str, commit: str | None, size: int | None = None) -> BinaryIO:
    """Name the file a verified blob stream belongs to, so a damaged blob is reported by repo/path/commit."""
    if isinstance(stream, VerifiedReader):
        stream.where = (repo, path, commit)
        stream.expected_size = size
    return stream


def open_verified(objects: ObjectStore, oid: str, repo: str | None, path: str, commit: str | None,
                  size: int | None = None) -> BinaryIO:
    """``objects.open(oid)`` for the file ``repo:path`` at ``commit``: damage (bad bytes, or no blob at all) is
    reported as ``CorruptBlobError`` naming that file."""
    try:
        stream = objects.open(oid)
    except NotFoundError as exc:
        raise CorruptBlobError(oid, "it is missing from the object store", repo=repo, path=path,
                               commit=commit) from exc
    return describe(stream, repo, path, commit, size)


def check_oid(oid: str) -> str:
    if len(oid) != 64 or any(c not in "0123456789abcdef" for c in oid):
        raise IntegrityError(f"malformed object id {oid!r}", "object ids are 64 lowercase hex digits (sha256)")
    return oid


class LocalObjectStore:
    """Blobs in a local folder: ``root/ab/cdef...``; temporary uploads in ``root/tmp``.

    ``fsync``: :meth:`sync` flushes written blobs to disk (one ``syncfs`` of the filesystem on Linux, else an
    ``fsync`` per blob and folder). Without it, blobs survive a crash of the process but not of the machine.
    """

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self._tmp = self.root / "tmp"
        self._shards: set[str] = set()  # oid[:2] folders known to exist
        self._unsynced: set[str] = set()  # oids written since the last sync
        self._lock = threading.Lock()
        self._names = itertools.count()
        self._instance = os.urandom(4).hex()  # temporary names stay unique across hosts sharing the folder
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create object folder {self.root}: {exc}", "check permissions") from exc

    def _path(self, oid: str) -> Path:
        return self.root / oid[:2] / oid[2:]

    def _temporary(self) -> tuple[int, str]:
        """A new exclusive temporary file (cheaper than ``tempfile``: no random names, no retries)."""
        name = str(self._tmp / f"up-{self._instance}-{os.getpid()}-{threading.get_ident()}-{next(self._names)}")
        return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), name

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = self._temporary()
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            oid = digest.hexdigest()
            self._publish(tmp_name, oid, size)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return oid, size

    def put_bytes(self, data: bytes) -> str:
        oid = hashlib.sha256(data).hexdigest()
        target = self._path(oid)
        if _stored_size(target) == len(data):
            os.utime(target)  # as in _publish: a concurrent gc's grace period must protect it
            self._written(oid)
            return oid
        fd, tmp_name = self._temporary()
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            self._publish(tmp_name, oid, len(data))
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return oid

    def _publish(self, tmp: str, oid: str, size: int) -> None:
        target = self._path(oid)
        # Deduplicated when the same bytes are already stored. A stored copy of another size is damaged
        # (truncated): the new bytes replace it, so a re-put heals it (fsck --repair removes bit-flipped ones).
        if _stored_size(target) == size:
            os.unlink(tmp)
            os.utime(target)  # refresh mtime so a concurrent gc's grace period protects it
        else:
            if oid[:2] not in self._shards:
                target.parent.mkdir(exist_ok=True)
                self._shards.add(oid[:2])
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        self._written(oid)

    def _written(self, oid: str) -> None:
        if self.fsync:
            with self._lock:
                self._unsynced.add(oid)

    def adopt(self, oids: Iterable[str]) -> None:
        """Blobs another process wrote into this folder (a worker container): the next :meth:`sync` makes them
        durable with this store's own, in the same one flush."""
        for oid in oids:
            self._written(check_oid(oid))

    def sync(self) -> None:
        with self._lock:
            pending, self._unsynced = self._unsynced, set()
        if not pending:
            return
        try:
            if not _syncfs(self.root):
                for oid in sorted(pending):
                    _fsync_path(self._path(oid))
                for shard in sorted({oid[:2] for oid in pending}):
                    _fsync_path(self.root / shard)  # the renames into the folder
        except OSError as exc:
            with self._lock:
                self._unsynced |= pending  # still not durable: the next sync retries them
            raise StoreError(f"cannot flush blobs to disk in {self.root}: {exc}",
                             "check the disk (space, errors in dmesg) and retry") from exc

    def open(self, oid: str) -> BinaryIO:
        try:
            return verified(open(self._path(check_oid(oid)), "rb"), oid)
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


def _stored_size(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return None


def _fsync_path(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:  # deleted since (gc): nothing left to make durable
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _syncfs(folder: Path) -> bool:
    """Flush the whole filesystem holding ``folder`` (Linux ``syncfs``); False where that is unavailable."""
    fn = getattr(_LIBC, "syncfs", None)
    if fn is None:
        return False
    fd = os.open(folder, os.O_RDONLY)
    try:
        if fn(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)
    return True
