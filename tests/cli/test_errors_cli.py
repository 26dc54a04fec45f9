"""Environment failures (issue 10 item 6) are one-line user errors with their own exit codes, never "internal
error" (rc 70); secrets never reach a message. Real failures: a full tmpfs, /dev/full, a read-only mount, an
over-long name, a PostgreSQL port nobody listens on."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console import MISSING, VIGIL
from tests.shared_data import unavailable
from vigil.app import App
from vigil.errors import (
    DatabaseUnavailableError,
    DiskFullError,
    NameTooLongError,
    PermissionDeniedError,
    RedactingFilter,
    redact,
)

pytestmark = pytest.mark.skipif(MISSING, reason="the `vigil` console script is not installed")


def vigil(*args: str, cwd: Path | None = None, stdout: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "VIGIL_WORKSPACE"}
    return subprocess.run([str(VIGIL), *args], env=env, cwd=cwd, stdout=stdout or subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def assert_one_line(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == code, proc.stderr
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), proc.stderr
    assert all(w in lines[0] for w in words), proc.stderr


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[callable]:  # type: ignore[valid-type]
    mounted: list[Path] = []

    def make(name: str, options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], capture_output=True)
        if done.returncode != 0:
            unavailable(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield make
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_disk_full_while_writing_blobs(tmp_path: Path, mount) -> None:  # type: ignore[no-untyped-def]
    small = mount("small", "size=2m")
    App.init(small / "ws").store.create_repo("images")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    proc = vigil("-w", str(small / "ws"), "put", "images", str(big))
    assert_one_line(proc, DiskFullError.exit_code, "no space left")
    assert App.open(small / "ws").store.head("images") is None  # nothing committed


def test_disk_full_on_stdout() -> None:
    ws_out = Path("/dev/full")
    if not ws_out.exists():
        unavailable("/dev/full is missing")
    with open(ws_out, "w") as full:
        proc = vigil("--version", stdout=full.fileno())
    assert_one_line(proc, DiskFullError.exit_code, "no space left")


def test_read_only_output_folder(tmp_path: Path, mount) -> None:  # type: ignore[no-untyped-def]
    ro = mount("ro", "ro,size=1m")
    app = App.init(tmp_path / "ws")
    app.store.create_repo("images")
    (tmp_path / "a.jpg").write_bytes(b"a")
    app.put("images", [str(tmp_path / "a.jpg")])
    proc = vigil("-w", str(tmp_path / "ws"), "get", "images:/a.jpg", "-o", str(ro / "a.jpg"))
    assert_one_line(proc, PermissionDeniedError.exit_code, "permission denied", str(ro))


def test_name_too_long(tmp_path: Path) -> None:
    App.init(tmp_path / "ws").store.create_repo("images")
    proc = vigil("-w", str(tmp_path / "ws"), "put", "images", str(tmp_path / ("x" * 300 + ".jpg")))
    assert_one_line(proc, NameTooLongError.exit_code, "file name too long")


def test_dead_database_names_no_password(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ws = tmp_path / "ws" / ".vigil"
    ws.mkdir(parents=True)
    (ws / "vigil.yaml").write_text(
        f"version: 1\nmetadata: postgresql+psycopg://vigil:hunter2secret@127.0.0.1:{port}/vigil_cli_dead\n")
    proc = vigil("-w", str(tmp_path / "ws"), "repo", "list")
    if "No module named 'psycopg'" in proc.stderr:
        unavailable("psycopg is not installed (the postgres extra)")
    assert_one_line(proc, DatabaseUnavailableError.exit_code)
    assert "hunter2secret" not in proc.stderr and "vigil:***@127.0.0.1" in proc.stderr
    debug = vigil("-w", str(tmp_path / "ws"), "--debug", "repo", "list")
    assert "hunter2secret" not in debug.stderr.split("Traceback")[0]


@pytest.mark.parametrize(("text", "clean"), [
    ("postgresql+psycopg://u:p%40ss@db:5432/x", "postgresql+psycopg://u:***@db:5432/x"),
    ("https://user:tok@host/path ok", "https://user:***@host/path ok"),
    ("host=db password=s3cret user=u", "host=db password=*** user=u"),
    ("Authorization: Bearer abcdefghijkl", "Authorization: Bearer ***"),
    ("sqlite:////tmp/x.db and http://host:8000/m", "sqlite:////tmp/x.db and http://host:8000/m"),
])
def test_redact(text: str, clean: str) -> None:
    assert redact(text) == clean == redact(clean)


def test_log_records_are_redacted() -> None:
    import logging

    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "connecting to %s", ("postgresql://a:b@h/d",),
                               None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "connecting to postgresql://a:***@h/d"
