"""The runtime contract between the job runner, executors and transforms.

A :class:`Transform` is set up once per worker (``setup``: load the model here) and then processes batches of
datums (``process_batch``), returning for each datum a mapping of output path -> bytes (or :class:`Blob`, an
existing blob reused with no byte copy). An :class:`Executor` runs :class:`DatumTask` batches on workers and
streams :class:`DatumResult` values back; it writes output bytes to the object store itself, so only small
results travel back to the runner.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from vigil.errors import CorruptBlobError
from vigil.pipeline.datums import DatumInput, FileRef
from vigil.store.models import Change, FileInfo
from vigil.store.objects import CHUNK, ObjectStore, open_verified


@dataclass(frozen=True, slots=True)
class Blob:
    """An output that is an already-stored blob (e.g. a valid image routed to /valid/ with no copy)."""

    oid: str
    size: int


Output = bytes | Blob
Outputs = dict[str, Output]


@dataclass(frozen=True, slots=True)
class IncrementalBase:
    """What the datum of an incremental pipeline starts from: the pipeline's previous output files and the net
    changes of its input since the job that made them. A fresh start has no previous files and every input file
    as ``added``."""

    previous: tuple[FileRef, ...]
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class DatumTask:
    """One datum to process in one job (everything a remote worker needs, all plain values)."""

    job_id: str
    datum_id: str
    inputs: tuple[DatumInput, ...]
    base: IncrementalBase | None = None


Lister = Callable[[str, str, str, str], list[FileInfo]]
"""(repo, commit id, lo, hi) -> files of that commit with lo <= path < hi, sorted (a bounded range read)."""


class DatumContext:
    """What a transform sees of one datum: its inputs by name, and reads of their bytes."""

    def __init__(self, task: DatumTask, objects: ObjectStore, params: Mapping[str, Any],
                 lister: Lister | None = None) -> None:
        self.task = task
        self.objects = objects
        self.params = params
        self._lister = lister
        self.notes: list[str] = []  # lines for the datum's log (e.g. a decoder's warnings about a frame)

    @property
    def datum_id(self) -> str:
        return self.task.datum_id

    @property
    def job_id(self) -> str:
        return self.task.job_id

    def input(self, name: str) -> list[DatumInput]:
        """The parts of this datum from input ``name`` (one for pfs/cross/union; several after join/group)."""
        parts = [i for i in self.task.inputs if i.name == name]
        if not parts:
            names = sorted({i.name for i in self.task.inputs})
            raise KeyError(f"this datum has no input named {name!r}; it has {', '.join(names)}")
        return parts

    def files(self, name: str) -> list[FileRef]:
        return [f for part in self.input(name) for f in part.files]

    def read(self, file: FileRef | FileInfo) -> bytes:
        """The bytes of an input file, verified against its id: ``CorruptBlobError`` (naming the input's repo,
        the path and the commit) when they are damaged, so the datum fails and nothing is computed on them."""
        repo, commit = self._origin(file)
        with open_verified(self.objects, file.oid, repo, file.path, commit, file.size) as fh:
            return fh.read()

    def read_blob(self, oid: str) -> bytes:
        """The bytes of a blob by id (e.g. the old version of a changed file), verified against it."""
        with self.objects.open(oid) as fh:
            return fh.read()

    def _origin(self, file: FileRef | FileInfo) -> tuple[str | None, str | None]:
        """(repo, commit) of the input part holding ``file``; (None, None) for a file named by a record."""
        for part in self.task.inputs:
            if any(f.oid == file.oid and f.path == file.path for f in part.files):
                return part.repo, part.commit
        return None, None

    @property
    def incremental(self) -> IncrementalBase:
        """The base of an incremental pipeline's datum (``incremental: true`` in its spec)."""
        if self.task.base is None:
            raise RuntimeError("this datum is not incremental: set `incremental: true` in the pipeline spec")
        return self.task.base

    def previous_output(self, path: str) -> bytes | None:
        """A file of the pipeline's previous output (incremental pipelines), or None if it had none."""
        for f in self.incremental.previous:
            if f.path == path:
                return self.read(f)
        return None

    def neighbours(self, name: str, lo: str, hi: str) -> list[FileInfo]:
        """Files of input ``name``'s commit with ``lo <= path < hi`` (e.g. a camera's recent frames), read at
        the same commit as the datum, so results stay deterministic. Cost grows with the range, not the repo."""
        part = self.input(name)[0]
        if self._lister is None:
            raise RuntimeError("this executor gives transforms no range reads")
        return self._lister(part.repo, part.commit, lo, hi)

    def local_path(self, file: FileRef) -> Path | None:
        """A read-only local path of the file's bytes when the object store is local (never write to it). The
        file is verified first (one streaming hash; meant for files read once per worker, such as a model):
        ``CorruptBlobError`` when damaged."""
        path = self.objects.local_path(file.oid)
        if path is not None and path.exists():
            repo, commit = self._origin(file)
            with open_verified(self.objects, file.oid, repo, file.path, commit, file.size) as fh:
                while fh.read(CHUNK):
                    pass
        return path


class Transform(Protocol):
    """A pipeline's code. Deterministic: the same datum gives the same outputs, byte for byte."""

    def setup(self) -> None: ...

    def process_batch(self, datums: Sequence[DatumContext]) -> list[Outputs]: ...


TransformFactory = Callable[[], Transform]


@dataclass
class DatumResult:
    """The outcome of one datum: output blobs already stored, timings, attempts, and a log excerpt."""

    datum_id: str
    state: Literal["SUCCESS", "FAILED"]
    outputs: dict[str, tuple[str, int]] = field(default_factory=dict)  # path -> (oid, size)
    attempts: int = 1
    seconds: float = 0.0
    error: str | None = None
    log: str = ""


@dataclass(frozen=True)
class RunOptions:
    parallelism: int = 1
    batch_size: int = 8
    tries: int = 3
    timeout: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    lister: Lister | None = None


class Executor(Protocol):
    """Runs datum tasks with transforms made by ``factory`` (one per worker, kept warm between jobs when the
    ``key`` is the same) and yields results as they complete, in any order."""

    def run(self, key: str, factory: TransformFactory, tasks: Sequence[DatumTask], objects: ObjectStore,
            options: RunOptions) -> Iterator[DatumResult]: ...

    def close(self) -> None: ...


def store_outputs(objects: ObjectStore, outputs: Outputs) -> dict[str, tuple[str, int]]:
    """Write a datum's outputs to the object store; returns path -> (oid, size)."""
    stored: dict[str, tuple[str, int]] = {}
    for path, value in outputs.items():
        if not path.startswith("/"):
            path = "/" + path
        if isinstance(value, Blob):
            stored[path] = (value.oid, value.size)
        else:
            stored[path] = (objects.put_bytes(value), len(value))
    return stored


def process_with_retries(transform: Transform, tasks: Sequence[DatumTask], objects: ObjectStore,
                         options: RunOptions) -> list[DatumResult]:
    """Run one batch on a warm transform. A failing batch falls back to datum-by-datum runs so that one bad
    datum fails alone; each failing datum is retried up to ``options.tries`` times, keeping every error."""
    contexts = [DatumContext(t, objects, options.params, options.lister) for t in tasks]
    start = time.perf_counter()
    try:
        outputs = transform.process_batch(contexts)
        if len(outputs) != len(tasks):
            raise RuntimeError(f"process_batch returned {len(outputs)} results for {len(tasks)} datums")
        per = (time.perf_counter() - start) / max(len(tasks), 1)
        return [DatumResult(c.datum_id, "SUCCESS", store_outputs(objects, o), 1, per, log="\n".join(c.notes))
                for c, o in zip(contexts, outputs, strict=True)]
    except Exception:  # isolate the failing datum(s)
        if len(tasks) == 1 and options.tries <= 1:
            return [_failed(tasks[0], 1, time.perf_counter() - start, [traceback.format_exc()])]
    return [_one_with_retries(transform, ctx, objects, options) for ctx in contexts]


def _one_with_retries(transform: Transform, ctx: DatumContext, objects: ObjectStore,
                      options: RunOptions) -> DatumResult:
    errors: list[str] = []
    start = time.perf_counter()
    for attempt in range(1, options.tries + 1):
        ctx.notes.clear()
        try:
            (out,) = transform.process_batch([ctx])
            return DatumResult(ctx.datum_id, "SUCCESS", store_outputs(objects, out), attempt,
                               time.perf_counter() - start, log="\n".join([*errors, *ctx.notes])[-4000:])
        except CorruptBlobError:  # stored bytes do not heal by retrying: fail now, with that reason
            errors.append(f"attempt {attempt}: {traceback.format_exc(limit=8)}")
            return _failed(ctx.task, attempt, time.perf_counter() - start, errors)
        except Exception:
            errors.append(f"attempt {attempt}: {traceback.format_exc(limit=8)}")
    return _failed(ctx.task, options.tries, time.perf_counter() - start, errors)


def _failed(task: DatumTask, attempts: int, seconds: float, errors: list[str]) -> DatumResult:
    last = errors[-1].strip().splitlines()[-1] if errors else "unknown error"
    return DatumResult(task.datum_id, "FAILED", {}, attempts, seconds, error=last, log="\n".join(errors)[-8000:])
