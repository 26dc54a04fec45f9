"""`App.put` and its upload plan (issue 18 item 3, issue 10 item 9): planned once, every local entry either
uploaded or reported, symlinks alike at the top level and inside folders, no empty commits, honest byte counts."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from vigil.app import App, plan_uploads
from vigil.errors import UsageError


@pytest.fixture
def app(tmp_path: Path) -> App:
    app = App.init(tmp_path / "ws")
    app.store.create_repo("images")
    return app


def test_plan_maps_files_folders_and_reports_what_it_skips(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "cam" / "sub").mkdir(parents=True)
    (src / "cam" / "1.jpg").write_bytes(b"1")
    (src / "cam" / "sub" / "2.jpg").write_bytes(b"2")
    (src / "cam" / "gone.jpg").symlink_to(src / "cam" / "nothing.jpg")
    (src / "cam" / "same.jpg").symlink_to(src / "cam" / "1.jpg")
    (src / "cam" / "folder-link").symlink_to(src / "cam" / "sub")
    os.mkfifo(src / "cam" / "pipe")
    (src / "top.jpg").write_bytes(b"t")
    (src / "top-link.jpg").symlink_to(src / "top.jpg")
    (src / "dangling.jpg").symlink_to(src / "none.jpg")
    plan = plan_uploads("/in", [str(src / "cam"), str(src / "top-link.jpg"), str(src / "dangling.jpg")])
    assert [(u.path, Path(u.source or "").name) for u in plan.uploads] == [
        ("/in/cam/1.jpg", "1.jpg"), ("/in/cam/same.jpg", "same.jpg"), ("/in/cam/sub/2.jpg", "2.jpg"),
        ("/in/top-link.jpg", "top-link.jpg")]  # a link keeps its own name, at the top level too
    assert {(Path(s.source).name, s.reason) for s in plan.skipped} == {
        ("folder-link", "a symlink to a folder (not followed)"), ("gone.jpg", "a dangling symlink"),
        ("pipe", "a FIFO, not a regular file"), ("dangling.jpg", "a dangling symlink")}


def test_links_leading_out_are_refused_at_the_top_level_too(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.jpg").write_bytes(b"x")
    for folder in ("inside", "top"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "l.jpg").symlink_to(tmp_path / "data" / "x.jpg")
    with pytest.raises(UsageError, match="links outside"):
        plan_uploads(None, [str(tmp_path / "inside")])
    with pytest.raises(UsageError, match="links outside"):
        plan_uploads(None, [str(tmp_path / "top" / "l.jpg")])


def test_backslash_in_a_name_is_refused(tmp_path: Path) -> None:
    """Before: `a\\b.jpg` became the folder /a with the file b.jpg."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a\\b.jpg").write_bytes(b"x")
    with pytest.raises(UsageError, match="backslash"):
        plan_uploads(None, [str(tmp_path / "d")])


def test_identical_reupload_makes_no_commit_and_new_bytes_are_new(app: App, tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"a" * 1000)
    first = app.put("images", [str(tmp_path / "a.jpg")])
    assert first.changed and first.commit.bytes_added == 1000
    again = app.put("images", [str(tmp_path / "a.jpg")])
    assert not again.changed and again.commit == first.commit  # before: an empty commit
    assert len(app.store.list_branches("images")) == 1 and app.store.head("images") == first.commit
    copy = app.put("images:/copy", [str(tmp_path / "a.jpg")])  # the same bytes under a new path
    assert copy.changed and copy.commit.n_added == 1 and copy.commit.bytes_added == 0  # before: 1000 "new"


def test_put_progress_is_planned_once(app: App, tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"{i}.jpg").write_bytes(bytes([i]))
    calls: list[tuple[int, int]] = []
    app.put("images", [str(tmp_path / f"{i}.jpg") for i in range(5)], progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 5) for i in range(6)]


def test_stdin_size_limit(app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    data = tmp_path / "stdin"
    data.write_bytes(b"z" * 3000)
    monkeypatch.setenv("VIGIL_STDIN_MAX_MB", str(2000 / (1 << 20)))
    with open(data, "rb") as fh:
        monkeypatch.setattr(sys, "stdin", type("In", (), {"buffer": fh})())
        with pytest.raises(UsageError, match=r"stdin for /s\.bin is larger than"):
            app.put("images:/s.bin", ["-"])
    assert app.store.head("images") is None
