"""Command transforms: the /pfs contract, in a private mount namespace and by path substitution."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipeline.builders import make_app
from tests.shared_data import unavailable
from vigil.pipeline.command import CommandTransform, namespaces_available
from vigil.pipeline.datums import DatumInput, FileRef
from vigil.pipeline.spec import Transform as TransformSpec
from vigil.pipeline.transform import DatumContext, DatumTask, RunOptions, process_with_retries
from vigil.store.objects import ObjectStore

ISOLATION = [
    pytest.param(True, id="namespace", marks=pytest.mark.skipif(
        not namespaces_available(), reason="needs root and unshare for a private mount namespace")),
    pytest.param(False, id="substitution"),
]


@pytest.fixture
def objects(tmp_path: Path) -> Iterator[ObjectStore]:
    yield make_app(tmp_path / "ws").store.objects


def task(objects: ObjectStore, files: dict[str, bytes], root: str = "/cam1", name: str = "images",
         datum_id: str = "d" * 64) -> DatumTask:
    refs = tuple(FileRef(p, objects.put_bytes(b), len(b)) for p, b in sorted(files.items()))
    return DatumTask("job1", datum_id, (DatumInput(name, "images", "c" * 32, root, refs),))


def run_cmd(objects: ObjectStore, isolate: bool, cmd: list[str], *, stdin: list[str] | None = None,
            env: dict[str, str] | None = None, files: dict[str, bytes] | None = None, timeout: float | None = None,
            tries: int = 1) -> list:  # type: ignore[type-arg]
    spec = TransformSpec(cmd=cmd, stdin=stdin or [], env=env or {})
    transform = CommandTransform(spec, timeout, isolate=isolate)
    transform.setup()
    t = task(objects, files or {"/cam1/a.txt": b"hello", "/cam1/b.txt": b"world"})
    return process_with_retries(transform, [t], objects, RunOptions(tries=tries, timeout=timeout))


def read(objects: ObjectStore, oid: str) -> bytes:
    with objects.open(oid) as fh:
        return fh.read()


def outputs(objects: ObjectStore, result: object) -> dict[str, bytes]:
    return {p: read(objects, oid) for p, (oid, _size) in result.outputs.items()}  # type: ignore[attr-defined]


@pytest.mark.parametrize("isolate", ISOLATION)
def test_pfs_paths_env_and_outputs_in_subfolders(objects: ObjectStore, isolate: bool) -> None:
    (r,) = run_cmd(objects, isolate, ["sh"], stdin=[
        "mkdir -p /pfs/out/sub/deeper",
        "cat /pfs/images/cam1/a.txt /pfs/images/cam1/b.txt > /pfs/out/sub/deeper/both.txt",
        'ls "$images" > /pfs/out/listing.txt',
        'printf "%s %s" "$PACH_DATUM_ID" "$GREETING" > /pfs/out/meta.txt',
    ], env={"GREETING": "hi"})
    assert r.state == "SUCCESS", r.log
    assert outputs(objects, r) == {"/listing.txt": b"a.txt\nb.txt\n", "/meta.txt": b"d" * 64 + b" hi",
                                   "/sub/deeper/both.txt": b"helloworld"}


@pytest.mark.parametrize("isolate", ISOLATION)
def test_input_env_var_points_at_the_datum_root(objects: ObjectStore, isolate: bool) -> None:
    (r,) = run_cmd(objects, isolate, ["sh", "-c", 'echo "$images" > /pfs/out/where; cat "$images/a.txt" >> '
                                                   '/pfs/out/where'])
    assert r.state == "SUCCESS", r.log
    where, content = outputs(objects, r)["/where"].decode().splitlines()
    assert where.endswith("/pfs/images/cam1") and content == "hello"
    if isolate:
        assert where == "/pfs/images/cam1"  # the real Pachyderm path, not a substitute


def test_namespace_makes_pfs_visible_to_scripts_that_hardcode_it(objects: ObjectStore, tmp_path: Path) -> None:
    if not namespaces_available():
        unavailable("needs root and unshare for a private mount namespace")
    script = tmp_path / "copy.py"
    script.write_text("import shutil\nshutil.copy('/pfs/images/cam1/a.txt', '/pfs/out/copy.txt')\n")
    (r,) = run_cmd(objects, True, ["python3", str(script)])
    assert r.state == "SUCCESS", r.log
    assert outputs(objects, r) == {"/copy.txt": b"hello"}


@pytest.mark.parametrize("isolate", ISOLATION)
def test_non_zero_exit_fails_with_stderr_in_the_log(objects: ObjectStore, isolate: bool) -> None:
    (r,) = run_cmd(objects, isolate, ["sh", "-c", 'echo "$MSG" >&2; exit 3'], env={"MSG": "camera on fire"},
                   tries=2)
    assert (r.state, r.attempts) == ("FAILED", 2)
    assert "exited 3" in (r.error or "")
    assert r.log.count("camera on fire") == 2 and "attempt 2" in r.log


@pytest.mark.parametrize("isolate", ISOLATION)
def test_datum_timeout_fails_the_datum(objects: ObjectStore, isolate: bool) -> None:
    start = time.monotonic()
    (r,) = run_cmd(objects, isolate, ["sh"], stdin=["sleep 10.25", "echo done > /pfs/out/x"], timeout=0.5)
    assert r.state == "FAILED" and "TimeoutExpired" in (r.error or "")
    assert time.monotonic() - start < 5
    assert not sleepers(), "the command's child outlived the timeout"


def sleepers() -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmdline.read_bytes() == b"sleep\x0010.25\x00":
                found.append(cmdline.parent.name)
        except OSError:
            pass
    return found


def test_symlink_outputs_are_refused(objects: ObjectStore) -> None:
    (r,) = run_cmd(objects, False, ["ln", "-s", "/etc/passwd", "/pfs/out/leak"])
    assert r.state == "FAILED" and "symlink" in (r.error or "")


def test_datum_context_names_missing_inputs(objects: ObjectStore) -> None:
    ctx = DatumContext(task(objects, {"/cam1/a.txt": b"x"}), objects, {})
    with pytest.raises(KeyError, match="no input named 'model'; it has images"):
        ctx.files("model")
