"""Commit feeds: derive things from a repo's new commits exactly once (an index, an outbox, a summary).

A consumer (``events-index``, ``alert-outbox``, ...) has a cursor on ``repo@branch``: the commit it has
derived everything up to. :func:`read` returns what changed between the cursor and the branch head (net file
changes, O(changes) through the entries' validity intervals, whatever the history); the consumer writes what it
derives and moves the cursor with :func:`advance` in the SAME transaction. The move is a compare-and-set, so when
several processes consume one feed (N servers on PostgreSQL), exactly one of them commits each batch; the others
get ``ConflictError`` and roll back (so their derived rows must be idempotent or inside that transaction).

When the cursor is not on the head's line of commits (the branch was reset, or the consumer is new) the batch is
a full listing (``rebuilt``): the consumer replaces what it derived before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from vigil.errors import ConflictError
from vigil.store import history
from vigil.store import schema as s
from vigil.store.database import transaction
from vigil.store.models import Change, CommitInfo
from vigil.store.store import DEFAULT_BRANCH, Store


@dataclass(frozen=True)
class FeedBatch:
    """The net changes of ``repo`` from the consumer's cursor (``since``; None = nothing yet) to ``head``."""

    consumer: str
    repo: str
    branch: str
    since: int | None
    head: CommitInfo
    changes: list[Change]
    rebuilt: bool


def cursor(store: Store, consumer: str) -> int | None:
    """The commit seq the consumer has derived everything up to (None before its first batch)."""
    with transaction(store.engine) as conn:
        return _cursor(conn, consumer)


def _cursor(conn: Connection, consumer: str) -> int | None:
    row = conn.execute(select(s.feed_cursors.c.commit_seq).where(s.feed_cursors.c.consumer == consumer)).first()
    return None if row is None else row[0]


def read(store: Store, consumer: str, repo: str, branch: str = DEFAULT_BRANCH) -> FeedBatch | None:
    """Changes since the consumer's cursor, or None when it is up to date (or the branch has no commits)."""
    with transaction(store.engine) as conn:
        head_seq = store.branch_head_seq(conn, repo, branch)
        since = _cursor(conn, consumer)
        if head_seq is None or since == head_seq:
            return None
        head = store.commit_info_at(conn, head_seq)
        changes = None
        if since is not None:
            changes = history.changes_between(store, conn, since, head_seq)
        if changes is None:
            files = store.files_at(conn, head_seq)
            return FeedBatch(consumer, repo, branch, since, head,
                             [Change("added", f.path, f.oid, None, f.size) for f in files], True)
        return FeedBatch(consumer, repo, branch, since, head, changes, False)


def advance(conn: Connection, batch: FeedBatch) -> None:
    """Move the cursor to ``batch.head`` inside the caller's write transaction; ``ConflictError`` if another
    process moved it first (roll back: that process derived this batch)."""
    c = s.feed_cursors.c
    values = {"repo": batch.repo, "branch": batch.branch, "commit_seq": batch.head.seq, "updated_at": time.time()}
    if batch.since is None and not _cursor_row_exists(conn, batch.consumer):
        try:
            conn.execute(insert(s.feed_cursors).values(consumer=batch.consumer, **values))
        except IntegrityError as exc:  # another process created the cursor first
            raise ConflictError(f"feed {batch.consumer!r} was advanced by another process",
                                "nothing to do: that process derived this batch") from exc
        return
    cond = c.commit_seq.is_(None) if batch.since is None else c.commit_seq == batch.since
    done = conn.execute(update(s.feed_cursors).where(c.consumer == batch.consumer, cond).values(**values))
    if done.rowcount != 1:
        raise ConflictError(f"feed {batch.consumer!r} was advanced by another process",
                            "nothing to do: that process derived this batch")


def _cursor_row_exists(conn: Connection, consumer: str) -> bool:
    return conn.execute(select(s.feed_cursors.c.consumer).where(
        s.feed_cursors.c.consumer == consumer).with_for_update()).first() is not None


def reset(store: Store, consumer: str) -> None:
    """Forget the cursor: the next :func:`read` is a full listing (a rebuild)."""
    with transaction(store.engine, write=True) as conn:
        conn.execute(update(s.feed_cursors).where(s.feed_cursors.c.consumer == consumer).values(commit_seq=None))


__all__ = ["FeedBatch", "advance", "cursor", "read", "reset"]
