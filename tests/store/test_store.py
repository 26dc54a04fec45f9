"""Repos, branches, commits and reads of the versioned store (vigil.store.store, vigil.store.commit)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.store.builders import commit, listing, object_files, tree
from tests.store.conftest import local_sqlite
from vigil.errors import AlreadyExistsError, AmbiguousRefError, ConflictError, NotFoundError, UsageError
from vigil.store import commit as commit_module
from vigil.store.store import Store


@pytest.fixture
def images(store: Store) -> Store:
    """A repo ``images`` with three commits on master: add a,b,c/d; modify a; delete b."""
    store.create_repo("images", "camera frames")
    commit(store, "images", {"/a.jpg": b"a1", "/b.jpg": b"b1", "/c/d.jpg": b"d1"}, message="first")
    commit(store, "images", {"/a.jpg": b"a2"}, message="second")
    commit(store, "images", {"/b.jpg": None}, message="third")
    return store


# ------------------------------------------------------------------------------------------------- repos
def test_create_list_inspect_delete_repo(store: Store) -> None:
    info = store.create_repo("images", "frames")
    assert (info.name, info.description, info.branches, info.n_commits) == ("images", "frames", ["master"], 0)
    store.create_repo("labels")
    assert [r.name for r in store.list_repos()] == ["images", "labels"]
    assert store.inspect_repo("images").branches == ["master"]
    assert store.head("images") is None
    store.delete_repo("labels")
    assert [r.name for r in store.list_repos()] == ["images"]


@pytest.mark.parametrize(("action", "error", "match"), [
    (lambda s: s.create_repo("images"), AlreadyExistsError, "already exists"),
    (lambda s: s.create_repo("-bad"), UsageError, "invalid repo name"),
    (lambda s: s.create_repo("a/b"), UsageError, "invalid repo name"),
    (lambda s: s.inspect_repo("nope"), NotFoundError, "repo 'nope' does not exist"),
    (lambda s: s.delete_repo("nope"), NotFoundError, "does not exist"),
    (lambda s: s.create_branch("images", "master"), AlreadyExistsError, "already exists"),
    (lambda s: s.create_branch("images", "x y"), UsageError, "invalid branch name"),
    (lambda s: s.create_branch("images", "dev", "nope"), NotFoundError, "no branch or commit"),
    (lambda s: s.create_branch("nope", "dev"), NotFoundError, "repo 'nope'"),
    (lambda s: s.head("images", "nope"), NotFoundError, "branch images@nope does not exist"),
    (lambda s: s.begin_commit("images", "nope").finish(), NotFoundError, "branch images@nope does not exist"),
    (lambda s: s.begin_commit("nope").finish(), NotFoundError, "repo 'nope'"),
])
def test_repo_and_branch_errors(images: Store, action, error: type[Exception], match: str) -> None:
    before = images.list_repos()
    with pytest.raises(error, match=match):
        action(images)
    assert images.list_repos() == before


def test_readers_block_delete_unless_forced(images: Store) -> None:
    images.set_readers("detect", ["images"])
    assert images.inspect_repo("images").readers == ["detect"]
    with pytest.raises(ConflictError, match="read by pipeline"):
        images.delete_repo("images")
    assert images.inspect_repo("images").n_commits == 3
    images.set_readers("detect", [])  # the pipeline stops reading it
    images.set_readers("detect", ["images"])
    images.delete_repo("images", force=True)
    assert images.list_repos() == []


def test_readers_released_allow_delete(images: Store) -> None:
    images.set_readers("detect", ["images"])
    images.set_readers("detect", [])
    images.delete_repo("images")
    with pytest.raises(NotFoundError):
        images.inspect_repo("images")


def test_deleted_repo_name_can_be_reused(images: Store) -> None:
    images.delete_repo("images")
    images.create_repo("images")
    assert images.head("images") is None
    commit(images, "images", {"/z": b"z"})
    assert listing(images, "images").keys() == {"/z"}


# ------------------------------------------------------------------------------------------------ commits
def test_commit_records_metadata(store: Store) -> None:
    store.create_repo("images")
    t0 = time.time()
    first = commit(store, "images", {"/a": b"1", "/b": b""}, message="seed", origin="pipeline:detect")
    second = commit(store, "images", {"/a": b"2", "/b": None, "/c": b"3"})
    assert len(first.id) == 32 and first.id != second.id
    assert (first.parent, second.parent) == (None, first.id)
    assert first.branch == second.branch == "master"
    assert first.description == "seed" and first.origin == "pipeline:detect" and second.origin == "user"
    assert t0 - 1 <= first.created_at <= second.created_at <= time.time() + 1
    assert (first.n_added, first.n_modified, first.n_deleted, first.bytes_added) == (2, 0, 0, 1)
    assert (second.n_added, second.n_modified, second.n_deleted, second.bytes_added) == (1, 1, 1, 2)
    assert store.head("images") == second
    assert store.resolve("images", first.id) == first  # commits are immutable: re-read equals what was returned


def test_reads_at_old_commits(images: Store) -> None:
    assert tree(images, "images") == {"/a.jpg": b"a2", "/c/d.jpg": b"d1"}
    assert tree(images, "images", "master^1") == {"/a.jpg": b"a2", "/b.jpg": b"b1", "/c/d.jpg": b"d1"}
    assert tree(images, "images", "master^2") == {"/a.jpg": b"a1", "/b.jpg": b"b1", "/c/d.jpg": b"d1"}
    assert images.read_bytes("images", "master^2", "/a.jpg") == b"a1"
    with pytest.raises(NotFoundError, match=r"no file /b\.jpg"):
        images.stat("images", "master", "/b.jpg")
    assert images.stat("images", "master^", "/b.jpg").size == 2


def test_unchanged_content_records_no_change(images: Store) -> None:
    again = commit(images, "images", {"/a.jpg": b"a2"})
    assert (again.n_added, again.n_modified, again.n_deleted) == (0, 0, 0)
    assert listing(images, "images") == listing(images, "images", "master^1")


def test_zero_byte_file(store: Store) -> None:
    store.create_repo("r")
    commit(store, "r", {"/empty": b""})
    assert store.stat("r", None, "/empty").size == 0
    assert store.read_bytes("r", None, "/empty") == b""


def test_identical_content_stored_once(store: Store) -> None:
    store.create_repo("r1")
    store.create_repo("r2")
    commit(store, "r1", {"/x": b"same", "/y/z": b"same"})
    commit(store, "r2", {"/w": b"same"})
    assert len(object_files(store)) == 1


@pytest.mark.parametrize(("ref", "expected", "error"), [
    ("master", {"/a.jpg", "/c/d.jpg"}, None),
    ("master^", {"/a.jpg", "/b.jpg", "/c/d.jpg"}, None),
    ("master^0", {"/a.jpg", "/c/d.jpg"}, None),
    ("master^2", {"/a.jpg", "/b.jpg", "/c/d.jpg"}, None),
    ("master^3", None, NotFoundError),
    ("nope", None, NotFoundError),
    ("0000ffff", None, NotFoundError),
    ("zz^1", None, NotFoundError),
])
def test_resolve_refs(images: Store, ref: str, expected: set[str] | None, error: type[Exception] | None) -> None:
    if error is not None:
        with pytest.raises(error):
            images.list_files("images", ref)
        return
    assert set(listing(images, "images", ref)) == expected


def test_commit_id_prefix(images: Store) -> None:
    head = images.head("images")
    assert head is not None
    assert images.resolve("images", head.id[:8]) == head
    assert images.resolve("images", head.id[:8] + "^1").id == head.parent


def test_ambiguous_prefix(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = iter(["abcd" + "0" * 28, "abcd" + "1" * 28, "ffff" + "0" * 28])
    monkeypatch.setattr(commit_module, "uuid", SimpleNamespace(uuid4=lambda: SimpleNamespace(hex=next(ids))))
    store.create_repo("r")
    for i in range(3):
        commit(store, "r", {f"/{i}": b"x"})
    with pytest.raises(AmbiguousRefError, match="matches several commits"):
        store.resolve("r", "abcd")
    assert store.resolve("r", "abcd1").id == "abcd" + "1" * 28
    assert store.resolve("r", "abcd0").id == "abcd" + "0" * 28
    assert isinstance(uuid.uuid4().hex, str)  # the real module is untouched


def test_commit_with_expected_parent(images: Store) -> None:
    head = images.head("images")
    assert head is not None
    with pytest.raises(ConflictError, match="moved"), images.begin_commit("images", parent=head.parent) as c:
        c.put_bytes("/x", b"x")
    assert images.head("images") == head
    with images.begin_commit("images", parent=head.id) as c:
        c.put_bytes("/x", b"x")
    assert c.result is not None and c.result.parent == head.id


def test_failed_commit_leaves_nothing(images: Store) -> None:
    head = images.head("images")
    with pytest.raises(RuntimeError), images.begin_commit("images") as c:
        c.put_bytes("/new", b"new")
        raise RuntimeError("client died")
    assert images.head("images") == head
    assert "/new" not in listing(images, "images")


# ------------------------------------------------------------------------------------------------ deletes
def test_delete_file_and_folder(store: Store) -> None:
    store.create_repo("r")
    commit(store, "r", {"/a": b"1", "/d/x": b"2", "/d/e/y": b"3", "/d.txt": b"4", "/dd/z": b"5"})
    gone = commit(store, "r", {"/d": None, "/a": None})
    assert gone.n_deleted == 3
    assert set(listing(store, "r")) == {"/d.txt", "/dd/z"}  # siblings sharing the prefix survive
    assert set(listing(store, "r", "master^")) == {"/a", "/d/x", "/d/e/y", "/d.txt", "/dd/z"}


@pytest.mark.parametrize("path", ["/missing", "/d/missing", "/d/x/y", "/dd", "/d."])
def test_delete_missing_path_fails_and_commits_nothing(store: Store, path: str) -> None:
    store.create_repo("r")
    first = commit(store, "r", {"/d/x": b"1"})
    with pytest.raises(NotFoundError, match="no such file or directory"):
        commit(store, "r", {"/d/x": b"changed", path: None})
    assert store.head("r") == first
    assert tree(store, "r") == {"/d/x": b"1"}


def test_delete_root_empties_the_repo(store: Store) -> None:
    store.create_repo("r")
    commit(store, "r", {"/d/x": b"1", "/y": b"2"})
    assert commit(store, "r", {"/": None}).n_deleted == 2
    assert tree(store, "r") == {}


def test_delete_folder_and_reput_file_below_in_one_commit(store: Store) -> None:
    store.create_repo("r")
    commit(store, "r", {"/d/x": b"1", "/d/y": b"2"})
    c = commit(store, "r", {"/d": None, "/d/x": b"1"})  # same content put back: it must survive
    assert tree(store, "r") == {"/d/x": b"1"}
    assert (c.n_added, c.n_modified, c.n_deleted) == (0, 0, 1)


# -------------------------------------------------------------------------------------- file/dir clashes
@pytest.mark.parametrize(("existing", "change", "error", "match"), [
    ({"/a": b"1"}, {"/a/b": b"2"}, UsageError, "is a file"),
    ({"/a/b": b"1"}, {"/a": b"2"}, UsageError, "is a directory"),
    ({"/a/b/c": b"1"}, {"/a/b": b"2"}, UsageError, "is a directory"),
    ({"/a/b": b"1"}, {"/a/b/c/d": b"2"}, UsageError, "is a file"),
    ({}, {"/a": b"1", "/a/b": b"2"}, UsageError, "staged as a file and as a directory"),
    ({}, {"/a": b"1", "/a.b/c": b"2", "/a/b": b"3"}, UsageError, "staged as a file and as a directory"),
    ({"/a.b": b"0"}, {"/a": b"1", "/a/b": b"3"}, UsageError, "staged as a file and as a directory"),
    ({}, {"/": b"1"}, UsageError, "repo root"),
    ({}, {"/../x": b"1"}, UsageError, "'..'"),
    ({}, {"/a\x00b": b"1"}, UsageError, "control characters"),
    ({}, {"/bad\udcff": b"1"}, UsageError, "not valid UTF-8"),
])
def test_clashes_and_bad_paths(store: Store, existing: dict[str, bytes], change: dict[str, bytes],
                               error: type[Exception], match: str) -> None:
    store.create_repo("r")
    if existing:
        commit(store, "r", existing)
    before = store.head("r")
    with pytest.raises(error, match=match):
        commit(store, "r", change)
    assert store.head("r") == before


@pytest.mark.parametrize("n", [0, 6, 7, 8, 30, 31, 32, 198, 199, 200, 201, 450])
@pytest.mark.parametrize("prefix", ["/d/a", "/d/z"])  # the clashing path sorts last, or first
def test_new_file_over_a_directory_found_in_any_chunk(store: Store, n: int, prefix: str) -> None:
    """The range probe runs in chunks of padded, cached statement sizes: a clash is found whatever chunk and
    position it falls in, and padding never makes one up."""
    store.create_repo("r")
    commit(store, "r", {"/d/k/x": b"1"})
    before = store.head("r")
    others = {f"{prefix}{i:04d}": b"2" for i in range(n)}
    with pytest.raises(UsageError, match="cannot add /d/k: /d/k is a directory"):
        commit(store, "r", {**others, "/d/k": b"3"})
    assert store.head("r") == before
    commit(store, "r", others)  # the same paths without the clash go in
    assert len(tree(store, "r")) == n + 1


@pytest.mark.parametrize("n", commit_module._RANGE_SIZES)
def test_directory_probe_searches_the_index_for_every_range(tmp_path: Path, n: int) -> None:
    """The probe for files below new paths is one index range search per path on SQLite. (An OR of the ranges
    in one WHERE is planned by SQLite as a scan of every entry of the repo from three ranges on: O(history).)"""
    from sqlalchemy.dialects import sqlite

    store = local_sqlite(tmp_path)()

    params = {"chain_id": 1, **{f"lo{i}": f"/d{i}/" for i in range(n)}, **{f"hi{i}": f"/d{i}0" for i in range(n)}}
    sql = str(commit_module._live_below_any(n).params(**params).compile(
        dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as conn:
        plan = [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
    searches = [step for step in plan if step.startswith(("SEARCH", "SCAN"))]
    assert len(searches) == n
    assert all("USING INDEX ix_entries_live (chain_id=? AND path>? AND path<?)" in step for step in searches), plan


@pytest.mark.parametrize(("existing", "ops", "after"), [
    ({"/a": b"1"}, [("/a", None), ("/a/b", b"2")], {"/a/b": b"2"}),  # a file becomes a folder
    ({"/a/b": b"1", "/a/c": b"1"}, [("/a", None)], {}),
    ({"/a/b": b"1"}, [("/a", None), ("/a/b", b"2")], {"/a/b": b"2"}),
    ({"/a/b": b"1"}, [("/a/b", None), ("/a", b"2")], {"/a": b"2"}),  # a folder becomes a file
    ({"/a/b": b"1", "/a/c": b"1"}, [("/a", None), ("/a", b"2")], {"/a": b"2"}),  # the last staging wins
    ({"/a": b"1"}, [("/a", b"2"), ("/a", None)], {}),
])
def test_replace_file_and_folder_in_one_commit(store: Store, existing: dict[str, bytes],
                                               ops: list[tuple[str, bytes | None]],
                                               after: dict[str, bytes]) -> None:
    store.create_repo("r")
    commit(store, "r", existing)
    with store.begin_commit("r") as c:
        for path, data in ops:
            if data is None:
                c.delete(path)
            else:
                c.put_bytes(path, data)
    assert tree(store, "r") == after


def test_stat_directory_and_missing(images: Store) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        images.stat("images", None, "/c")
    with pytest.raises(UsageError, match="is a directory"):
        images.stat("images", None, "/")
    with pytest.raises(NotFoundError, match="no file /zzz"):
        images.stat("images", None, "/zzz")


def test_list_files_under_prefix(images: Store) -> None:
    commit(images, "images", {"/c.jpg": b"x", "/c/e/f": b"y"})
    assert [f.path for f in images.list_files("images", None, "/c")] == ["/c/d.jpg", "/c/e/f"]
    assert [f.path for f in images.list_files("images", None, "/c.jpg")] == ["/c.jpg"]
    assert images.list_files("images", None, "/nothing") == []


# ---------------------------------------------------------------------------------------------- branches
def test_branch_fork_with_head_and_ancestor(images: Store) -> None:
    old = images.resolve("images", "master^2")
    assert images.create_branch("images", "dev", "master^2") == old.id
    assert tree(images, "images", "dev") == {"/a.jpg": b"a1", "/b.jpg": b"b1", "/c/d.jpg": b"d1"}
    on_dev = commit(images, "images", {"/b.jpg": b"b-dev", "/e": b"e"}, branch="dev")
    assert on_dev.parent == old.id and on_dev.branch == "dev"
    # the branches are independent both ways
    commit(images, "images", {"/a.jpg": b"a3"})
    assert tree(images, "images", "dev") == {"/a.jpg": b"a1", "/b.jpg": b"b-dev", "/c/d.jpg": b"d1", "/e": b"e"}
    assert tree(images, "images") == {"/a.jpg": b"a3", "/c/d.jpg": b"d1"}
    assert tree(images, "images", "dev^1") == tree(images, "images", old.id)
    assert images.inspect_repo("images").branches == ["dev", "master"]
    assert dict(images.list_branches("images"))["dev"] == on_dev.id


def test_fork_of_fork_and_delete_on_fork(images: Store) -> None:
    images.create_branch("images", "dev", "master")
    commit(images, "images", {"/c": None}, branch="dev")
    images.create_branch("images", "dev2", "dev")
    commit(images, "images", {"/c/new": b"n"}, branch="dev2")
    assert set(listing(images, "images", "dev2")) == {"/a.jpg", "/c/new"}
    assert set(listing(images, "images", "dev")) == {"/a.jpg"}
    assert set(listing(images, "images", "master")) == {"/a.jpg", "/c/d.jpg"}


def test_empty_branch(images: Store) -> None:
    assert images.create_branch("images", "empty") is None
    assert images.head("images", "empty") is None
    with pytest.raises(NotFoundError, match="has no commits yet"):
        images.list_files("images", "empty")
    first = commit(images, "images", {"/x": b"x"}, branch="empty")
    assert first.parent is None
    assert tree(images, "images", "empty") == {"/x": b"x"}


# -------------------------------------------------------------------------------------------- provenance
def test_provenance_recorded(images: Store) -> None:
    images.create_repo("detections")
    src = images.head("images")
    assert src is not None
    out = commit(images, "detections", {"/a.json": b"{}"}, provenance=(("images", src.id[:10]),),
                 origin="pipeline:detect")
    assert out.provenance == [f"images@{src.id}"]
    assert images.resolve("detections").provenance == [f"images@{src.id}"]
    with pytest.raises(NotFoundError):
        commit(images, "detections", {"/b": b"x"}, provenance=(("images", "nope"),))
    assert images.inspect_repo("detections").n_commits == 1
