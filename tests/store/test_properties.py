"""Hypothesis properties of the store: round-trips, diff algebra, deduplication, and history replayed
against a plain-dict model."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.store.builders import commit, listing, object_files, tree
from tests.store.conftest import StoreFactory
from vigil.errors import NotFoundError, UsageError
from vigil.store import history
from vigil.store.models import Change
from vigil.store.store import Store

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# A small path universe, so files collide, get modified, deleted, and clash with folders ("/d" vs "/d/x").
PATHS = ["/a", "/b", "/d", "/d/x", "/d/y", "/d/e/f", "/d.txt", "/é ü/ 空 .jpg"]
segment = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"), min_size=1,
                  max_size=8).filter(lambda s: s not in (".", ".."))
any_path = st.lists(segment, min_size=1, max_size=3).map(lambda parts: "/" + "/".join(parts))
content = st.binary(max_size=64)
op = st.tuples(st.sampled_from(PATHS), st.one_of(st.none(), st.sampled_from([b"", b"1", b"2", b"3"])))
commits = st.lists(st.lists(op, min_size=1, max_size=5), min_size=1, max_size=8)


@SETTINGS
@given(files=st.dictionaries(any_path, content, min_size=1, max_size=6))
def test_put_get_round_trip(store_factory: StoreFactory, files: dict[str, bytes]) -> None:
    # Random names can clash as file and folder: keep the ones that do not.
    kept = {p: d for p, d in files.items() if not any(q.startswith(p + "/") for q in files)}
    store = store_factory()
    store.create_repo("r")
    with store.begin_commit("r") as c:
        for path, data in kept.items():
            c.put_stream(path, io.BytesIO(data))
    assert tree(store, "r") == kept
    for path, data in kept.items():
        assert store.stat("r", None, path).size == len(data)


@SETTINGS
@given(paths=st.lists(st.sampled_from(PATHS[:3] + PATHS[4:]), min_size=1, unique=True),
       repos=st.integers(1, 3), data=content)
def test_identical_bytes_stored_once(store_factory: StoreFactory, paths: list[str], repos: int,
                                     data: bytes) -> None:
    store = store_factory()
    paths = [p for p in paths if not any(q.startswith(p + "/") for q in paths)]
    for i in range(repos):
        store.create_repo(f"r{i}")
        commit(store, f"r{i}", dict.fromkeys(paths, data))
    assert len(object_files(store)) == 1


def apply_model(state: dict[str, bytes], ops: list[tuple[str, bytes | None]]) -> dict[str, bytes] | None:
    """The expected tree after one commit of ``ops`` (in order), or None when the store must refuse it."""
    new = dict(state)
    for path, data in ops:
        if data is None:
            # A delete names a file or folder of the parent commit (not one only staged in this commit).
            if not any(p == path or p.startswith(path + "/") for p in state):
                return None
            doomed = [p for p in new if p == path or p.startswith(path + "/")]
            for p in doomed:
                del new[p]
        else:
            new[path] = data
    if any(q.startswith(p + "/") for p in new for q in new):
        return None  # a path is both a file and a folder
    return new


@SETTINGS
@given(history_ops=commits)
def test_history_matches_replayed_model(store_factory: StoreFactory,
                                        history_ops: list[list[tuple[str, bytes | None]]]) -> None:
    store = store_factory()
    store.create_repo("r")
    model: dict[str, bytes] = {}
    snapshots: list[tuple[str, dict[str, bytes]]] = []
    for ops in history_ops:
        expected = apply_model(model, ops)
        head = store.head("r")
        try:
            with store.begin_commit("r") as c:
                for path, data in ops:
                    if data is None:
                        c.delete(path)
                    else:
                        c.put_bytes(path, data)
        except (UsageError, NotFoundError):
            assert expected is None, f"store refused {ops} on {sorted(model)}"
            assert store.head("r") == head
            continue
        assert expected is not None, f"store accepted {ops} on {sorted(model)}"
        assert c.result is not None
        model = expected
        snapshots.append((c.result.id, model))
        assert tree(store, "r") == model
    for commit_id, snapshot in snapshots:  # every historical commit still reads as it was
        assert tree(store, "r", commit_id) == snapshot
        assert tree(store, "r", commit_id[:12]) == snapshot
    if snapshots:
        assert [c.id for c in history.log(store, "r")] == [cid for cid, _ in reversed(snapshots)]


def apply_diff(files: dict[str, str], changes: list[Change]) -> dict[str, str]:
    out = dict(files)
    for ch in changes:
        if ch.kind == "deleted":
            assert out.pop(ch.path) == ch.old_oid
        else:
            assert out.get(ch.path) == ch.old_oid
            assert ch.oid is not None
            out[ch.path] = ch.oid
    return out


def try_commit(store: Store, branch: str, ops: list[tuple[str, bytes | None]]) -> bool:
    """Commit ``ops`` in order; False when the store refuses them (then nothing changed)."""
    try:
        with store.begin_commit("r", branch) as c:
            for path, data in ops:
                if data is None:
                    c.delete(path)
                else:
                    c.put_bytes(path, data)
    except (UsageError, NotFoundError):
        return False
    return True


@SETTINGS
@given(history_ops=commits, fork_at=st.integers(0, 7))
def test_diff_applied_to_a_gives_b(store_factory: StoreFactory, history_ops: list[list[tuple[str, bytes | None]]],
                                   fork_at: int) -> None:
    store = store_factory()
    store.create_repo("r")
    forked = False
    for i, ops in enumerate(history_ops):
        try_commit(store, "dev" if forked and i % 2 else "master", ops)
        if i >= fork_at and not forked and store.head("r") is not None:
            store.create_branch("r", "dev", "master")
            forked = True
    if store.head("r") is None:
        return
    refs = [c.id for c in history.log(store, "r")]
    if forked:
        refs += [c.id for c in history.log(store, "r", "dev")]
    for a in refs:
        for b in refs:
            changes = history.diff(store, "r", a, "r", b)
            assert apply_diff(listing(store, "r", a), changes) == listing(store, "r", b)
            assert [c.path for c in changes] == sorted(c.path for c in changes)
