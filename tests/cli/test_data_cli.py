"""The data commands through the real `vigil` console script (subprocesses): seed images end to end, JSON
outputs, and every bad input giving one error line, a hint, the right exit code and nothing committed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.console import MISSING, VIGIL
from tests.shared_data import unavailable
from vigil.app import App
from vigil.store import commit as commit_module
from vigil.store import integrity
from vigil.store.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
SEED = next((p / "data" / "seed" for p in (REPO / "shared", REPO.parent / "shared") if (p / "data").is_dir()),
            REPO / "shared" / "data" / "seed")
pytestmark = pytest.mark.skipif(MISSING, reason="the `vigil` console script is not installed")

EXIT = {"usage": 2, "not_found": 3, "exists": 4, "conflict": 5, "workspace": 6, "integrity": 7}


def run(ws: Path, *args: str, cwd: Path | None = None, stdin: bytes | None = None,
        check: bool = True) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "VIGIL_WORKSPACE"}
    proc = subprocess.run([str(VIGIL), *args], cwd=cwd or ws, env=env, input=stdin, capture_output=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"vigil {' '.join(args)} exited {proc.returncode}: {proc.stderr.decode()}")
    return proc


def js(ws: Path, *args: str) -> object:
    return json.loads(run(ws, *args, "--json").stdout)


@pytest.fixture(scope="module")
def seed() -> list[Path]:
    images = sorted(SEED.glob("*.jpg"))
    if not images:
        unavailable(f"no seed images in {SEED}")
    return images


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace with a repo `images` holding one commit of a.jpg and sub/b.jpg (the setup goes through the
    Python API to keep the suite fast; `init`, `repo create` and `put` are covered end to end below)."""
    root = tmp_path / "ws"
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "a.jpg").write_bytes(b"A")
    (tmp_path / "src" / "sub" / "b.jpg").write_bytes(b"B")
    app = App.init(root)
    app.store.create_repo("images")
    app.put("images", [str(tmp_path / "src" / "a.jpg"), str(tmp_path / "src" / "sub")], "first")
    return root


def test_seed_images_end_to_end(tmp_path: Path, seed: list[Path]) -> None:
    ws = tmp_path / "ws"
    run(tmp_path, "init", str(ws))
    run(ws, "repo", "create", "images", "-d", "seed frames")
    put = js(ws, "put", "images:/cam", *map(str, seed), "-m", "seed")
    assert put["n_added"] == len(seed) and put["description"] == "seed"  # type: ignore[index]
    listing = {f["path"]: f for f in js(ws, "ls", "images")}  # type: ignore[union-attr]
    assert set(listing) == {f"/cam/{p.name}" for p in seed}
    # blah.jpg and dev1_1511891255.jpg are byte-identical: one blob
    assert listing["/cam/blah.jpg"]["oid"] == listing["/cam/dev1_1511891255.jpg"]["oid"]
    objects = [p for p in (ws / ".vigil" / "objects").glob("??/*")]
    assert len(objects) == len(seed) - 1
    assert [f["path"] for f in js(ws, "ls", "images:/cam/dev4_*")] == [  # type: ignore[union-attr]
        "/cam/dev4_1511891463.jpg", "/cam/dev4_1511891512.jpg"]
    # get: to a file and to stdout
    out = tmp_path / "out.jpg"
    run(ws, "get", "images@master:/cam/dev2_1511891326.jpg", "-o", str(out))
    assert out.read_bytes() == (SEED / "dev2_1511891326.jpg").read_bytes()
    assert run(ws, "get", "images:/cam/blah.jpg").stdout == (SEED / "blah.jpg").read_bytes()
    # a second commit: remove one, then diff/log/inspect
    run(ws, "rm", "images:/cam/blah.jpg", "-m", "drop duplicate")
    changes = js(ws, "diff", "images@master^1", "images@master")
    assert [(c["kind"], c["path"]) for c in changes] == [("deleted", "/cam/blah.jpg")]  # type: ignore[union-attr]
    log = js(ws, "log", "images")
    assert [c["description"] for c in log] == ["drop duplicate", "seed"]  # type: ignore[union-attr]
    inspect = js(ws, "inspect", f"images@{log[1]['id'][:8]}")  # type: ignore[index]
    assert inspect["id"] == log[1]["id"] and len(inspect["changes"]) == len(seed)  # type: ignore[index]
    text = run(ws, "inspect", "images@master").stdout.decode()
    assert log[0]["id"] in text and "/cam/blah.jpg" in text  # type: ignore[index]
    assert "/cam/blah.jpg" in run(ws, "diff", "images@master^1", "images@master").stdout.decode()
    # the old commit still reads
    assert run(ws, "get", "images@master^1:/cam/blah.jpg").stdout == (SEED / "blah.jpg").read_bytes()
    # lineage: a derived commit made through the API (pipelines record provenance), read back both ways
    store = Workspace.open(ws).store
    store.create_repo("detections")
    with store.begin_commit("detections", origin="pipeline:detect",
                            provenance=[("images", log[0]["id"])]) as c:  # type: ignore[index]
        c.put_bytes("/cam/dev2_1511891326.json", b"[]")
    down = js(ws, "lineage", "images@master")
    assert [n["repo"] for n in down["downstream"]] == ["images", "detections"]  # type: ignore[index]
    up = js(ws, "lineage", "detections@master:/cam/dev2_1511891326.json")
    assert up["file"]["path"] == "/cam/dev2_1511891326.json"  # type: ignore[index]
    assert [n["repo"] for n in up["upstream"]] == ["detections", "images"]  # type: ignore[index]
    text = run(ws, "lineage", "detections@master").stdout.decode()
    assert f"images@{log[0]['id']}" in text  # type: ignore[index]
    # listings
    assert {r["name"] for r in js(ws, "repo", "list")} == {"images", "detections"}  # type: ignore[union-attr]
    assert js(ws, "repo", "inspect", "images")["n_commits"] == 2  # type: ignore[index]
    assert js(ws, "fsck")["ok"] is True  # type: ignore[index]
    assert js(ws, "gc", "--grace", "0")["removed_objects"] == 0  # type: ignore[index]


def test_branch_stdin_and_workspace_discovery(ws: Path, tmp_path: Path) -> None:
    run(ws, "branch", "create", "images@dev", "--head", "master")
    run(ws, "put", "images@dev:/c/c.txt", "-", stdin=b"from stdin")
    run(ws, "put", "images@dev:/z.txt", "-", stdin=b"")  # a zero-byte file
    # found walking up from a subfolder; and by --workspace from anywhere
    deep = ws / "x" / "y"
    deep.mkdir(parents=True)
    assert run(ws, "get", "images@dev:/c/c.txt", cwd=deep).stdout == b"from stdin"
    assert run(ws, "--workspace", str(ws), "get", "images@dev:/z.txt", cwd=tmp_path).stdout == b""
    assert "/c/c.txt" not in run(ws, "ls", "images").stdout.decode()
    assert json.loads(run(ws, "branch", "list", "images", "--json").stdout).keys() == {"dev", "master"}


def non_utf8_file(tmp_path: Path) -> str:
    name = os.fsencode(tmp_path) + b"/bad-\xff.jpg"
    os.close(os.open(name, os.O_CREAT | os.O_WRONLY, 0o644))
    return os.fsdecode(name)


def bad_dir(tmp_path: Path) -> str:
    folder = tmp_path / "withbad"
    folder.mkdir()
    os.close(os.open(os.fsencode(folder) + b"/x\xfe.jpg", os.O_CREAT | os.O_WRONLY, 0o644))
    (folder / "ok.jpg").write_bytes(b"ok")
    return str(folder)


# (args, with {a} = a good local file, {bad} = a non-UTF-8 file, {badd} = a folder holding one; exit; message)
BAD_INPUTS = [
    (["put", "images:/../x", "{a}"], "usage", "contains '..'"),
    (["put", "images:/x/../../y", "{a}"], "usage", "contains '..'"),
    (["put", "nope", "{a}"], "not_found", "repo 'nope' does not exist"),
    (["put", "images@nope", "{a}"], "not_found", "branch images@nope does not exist"),
    (["put", "images", "{tmp}/missing.jpg"], "not_found", "no such file or folder"),
    (["put", "images", "{tmp}/no[/]such[bold].jpg"], "not_found", "no[/]such[bold].jpg"),
    (["put", "images", "{bad}"], "usage", "not valid UTF-8"),
    (["put", "images", "{badd}"], "usage", "not valid UTF-8"),
    (["put", "images", "-"], "usage", "reading stdin needs a file path"),
    (["put", "images:/a.jpg", "{a}"], "usage", "is a file"),  # lands at /a.jpg/a.jpg: below a file
    (["put", "images:/sub", "-"], "usage", "is a directory"),  # a file where a folder is
    (["put", "bad name", "{a}"], "usage", "invalid repo name"),
    (["get", "images@master:/sub"], "usage", "is a directory"),
    (["get", "images@master:/a.jpg", "-o", "{tmp}"], "usage", "is a directory"),
    (["get", "images@master:/zz.jpg"], "not_found", "no file /zz.jpg"),
    (["get", "images@deadbeef:/a.jpg"], "not_found", "no branch or commit 'deadbeef'"),
    (["get", "images@master^5:/a.jpg"], "not_found", "goes past the first commit"),
    (["get", "images@master"], "usage", "get needs a file path"),
    (["ls", "nope"], "not_found", "repo 'nope' does not exist"),
    (["ls", "images@"], "usage", "empty ref"),
    (["rm", "images:/nothing"], "not_found", "no such file or directory"),
    (["rm", "images:/"], "usage", "path below the root"),
    (["rm", "images:/a.jpg", "other:/b"], "usage", "one repo and branch"),
    (["diff", "images@master", "images@nope"], "not_found", "no branch or commit"),
    (["log", "nope"], "not_found", "does not exist"),
    (["inspect", "images@ffff0000"], "not_found", "no branch or commit"),
    (["lineage", "images@master:/nothing"], "not_found", "no file /nothing"),
    (["repo", "create", "images"], "exists", "already exists"),
    (["branch", "create", "images@master"], "exists", "already exists"),
    (["branch", "create", "images@dev", "--head", "nope"], "not_found", "no branch or commit"),
    (["init", "."], "exists", "already a Vigil workspace"),
]


@pytest.mark.parametrize(("args", "kind", "message"), BAD_INPUTS, ids=[" ".join(a[0:2]) + f" [{m}]"
                                                                       for a, _, m in BAD_INPUTS])
def test_bad_input_is_one_line_error_and_commits_nothing(ws: Path, tmp_path: Path, args: list[str], kind: str,
                                                         message: str) -> None:
    before = Workspace.open(ws).store
    head, objects = before.head("images"), sorted((ws / ".vigil" / "objects").glob("??/*"))
    subs = {"{a}": str(tmp_path / "src" / "a.jpg"), "{tmp}": str(tmp_path)}
    argv = []
    for arg in args:
        if arg == "{bad}":
            arg = non_utf8_file(tmp_path)
        elif arg == "{badd}":
            arg = bad_dir(tmp_path)
        for key, value in subs.items():
            arg = arg.replace(key, value)
        argv.append(arg)
    proc = run(ws, *argv, check=False, stdin=b"data")
    stderr = proc.stderr.decode(errors="replace")
    assert proc.returncode == EXIT[kind], stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), stderr
    assert message in lines[0]
    assert "Traceback" not in stderr
    after = Workspace.open(ws).store
    assert after.head("images") == head
    assert integrity.fsck(after).ok
    integrity.gc(after, grace_seconds=0)  # bytes a refused put already streamed are unreferenced garbage
    assert sorted((ws / ".vigil" / "objects").glob("??/*")) == objects
    assert [r.name for r in after.list_repos()] == ["images"]


def test_ambiguous_commit_prefix(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = iter(["abcd" + "0" * 28, "abcd" + "1" * 28])
    monkeypatch.setattr(commit_module, "uuid", SimpleNamespace(uuid4=lambda: SimpleNamespace(hex=next(ids))))
    store = Workspace.open(ws).store
    for name in ("/p", "/q"):
        with store.begin_commit("images") as c:
            c.put_bytes(name, b"x")
    proc = run(ws, "ls", "images@abcd", check=False)
    assert proc.returncode == EXIT["usage"]
    assert "matches several commits" in proc.stderr.decode() and "Traceback" not in proc.stderr.decode()
    assert [f["path"] for f in js(ws, "ls", "images@abcd1")] == [  # type: ignore[union-attr]
        "/a.jpg", "/p", "/q", "/sub/b.jpg"]

def test_repo_delete_blocked_by_reader(ws: Path) -> None:
    Workspace.open(ws).store.set_readers("detect", ["images"])
    proc = run(ws, "repo", "delete", "images", check=False)
    assert proc.returncode == EXIT["conflict"] and "read by pipeline(s) detect" in proc.stderr.decode()
    run(ws, "repo", "delete", "images", "--force")
    assert js(ws, "repo", "list") == []


def test_no_workspace(tmp_path: Path) -> None:
    proc = run(tmp_path, "repo", "list", check=False)
    assert proc.returncode == EXIT["workspace"] and "vigil init" in proc.stderr.decode()


def test_fsck_reports_corruption(ws: Path) -> None:
    blob = next((ws / ".vigil" / "objects").glob("??/*"))
    blob.chmod(0o644)
    blob.write_bytes(b"rotten")
    proc = run(ws, "fsck", check=False)
    assert proc.returncode == EXIT["integrity"] and "corrupt" in proc.stdout.decode()


def test_debug_shows_traceback(ws: Path) -> None:
    proc = run(ws, "--debug", "ls", "nope", check=False)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr.decode() and "NotFoundError" in proc.stderr.decode()


PEAK_RSS = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, capture_output=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_kib(*argv: str) -> int:
    """Peak RSS of one `vigil` run, measured in a fresh helper process (RUSAGE_CHILDREN is a running max)."""
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS, str(VIGIL), *argv], capture_output=True, check=True)
    return int(proc.stdout)


def test_large_file_streams_with_flat_memory(ws: Path, tmp_path: Path) -> None:
    size = 300 << 20
    big, small = tmp_path / "big.bin", tmp_path / "small.bin"
    with open(big, "wb") as fh:  # sparse: 300 MB of zeros without writing them here
        fh.truncate(size)
    small.write_bytes(b"x")
    baseline = peak_rss_kib("--workspace", str(ws), "put", "images:/small", str(small))
    peak = peak_rss_kib("--workspace", str(ws), "put", "images:/big", str(big))
    assert (peak - baseline) * 1024 < 64 << 20, f"put of {size >> 20} MiB grew RSS by {(peak - baseline) >> 10} MiB"
    assert peak * 1024 < size / 2
    files = {f["path"]: f for f in js(ws, "ls", "images:/big")}  # type: ignore[union-attr]
    assert files["/big/big.bin"]["size"] == size


def test_gc_reports_temporary_files_removed(ws: Path) -> None:
    """Before: `vigil gc` printed blobs only; the temporaries of killed uploads it removed went uncounted."""
    stale = ws / ".vigil" / "objects" / "tmp" / "up-dead-1"
    stale.write_bytes(b"half an upload")
    os.utime(stale, (0, 0))
    assert "and 1 temporary file(s)" in run(ws, "gc", "--grace", "60").stdout.decode()
    assert not stale.exists()
