"""A derived index kept up to date from one repo's commit feed, as a runner duty (see ``vigil.app.Duty``).

Each pass reads the net changes since the index's cursor, reads the changed records (outside any lock), then
applies them and advances the cursor in ONE write transaction: the index is always exactly the derivation of
some commit of the repo, and when several servers run the duty, one of them wins each batch (the others get
``ConflictError`` from the cursor's compare-and-set and drop theirs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from vigil.errors import ConflictError, NotFoundError
from vigil.store import feeds
from vigil.store.database import transaction
from vigil.store.feeds import FeedBatch
from vigil.store.store import Store

log = logging.getLogger(__name__)

Prepare = Callable[[Store, FeedBatch], Any]
Apply = Callable[[Connection, Store, FeedBatch, Any], int]


class FeedIndex:
    """Index ``name`` derived from ``repo@master``: ``prepare`` reads what the batch needs, ``apply`` writes it
    (inside the transaction that advances the cursor) and returns how many records it derived."""

    def __init__(self, store: Store, name: str, repo: str, prepare: Prepare, apply: Apply) -> None:
        self.store = store
        self.name = name
        self.repo = repo
        self._prepare = prepare
        self._apply = apply

    def run_once(self) -> int:
        """Index what is new; 0 when up to date or the repo does not exist (yet), else at least 1."""
        indexed = self._index()
        return 0 if indexed is None else max(indexed, 1)

    def _index(self) -> int | None:
        """Records derived from the new batch, or None when there was none (or another process took it)."""
        try:
            batch = feeds.read(self.store, self.name, self.repo)
        except NotFoundError:
            return 0
        if batch is None:
            return None
        prepared = self._prepare(self.store, batch)
        try:
            with transaction(self.store.engine, write=True) as conn:
                done = self._apply(conn, self.store, batch, prepared)
                feeds.advance(conn, batch)
        except ConflictError:
            log.debug("%s: another process indexed %s@%s first", self.name, self.repo, batch.head.id)
            return None
        log.info("%s: indexed %d record(s) up to %s@%s%s", self.name, done, self.repo, batch.head.id[:12],
                  " (rebuilt)" if batch.rebuilt else "")
        return done

    def rebuild(self) -> int:
        """Forget the cursor and derive the index from the whole repo again; returns the records derived."""
        feeds.reset(self.store, self.name)
        return self._index() or 0


__all__ = ["FeedIndex"]
