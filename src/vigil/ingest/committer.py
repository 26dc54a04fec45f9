"""Group commit: frames pushed concurrently share one commit, and each push is answered once it is durable.

Request threads write their blobs to the object store themselves (hashing and writing in parallel) and hand
the staged (path, blob) pairs to the committer. One committer thread per process publishes everything that is
waiting as ONE commit (blobs flushed, then one metadata transaction), then wakes every waiting request with the
commit id. There is no timer: while a commit is being made, new arrivals queue up and go together in the next
one, so an idle server commits a lone frame at once and a busy one commits hundreds at a time (the cost of a
commit is paid per batch, not per frame).

Several API replicas (processes or machines) on one PostgreSQL each run their own committer; their commits to
the images branch are serialised by the store's branch-row lock (``SELECT ... FOR UPDATE`` in the commit), so
a replica's batch simply waits for the other's transaction. Nothing is acknowledged before its commit is in
the database, so killing a replica loses only unacknowledged frames (their blobs are left for ``vigil gc``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from vigil.errors import StoreError, VigilError
from vigil.store.models import CommitInfo
from vigil.store.store import DEFAULT_BRANCH, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Staged:
    """A blob already in the object store, to be published at ``path``."""

    path: str
    oid: str
    size: int


@dataclass(frozen=True)
class Ack:
    """A published frame: its path, blob and the commit that holds it."""

    path: str
    oid: str
    size: int
    commit: str

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "sha256": self.oid, "size": self.size, "commit": self.commit}


_Request = tuple[list[Staged], "Future[list[Ack]]"]


class GroupCommitter:
    """Publishes staged blobs into ``repo@branch``, batching whatever arrives while a commit is under way."""

    def __init__(self, store: Store, repo: str, branch: str = DEFAULT_BRANCH, *, max_batch: int = 1000,
                 on_commit: Callable[[CommitInfo, int], None] | None = None) -> None:
        self.store = store
        self.repo = repo
        self.branch = branch
        self.max_batch = max_batch
        self.on_commit = on_commit
        self._pending: list[_Request] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, items: Sequence[Staged]) -> Future[list[Ack]]:
        """Queue one request's frames; the future resolves (all in one commit) once they are durable, or fails
        with the reason (nothing of this request was published then)."""
        future: Future[list[Ack]] = Future()
        with self._cond:
            if self._closed:
                raise StoreError("the server is shutting down", "retry on another replica or after the restart")
            self._pending.append((list(items), future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=f"vigil-commit-{self.repo}", daemon=True)
                self._thread.start()
            self._cond.notify()
        return future

    def _take(self) -> list[_Request] | None:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                return None
            batch: list[_Request] = []
            n = 0
            while self._pending and (not batch or n + len(self._pending[0][0]) <= self.max_batch):
                request = self._pending.pop(0)
                batch.append(request)
                n += len(request[0])
            return batch

    def _loop(self) -> None:
        while (batch := self._take()) is not None:
            try:
                self._publish(batch)
            except VigilError as exc:
                if len(batch) == 1:
                    _fail(batch[0][1], exc)
                    continue
                log.warning("group commit of %d requests failed (%s); committing them one by one", len(batch), exc)
                for request in batch:
                    try:
                        self._publish([request])
                    except Exception as one:
                        _fail(request[1], one)
            except Exception as exc:  # the database is gone, a bug: every waiting request gets the error
                log.exception("group commit failed")
                for _, future in batch:
                    _fail(future, exc)

    def _publish(self, batch: list[_Request]) -> None:
        n = sum(len(items) for items, _ in batch)
        with self.store.begin_commit(self.repo, self.branch, description=f"{n} frame(s) pushed",
                                     origin="push") as commit:
            for items, _ in batch:
                for item in items:
                    commit.stage_blob(item.path, item.oid, item.size)
        assert commit.result is not None
        if self.on_commit is not None:
            self.on_commit(commit.result, n)
        for items, future in batch:
            if future.set_running_or_notify_cancel():  # False: the client went away (its frames are kept)
                future.set_result([Ack(i.path, i.oid, i.size, commit.result.id) for i in items])

    def close(self, timeout: float = 30.0) -> None:
        """Publish what is queued, then stop; later submits fail."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)


def _fail(future: Future[list[Ack]], exc: BaseException) -> None:
    if future.set_running_or_notify_cancel():
        future.set_exception(exc)


__all__ = ["Ack", "GroupCommitter", "Staged"]
