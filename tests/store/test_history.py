"""History queries (vigil.store.history): log across forks, per-commit changes, diff, lineage."""

from __future__ import annotations

import pytest

from tests.store.builders import commit
from vigil.errors import NotFoundError
from vigil.store import history
from vigil.store.models import Change
from vigil.store.store import Store


@pytest.fixture
def forked(store: Store) -> Store:
    """master: m1 -> m2 -> m3; dev forks at m2 and adds d1 -> d2."""
    store.create_repo("r")
    commit(store, "r", {"/a": b"1", "/b": b"1"}, message="m1")
    commit(store, "r", {"/a": b"2"}, message="m2")
    store.create_branch("r", "dev", "master")
    commit(store, "r", {"/b": None}, message="m3")
    commit(store, "r", {"/c": b"1"}, branch="dev", message="d1")
    commit(store, "r", {"/a": b"3", "/c": None, "/d/e": b"1"}, branch="dev", message="d2")
    return store


def messages(store: Store, ref: str | None, limit: int | None = None) -> list[str]:
    return [c.description for c in history.log(store, "r", ref, limit)]


@pytest.mark.parametrize(("ref", "limit", "expected"), [
    ("master", None, ["m3", "m2", "m1"]),
    (None, None, ["m3", "m2", "m1"]),
    ("dev", None, ["d2", "d1", "m2", "m1"]),
    ("dev", 3, ["d2", "d1", "m2"]),
    ("dev", 1, ["d2"]),
    ("dev^1", None, ["d1", "m2", "m1"]),
    ("dev^2", None, ["m2", "m1"]),
    ("master^1", 1, ["m2"]),
])
def test_log_follows_parents_across_a_fork(forked: Store, ref: str | None, limit: int | None,
                                           expected: list[str]) -> None:
    assert messages(forked, ref, limit) == expected


def test_log_parent_links_and_empty_branch(forked: Store) -> None:
    commits = history.log(forked, "r", "dev")
    assert [c.parent for c in commits] == [c.id for c in commits[1:]] + [None]
    assert [c.branch for c in commits] == ["dev", "dev", "master", "master"]
    forked.create_branch("r", "empty")
    assert history.log(forked, "r", "empty") == []
    with pytest.raises(NotFoundError):
        history.log(forked, "r", "nope")


def test_changes_of_each_commit(forked: Store) -> None:
    kinds = [(c.kind, c.path) for c in history.changes(forked, "r", "dev")]
    assert kinds == [("modified", "/a"), ("deleted", "/c"), ("added", "/d/e")]
    assert [(c.kind, c.path) for c in history.changes(forked, "r", "master")] == [("deleted", "/b")]
    first = history.changes(forked, "r", "master^2")
    assert [(c.kind, c.path, c.old_oid) for c in first] == [("added", "/a", None), ("added", "/b", None)]


def test_diff_between_branches_and_commits(forked: Store) -> None:
    out = history.diff(forked, "r", "master", "r", "dev")
    assert [(c.kind, c.path) for c in out] == [("modified", "/a"), ("added", "/b"), ("added", "/d/e")]
    back = history.diff(forked, "r", "dev", "r", "master")
    assert [(c.kind, c.path) for c in back] == [("modified", "/a"), ("deleted", "/b"), ("deleted", "/d/e")]
    assert history.diff(forked, "r", "dev", "r", "dev") == []
    assert [c.path for c in history.diff(forked, "r", "master^2", "r", "dev", prefix="/d")] == ["/d/e"]


def test_diff_across_repos(forked: Store) -> None:
    forked.create_repo("other")
    commit(forked, "other", {"/a": b"2", "/z": b"z"})
    out = history.diff(forked, "r", "master", "other", "master")
    assert [(c.kind, c.path) for c in out] == [("added", "/z")]


def test_change_records_oids(forked: Store) -> None:
    a1 = forked.stat("r", "master^2", "/a").oid
    a2 = forked.stat("r", "master", "/a").oid
    assert history.diff(forked, "r", "master^2", "r", "master^1") == [Change("modified", "/a", a2, a1, 1)]


@pytest.fixture
def pipeline_chain(store: Store) -> Store:
    """images -> detections -> alerts, plus labels -> detections (two sources)."""
    for name in ("images", "labels", "detections", "alerts", "unrelated"):
        store.create_repo(name)
    img = commit(store, "images", {"/1.jpg": b"jpg"})
    lab = commit(store, "labels", {"/l.json": b"{}"})
    det = commit(store, "detections", {"/1.json": b"[]"}, origin="pipeline:detect",
                 provenance=(("images", img.id), ("labels", lab.id)))
    commit(store, "alerts", {"/1.json": b"alert"}, origin="pipeline:alert", provenance=(("detections", det.id),))
    commit(store, "unrelated", {"/u": b"u"})
    return store


def test_lineage_upstream_and_downstream(pipeline_chain: Store) -> None:
    s = pipeline_chain
    ids = {r: s.resolve(r).id for r in ("images", "labels", "detections", "alerts")}
    up = history.lineage(s, "alerts", None, "up")
    assert [(n.repo, n.depth) for n in up] == [("alerts", 0), ("detections", 1), ("images", 2), ("labels", 2)]
    assert up[0].links == [f"detections@{ids['detections']}"]
    assert up[1].links == [f"images@{ids['images']}", f"labels@{ids['labels']}"]
    down = history.lineage(s, "images", None, "down")
    assert [(n.repo, n.depth, n.origin) for n in down] == [
        ("images", 0, "user"), ("detections", 1, "pipeline:detect"), ("alerts", 2, "pipeline:alert")]
    assert [n.repo for n in history.lineage(s, "detections", None, "down")] == ["detections", "alerts"]
    assert [n.repo for n in history.lineage(s, "unrelated", None, "up")] == ["unrelated"]
    assert [n.repo for n in history.lineage(s, "alerts", None, "up", max_depth=1)] == ["alerts", "detections"]


def test_lineage_of_new_commit_is_per_commit(pipeline_chain: Store) -> None:
    commit(pipeline_chain, "images", {"/2.jpg": b"new"})
    assert [n.repo for n in history.lineage(pipeline_chain, "images", None, "down")] == ["images"]
    assert len(history.lineage(pipeline_chain, "images", "master^1", "down")) == 3
