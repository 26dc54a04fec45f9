"""The worker protocol: JSON lines between the container executor (host) and ``vigil worker --stdio``.

One JSON object per line, each with an ``op``. The host starts a worker and sends:

- ``setup``: ``{"transform": <the spec's transform>, "timeout": s|null, "objects": <object store>, "pfs": path}``;
  the worker builds the transform once (a model is loaded once per worker) and answers ``ready`` (or ``error``).
- ``batch``: ``{"tasks": [task...], "params": {...}, "tries": n}``; while processing, the worker may ask
  ``list`` (``{"id", "repo", "commit", "lo", "hi"}``: a range read of the metadata, which only the host
  has) and the host answers ``listed`` (``{"id", "files": [[path, oid, size]...]}``); the worker ends the
  batch with ``results`` (``{"results": [result...]}``: outputs already written to the object store).

End of input ends the worker. Everything is plain data: a task is what :class:`DatumTask` holds, a result
what :class:`DatumResult` holds, so the bytes of outputs never cross the pipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from vigil.errors import PipelineError
from vigil.pipeline.datums import DatumInput, FileRef
from vigil.pipeline.transform import DatumResult, DatumTask, IncrementalBase
from vigil.store.models import Change, FileInfo
from vigil.store.objects import LocalObjectStore, ObjectStore


def encode(message: dict[str, Any]) -> bytes:
    """One protocol line (newline-terminated)."""
    return orjson.dumps(message) + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    message = orjson.loads(line)
    if not isinstance(message, dict) or "op" not in message:
        raise ValueError(f"not a protocol message: {line[:200]!r}")
    return message


def task_to_json(task: DatumTask) -> dict[str, Any]:
    base = None if task.base is None else {
        "previous": [[f.path, f.oid, f.size] for f in task.base.previous],
        "changes": [[c.kind, c.path, c.oid, c.old_oid, c.size] for c in task.base.changes]}
    return {"job_id": task.job_id, "datum_id": task.datum_id, "base": base, "inputs": [
        {"name": i.name, "repo": i.repo, "commit": i.commit, "root": i.root, "captures": list(i.captures),
         "files": [[f.path, f.oid, f.size] for f in i.files]} for i in task.inputs]}


def task_from_json(data: dict[str, Any]) -> DatumTask:
    inputs = tuple(DatumInput(i["name"], i["repo"], i["commit"], i["root"],
                              tuple(FileRef(p, o, s) for p, o, s in i["files"]), tuple(i["captures"]))
                   for i in data["inputs"])
    raw = data.get("base")
    base = None if raw is None else IncrementalBase(
        tuple(FileRef(p, o, s) for p, o, s in raw["previous"]),
        tuple(Change(k, p, o, old, s) for k, p, o, old, s in raw["changes"]))
    return DatumTask(data["job_id"], data["datum_id"], inputs, base)


def result_to_json(result: DatumResult) -> dict[str, Any]:
    return {"datum_id": result.datum_id, "state": result.state,
            "outputs": {p: [oid, size] for p, (oid, size) in result.outputs.items()},
            "attempts": result.attempts, "seconds": result.seconds, "error": result.error, "log": result.log}


def result_from_json(data: dict[str, Any]) -> DatumResult:
    state = data["state"]
    if state not in ("SUCCESS", "FAILED"):
        raise ValueError(f"unknown datum state {state!r}")
    return DatumResult(data["datum_id"], state, {p: (o, int(s)) for p, (o, s) in data["outputs"].items()},
                       int(data["attempts"]), float(data["seconds"]), data.get("error"), data.get("log", ""))


def files_to_json(files: list[FileInfo]) -> list[list[Any]]:
    return [[f.path, f.oid, f.size] for f in files]


def files_from_json(data: list[list[Any]]) -> list[FileInfo]:
    return [FileInfo(p, o, int(s)) for p, o, s in data]


def objects_to_json(objects: ObjectStore) -> dict[str, Any]:
    """How a worker opens the same object store: a local folder (mounted at the same path) or an S3 bucket."""
    if isinstance(objects, LocalObjectStore):
        # no flush in the worker: the host adopts the blobs it reports and flushes them with its own (one syncfs
        # per commit instead of one per batch)
        return {"kind": "local", "root": str(objects.root), "fsync": False}
    from vigil.store.s3 import S3ObjectStore

    if isinstance(objects, S3ObjectStore):
        meta = objects.client.meta
        return {"kind": "s3", "bucket": objects.bucket, "prefix": objects.prefix,
                "endpoint_url": meta.endpoint_url, "region": meta.region_name}
    raise PipelineError(f"the container executor cannot hand a {type(objects).__name__} to a worker",
                        "use a local object folder or S3")


def objects_from_json(data: dict[str, Any]) -> ObjectStore:
    if data["kind"] == "local":
        return LocalObjectStore(Path(data["root"]), fsync=bool(data["fsync"]))
    from vigil.store.s3 import S3ObjectStore

    return S3ObjectStore(data["bucket"], data["prefix"], endpoint_url=data["endpoint_url"], region=data["region"])
