"""Commit feeds: net changes since a consumer's cursor, exactly-once advance, rebuilds."""

from __future__ import annotations

import pytest

from vigil.errors import ConflictError
from vigil.store import feeds
from vigil.store.database import transaction
from vigil.store.store import Store


def _put(store: Store, files: dict[str, bytes], deletes: tuple[str, ...] = ()) -> None:
    with store.begin_commit("events") as c:
        for path in deletes:
            c.delete(path)
        for path, data in files.items():
            c.put_bytes(path, data)


def _consume(store: Store, consumer: str = "idx") -> feeds.FeedBatch | None:
    batch = feeds.read(store, consumer, "events")
    if batch is not None:
        with transaction(store.engine, write=True) as conn:
            feeds.advance(conn, batch)
    return batch


def test_a_new_consumer_gets_everything_then_only_net_changes(store: Store) -> None:
    store.create_repo("events")
    assert feeds.read(store, "idx", "events") is None  # no commits yet
    _put(store, {"/a.json": b"1", "/b.json": b"2"})
    first = _consume(store)
    assert first is not None and first.rebuilt and [c.path for c in first.changes] == ["/a.json", "/b.json"]
    assert _consume(store) is None
    _put(store, {"/c.json": b"3", "/a.json": b"1b"})
    _put(store, {"/d.json": b"4"}, deletes=("/b.json",))
    _put(store, {"/tmp.json": b"x"})
    _put(store, {}, deletes=("/tmp.json",))  # added and deleted since the cursor: no net change
    batch = _consume(store)
    assert batch is not None and not batch.rebuilt
    assert [(c.kind, c.path) for c in batch.changes] == [
        ("modified", "/a.json"), ("deleted", "/b.json"), ("added", "/c.json"), ("added", "/d.json")]


def test_two_processes_deriving_the_same_batch_commit_it_once(store: Store) -> None:
    store.create_repo("events")
    _put(store, {"/a.json": b"1"})
    a, b = feeds.read(store, "idx", "events"), feeds.read(store, "idx", "events")
    assert a is not None and b is not None
    with transaction(store.engine, write=True) as conn:
        feeds.advance(conn, a)
    with pytest.raises(ConflictError), transaction(store.engine, write=True) as conn:
        feeds.advance(conn, b)
    _put(store, {"/b.json": b"2"})
    a, b = feeds.read(store, "idx", "events"), feeds.read(store, "idx", "events")
    assert a is not None and b is not None and a.since is not None
    with transaction(store.engine, write=True) as conn:
        feeds.advance(conn, b)
    with pytest.raises(ConflictError), transaction(store.engine, write=True) as conn:
        feeds.advance(conn, a)


def test_reset_gives_a_full_listing(store: Store) -> None:
    store.create_repo("events")
    _put(store, {"/a.json": b"1"})
    _consume(store)
    _put(store, {"/b.json": b"2"})
    feeds.reset(store, "idx")
    batch = _consume(store)
    assert batch is not None and batch.rebuilt and [c.path for c in batch.changes] == ["/a.json", "/b.json"]
