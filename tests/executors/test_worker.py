"""`vigil worker --stdio`, the worker side of the container executor, driven over its real protocol (a
subprocess of the installed console script: no container needed), and the protocol's plain-data encodings."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.console import VIGIL
from tests.shared_data import unavailable
from vigil.errors import UsageError
from vigil.execution import map_image, parse_image_map
from vigil.executors import wire
from vigil.executors.container import WorkerContainer
from vigil.pipeline.datums import DatumInput, FileRef
from vigil.pipeline.transform import DatumResult, DatumTask, IncrementalBase
from vigil.store.models import Change
from vigil.store.objects import LocalObjectStore

paths = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20).map(
    lambda s: "/" + s)
oids = st.text("0123456789abcdef", min_size=64, max_size=64)
files = st.builds(FileRef, paths, oids, st.integers(0, 2**40))
inputs = st.builds(DatumInput, st.sampled_from(["images", "model", "rules"]), st.just("repo"), oids, paths,
                   st.lists(files, max_size=4).map(tuple), st.lists(st.text(max_size=5), max_size=2).map(tuple))


changes = st.builds(Change, st.sampled_from(["added", "modified", "deleted"]), paths, st.none() | oids,
                    st.none() | oids, st.integers(0, 2**40))
bases = st.none() | st.builds(IncrementalBase, st.lists(files, max_size=3).map(tuple),
                              st.lists(changes, max_size=3).map(tuple))


@given(st.builds(DatumTask, st.text(max_size=8), oids, st.lists(inputs, max_size=3).map(tuple), bases))
def test_tasks_round_trip(task: DatumTask) -> None:
    assert wire.task_from_json(wire.decode(wire.encode({"op": "t", **wire.task_to_json(task)}))) == task


@given(st.builds(DatumResult, oids, st.sampled_from(["SUCCESS", "FAILED"]),
                 st.dictionaries(paths, st.tuples(oids, st.integers(0, 2**40)), max_size=4),
                 st.integers(1, 5), st.floats(0, 1e6), st.none() | st.text(max_size=20), st.text(max_size=40)))
def test_results_round_trip(result: DatumResult) -> None:
    assert wire.result_from_json(wire.decode(wire.encode({"op": "r", **wire.result_to_json(result)}))) == result


@pytest.mark.parametrize(("image", "mapping", "expected"), [
    ("dwhitena/mgmt-object-detect", {"dwhitena/mgmt-object-detect": "localhost/vigil-detect"},
     "localhost/vigil-detect"),
    ("dwhitena/mgmt-plot:fix2", {"dwhitena/mgmt-plot": "localhost/vigil-report"}, "localhost/vigil-report"),
    ("dwhitena/mgmt-plot:fix2", {"dwhitena/mgmt-plot:fix2": "a", "dwhitena/mgmt-plot": "b"}, "a"),
    ("registry:5000/x", {"registry": "wrong"}, "registry:5000/x"),  # a port is not a tag
    ("localhost/vigil-threat", {}, "localhost/vigil-threat"),
])
def test_map_image(image: str, mapping: dict[str, str], expected: str) -> None:
    assert map_image(image, mapping) == expected


@pytest.mark.parametrize(("entries", "expected"), [
    (["a=b", " c = d "], {"a": "b", "c": "d"}),
    (["a"], UsageError),
    (["=b"], UsageError),
    (["a="], UsageError),
])
def test_parse_image_map(entries: list[str], expected: dict[str, str] | type[Exception]) -> None:
    if isinstance(expected, dict):
        assert parse_image_map(entries) == expected
    else:
        with pytest.raises(expected, match="SPEC_IMAGE=IMAGE"):
            parse_image_map(entries)


class Host(WorkerContainer):
    """The host end of the protocol, over a real `vigil worker --stdio` process (no container)."""

    def __init__(self) -> None:
        if VIGIL is None:
            unavailable("the `vigil` console script is not installed")
        super().__init__("local", "none", subprocess.Popen([VIGIL, "worker", "--stdio"], stdin=subprocess.PIPE,
                                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE))

    def close(self) -> str:
        out, err = self.proc.communicate(timeout=60)
        assert out == b"", out  # nothing but protocol lines ever reaches stdout
        return err.decode()


@pytest.fixture
def host() -> Iterator[Host]:
    h = Host()
    yield h
    if h.proc.poll() is None:
        h.close()


def read_blob(objects: LocalObjectStore, oid: str) -> bytes:
    with objects.open(oid) as fh:
        return fh.read()


def put_task(objects: LocalObjectStore, files: dict[str, bytes], name: str = "images",
             datum: str = "d" * 64) -> dict[str, Any]:
    refs = tuple(FileRef(p, objects.put_bytes(b), len(b)) for p, b in files.items())
    return wire.task_to_json(DatumTask("job1", datum, (DatumInput(name, name, "c" * 32, "/", refs),)))


def test_worker_runs_a_command_under_the_pfs_contract(host: Host, tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    pfs = tmp_path / "pfs"
    pfs.mkdir()
    script = ('set -e; test "$(stat -c %a /pfs/images/a.txt /pfs/images)" = "444\n555"; '
              'cat /pfs/images/a.txt > /pfs/out/copy.txt; '
              'echo "$PACH_JOB_ID $PACH_DATUM_ID $images_COMMIT $images $GREETING" > /pfs/out/env.txt; echo noise')
    host.send({"op": "setup", "transform": {"cmd": ["sh"], "stdin": [script.replace("/pfs", str(pfs))],
                                            "env": {"GREETING": "hi"}},
               "timeout": 30, "objects": wire.objects_to_json(objects), "pfs": str(pfs)})
    assert host.receive()["op"] == "ready"
    host.send({"op": "batch", "tasks": [put_task(objects, {"/a.txt": b"hello"})], "params": {}, "tries": 1})
    (result,) = [wire.result_from_json(r) for r in host.receive()["results"]]
    assert result.state == "SUCCESS", result.log
    read = {p: read_blob(objects, oid) for p, (oid, _) in result.outputs.items()}
    assert read["/copy.txt"] == b"hello"
    assert read["/env.txt"] == f"job1 {'d' * 64} {'c' * 32} {pfs}/images hi\n".encode()
    assert list(pfs.iterdir()) == []  # each datum starts from an empty /pfs
    host.close()


def test_worker_asks_the_host_for_range_reads_and_keeps_stdout_clean(host: Host, tmp_path: Path) -> None:
    """The threat stage with a persistence rule reads the camera's earlier frames through the host."""
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    rules = b"""
version: 1
rules:
  - id: person-lingers
    classes: [person]
    persistence: {seconds: 60, frames: 2}
"""
    frame = b'{"camera": "cam1", "tenant": null, "device": "cam1", "ts": 1000, "width": 10, "height": 10, ' \
            b'"objects": [{"label": "person", "class_id": 0, "score": 0.9, "box": [1, 1, 5, 5]}]}'
    earlier = frame.replace(b'"ts": 1000', b'"ts": 990')
    earlier_oid = objects.put_bytes(earlier)
    detect = put_task(objects, {"/cam1/0000001000.json": frame}, "detect")
    rule_input = put_task(objects, {"/rules.yaml": rules}, "rules")["inputs"][0]
    host.send({"op": "setup", "transform": {"stage": "threat", "params": {}}, "timeout": None,
               "objects": wire.objects_to_json(objects), "pfs": None})
    assert host.receive()["op"] == "ready"
    host.send({"op": "batch", "tasks": [{**detect, "inputs": [*detect["inputs"], rule_input]}], "params": {},
               "tries": 1})
    ask = host.receive()
    assert (ask["op"], ask["repo"], ask["lo"], ask["hi"]) == ("list", "detect", "/cam1/0000000940",
                                                               "/cam1/0000001000")
    host.send({"op": "listed", "id": ask["id"], "files": [["/cam1/0000000990.json", earlier_oid, len(earlier)]]})
    (result,) = [wire.result_from_json(r) for r in host.receive()["results"]]
    assert result.state == "SUCCESS", result.log
    doc = read_blob(objects, result.outputs["/cam1/0000001000.json"][0])
    assert b"person-lingers" in doc  # fired only because the host's listing showed the earlier frame
    host.close()


def test_worker_reports_a_bad_setup_and_stays_up(host: Host, tmp_path: Path) -> None:
    objects = LocalObjectStore(tmp_path / "objects", fsync=False)
    host.send({"op": "setup", "transform": {"stage": "no-such-stage"}, "timeout": None,
               "objects": wire.objects_to_json(objects), "pfs": None})
    answer = host.receive()
    assert answer["op"] == "error" and "no-such-stage" in answer["error"]
    host.send({"op": "setup", "transform": {"stage": "noop"}, "timeout": None,
               "objects": wire.objects_to_json(objects), "pfs": None})
    assert host.receive()["op"] == "ready"
    host.close()
