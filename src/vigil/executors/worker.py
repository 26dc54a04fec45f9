"""The worker side of the container executor: ``vigil worker --stdio``, run inside a stage's image.

It reads protocol lines (:mod:`vigil.executors.wire`) from stdin and answers on stdout: builds the pipeline's
transform once, then processes batches with the same code as the in-process executor
(:func:`~vigil.pipeline.transform.process_with_retries`), writing outputs to the object store itself and
returning only their ids. Range reads of the metadata (``DatumContext.neighbours``) are asked of the host.

Stdout carries the protocol only: the worker keeps a private copy of it and points file descriptor 1 at
stderr, so a transform that prints (or a library that writes to stdout) cannot corrupt the stream.
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from vigil.executors import wire
from vigil.pipeline.transform import RunOptions, Transform, TransformFactory, process_with_retries
from vigil.store.models import FileInfo
from vigil.store.objects import ObjectStore

log = logging.getLogger(__name__)

Builder = Callable[[dict[str, Any], float | None, Path | None], TransformFactory]
"""(the spec's transform as JSON, datum timeout, the /pfs folder for commands) -> a transform factory."""


class Worker:
    """One warm transform serving batches over a pair of byte streams."""

    def __init__(self, reader: BinaryIO, writer: BinaryIO, build: Builder) -> None:
        self.reader, self.writer, self.build = reader, writer, build
        self.transform: Transform | None = None
        self.objects: ObjectStore | None = None
        self._ids = itertools.count(1)

    def send(self, message: dict[str, Any]) -> None:
        self.writer.write(wire.encode(message))
        self.writer.flush()

    def receive(self) -> dict[str, Any] | None:
        line = self.reader.readline()
        return wire.decode(line) if line else None

    def serve(self) -> int:
        """Answer messages until end of input; 0 on a clean end, 1 after a protocol error."""
        while (message := self.receive()) is not None:
            op = message["op"]
            try:
                if op == "setup":
                    self._setup(message)
                elif op == "batch":
                    self._batch(message)
                else:
                    raise ValueError(f"unknown op {op!r}")
            except Exception as exc:
                log.debug("worker: %s failed", op, exc_info=True)
                self.send({"op": "error", "error": f"{exc.__class__.__name__}: {exc}",
                           "trace": traceback.format_exc(limit=8)[-4000:]})
                if op != "setup":
                    return 1
        return 0

    def _setup(self, message: dict[str, Any]) -> None:
        self.objects = wire.objects_from_json(message["objects"])
        pfs = Path(message["pfs"]) if message.get("pfs") else None
        transform = self.build(message["transform"], message.get("timeout"), pfs)()
        transform.setup()
        self.transform = transform
        gc.freeze()  # as in the local executor: the loaded model and modules are long-lived
        self.send({"op": "ready", "python": sys.version.split()[0], "pid": os.getpid()})

    def _batch(self, message: dict[str, Any]) -> None:
        if self.transform is None or self.objects is None:
            raise RuntimeError("batch before setup")
        tasks = [wire.task_from_json(t) for t in message["tasks"]]
        options = RunOptions(tries=int(message["tries"]), params=message.get("params") or {}, lister=self._list)
        results = process_with_retries(self.transform, tasks, self.objects, options)
        self.objects.sync()  # S3: a no-op; a local folder: the host adopts the blobs and flushes them itself
        self.send({"op": "results", "results": [wire.result_to_json(r) for r in results]})

    def _list(self, repo: str, commit: str, lo: str, hi: str) -> list[FileInfo]:
        ident = next(self._ids)
        self.send({"op": "list", "id": ident, "repo": repo, "commit": commit, "lo": lo, "hi": hi})
        answer = self.receive()
        if answer is None or answer["op"] != "listed" or answer.get("id") != ident:
            raise RuntimeError(f"expected the host's listing {ident}, got {answer!r:.200}")
        return wire.files_from_json(answer["files"])


def serve_stdio(build: Builder) -> int:
    """Serve the protocol on this process's stdin/stdout (stdout then belongs to the protocol alone)."""
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return Worker(sys.stdin.buffer, protocol_out, build).serve()
