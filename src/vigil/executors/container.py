"""The container executor: a pipeline whose transform names an image runs its datums in that image (podman).

Not a container per datum (Pachyderm #1592): each pipeline worker is ONE long-lived container running
``vigil worker --stdio``, started on the first batch and kept warm across batches and jobs (the model is
loaded once), exactly as the local executor keeps a warm transform per worker thread. Batches travel over the
container's stdin/stdout as JSON lines (:mod:`vigil.executors.wire`); the worker reads inputs from and writes
outputs to the object store itself (a local folder mounted at the same path, or S3), so only ids come back.

Containers run with no network (S3 stores: the host's), no capabilities, no new privileges, a read-only root
and tmpfs ``/tmp`` and ``/pfs``; as the owner of a local object folder (so the blobs they write belong to
it), else as the image's non-root user. A worker that dies fails its batch's datums with its last stderr
lines, and the next batch starts a new one. Containers carry the label ``vigil.worker.owner=<host>:<pid>``:
those of a runner that died are removed by the next executor on the host.
"""

from __future__ import annotations

import atexit
import collections
import hashlib
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from vigil.errors import PipelineError
from vigil.executors import wire
from vigil.executors.local import LocalExecutor
from vigil.pipeline.transform import (
    DatumResult,
    DatumTask,
    Lister,
    RunOptions,
    Transform,
    TransformFactory,
)
from vigil.store.objects import LocalObjectStore, ObjectStore

log = logging.getLogger(__name__)

PFS = "/pfs"
WORKER_COMMAND = ("vigil", "worker", "--stdio")
OWNER_LABEL = "vigil.worker.owner"
S3_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION")


@dataclass(frozen=True)
class InImage:
    """The transform factory of a pipeline that runs in ``image``: the spec's transform as plain data, for
    the worker inside the container to build. It is never built in this process."""

    image: str
    transform: dict[str, Any]
    timeout: float | None = None

    def __call__(self) -> Transform:
        raise PipelineError(f"the transform in image {self.image} runs in a container, not in this process",
                            "run it with the container executor")


@dataclass
class WorkerContainer:
    """One running worker container and the pipes to it."""

    name: str
    image: str
    proc: subprocess.Popen[bytes]
    objects: dict[str, Any] = field(default_factory=dict)  # the object store it was started on
    stderr_tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=40))
    drain: threading.Thread | None = None

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(wire.encode(message))
        self.proc.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(timeout=30)
            raise WorkerDied(self, f"exited with code {code}")
        return wire.decode(line)

    def stderr(self) -> str:
        return "\n".join(self.stderr_tail)

    def alive(self) -> bool:
        return self.proc.poll() is None


class WorkerDied(Exception):
    def __init__(self, worker: WorkerContainer, what: str) -> None:
        tail = worker.stderr().strip()
        super().__init__(f"worker container {worker.name} ({worker.image}) {what}" + (f": {tail[-2000:]}" if tail
                                                                                       else ""))


class ContainerExecutor(LocalExecutor):
    """Runs batches in worker containers, up to ``max_workers`` per pipeline (its parallelism caps it)."""

    def __init__(self, max_workers: int = 2, podman: str = "podman") -> None:
        super().__init__(max_workers)
        self.podman = podman
        self._containers: dict[tuple[str, int], WorkerContainer] = {}
        self._owner = f"{socket.gethostname()}:{os.getpid()}"
        self._reaped = False
        atexit.register(self.close)

    def run(self, key: str, factory: TransformFactory, tasks: Sequence[DatumTask], objects: ObjectStore,
            options: RunOptions) -> Iterator[DatumResult]:
        if not isinstance(factory, InImage):
            raise PipelineError("the container executor runs only transforms that name an image",
                                "give the pipeline's transform an image, or run it in-process")
        self._retire_other_versions(key)
        return super().run(key, factory, tasks, objects, options)

    def _process(self, key: str, factory: TransformFactory, slot: int, batch: Sequence[DatumTask],
                 objects: ObjectStore, options: RunOptions) -> list[DatumResult]:
        assert isinstance(factory, InImage)
        worker = self._worker(key, factory, slot, objects)
        start = time.perf_counter()
        try:
            worker.send({"op": "batch", "tasks": [wire.task_to_json(t) for t in batch],
                         "params": dict(options.params), "tries": options.tries})
            results = self._answer(worker, options.lister)
            if isinstance(objects, LocalObjectStore):  # made durable by the host's next sync, before any commit
                objects.adopt(oid for r in results for oid, _ in r.outputs.values())
            return results
        except (WorkerDied, OSError, ValueError) as exc:  # the worker is gone or speaks nonsense: fail the batch
            self._stop(key, slot)
            error = str(exc) if isinstance(exc, WorkerDied) else str(WorkerDied(worker, f"failed: {exc}"))
            seconds = (time.perf_counter() - start) / max(len(batch), 1)
            return [DatumResult(t.datum_id, "FAILED", {}, 1, seconds, error=error.splitlines()[0][:500],
                                log=error) for t in batch]

    def _answer(self, worker: WorkerContainer, lister: Lister | None) -> list[DatumResult]:
        """Serve the worker's range reads until it returns the batch's results."""
        while True:
            message = worker.receive()
            op = message["op"]
            if op == "results":
                return [wire.result_from_json(r) for r in message["results"]]
            if op == "list":
                if lister is None:
                    raise ValueError("the worker asked for a range read, and this run gives none")
                files = lister(message["repo"], message["commit"], message["lo"], message["hi"])
                worker.send({"op": "listed", "id": message["id"], "files": wire.files_to_json(files)})
            elif op == "error":
                raise WorkerDied(worker, f"failed: {message['error']}\n{message.get('trace', '')}")
            else:
                raise ValueError(f"unexpected message {op!r}")

    # ------------------------------------------------------------------------------------------ containers
    def _worker(self, key: str, factory: InImage, slot: int, objects: ObjectStore) -> WorkerContainer:
        with self._lock:
            worker = self._containers.get((key, slot))
        if worker is not None and worker.alive() and worker.objects == wire.objects_to_json(objects):
            return worker
        if worker is not None:  # dead, or bound to another workspace's objects (mounted at its start)
            self._stop(key, slot)
        worker = self._start(key, factory, slot, objects)
        with self._lock:
            self._containers[(key, slot)] = worker
        return worker

    def _start(self, key: str, factory: InImage, slot: int, objects: ObjectStore) -> WorkerContainer:
        """Start a worker container and set its transform up; PipelineError when that fails."""
        if shutil.which(self.podman) is None:
            raise PipelineError(f"{factory.image} needs podman, which is not installed",
                                "install podman (make images does), or set containers.enabled: false in "
                                ".vigil/vigil.yaml to run image transforms in-process")
        self._reap_orphans()
        digest = hashlib.sha256(key.encode()).hexdigest()[:10]
        name = f"vigil-{key.split(':', 1)[0][:40]}-{digest}-{slot}-{os.getpid()}"
        argv = self._run_argv(name, factory.image, objects)
        log.info("starting worker container %s from %s", name, factory.image)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        worker = WorkerContainer(name, factory.image, proc, wire.objects_to_json(objects))
        worker.drain = threading.Thread(target=_drain, args=(proc.stderr, worker), daemon=True, name=f"{name}-err")
        worker.drain.start()
        try:
            worker.send({"op": "setup", "transform": factory.transform, "timeout": factory.timeout,
                         "objects": wire.objects_to_json(objects), "pfs": PFS})
            answer = worker.receive()
        except (WorkerDied, OSError) as exc:
            self._kill(worker)
            raise PipelineError(f"cannot start a worker from image {factory.image}: {exc}",
                                "build the images (`make images`), pull it, or map the spec's image to one "
                                "that exists (`vigil run --image-map SPEC_IMAGE=IMAGE`)") from None
        if answer["op"] != "ready":
            self._kill(worker)
            raise PipelineError(f"the worker in {factory.image} could not set the transform up: "
                                f"{answer.get('error')}", "see the stage's parameters and the image's version")
        return worker

    def _run_argv(self, name: str, image: str, objects: ObjectStore) -> list[str]:
        argv = [self.podman, "run", "--rm", "-i", "--pull=never", "--name", name, "--label", f"{OWNER_LABEL}="
                f"{self._owner}", "--read-only", "--tmpfs", "/tmp:rw,mode=1777", "--tmpfs", f"{PFS}:rw,U",
                "--cap-drop", "all", "--security-opt", "no-new-privileges", "--log-driver", "none",
                "--init"]  # a tiny init as PID 1: signals reach the worker, command children are reaped
        if isinstance(objects, LocalObjectStore):
            root = objects.root.resolve()
            st = root.stat()
            argv += ["--network", "none", "--user", f"{st.st_uid}:{st.st_gid}", "-v", f"{root}:{root}:rw"]
            if os.geteuid() != 0:  # rootless podman: keep this user's id inside, so the blobs stay its own
                argv += ["--userns", "keep-id"]
        else:  # S3: the endpoint may be on this host's loopback; credentials pass by name, never on argv
            argv += ["--network", "host"] + [a for n in S3_ENV if n in os.environ for a in ("-e", n)]
        return [*argv, image, *WORKER_COMMAND]

    def _retire_other_versions(self, key: str) -> None:
        """A new version of a pipeline replaces its workers: stop the containers of its older versions."""
        pipeline = key.split(":", 1)[0]
        with self._lock:
            stale = [k for k in self._containers if k[0] != key and k[0].split(":", 1)[0] == pipeline]
        for k in stale:
            self._stop(*k)

    def _stop(self, key: str, slot: int) -> None:
        with self._lock:
            worker = self._containers.pop((key, slot), None)
        if worker is not None:
            self._kill(worker)

    def _kill(self, worker: WorkerContainer) -> None:
        """End a worker: end of input asks it to exit; podman removes it (--rm); force it after a grace."""
        try:
            if worker.proc.stdin is not None:
                worker.proc.stdin.close()
            worker.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            subprocess.run([self.podman, "rm", "-f", "-t", "0", worker.name], capture_output=True, check=False)
            worker.proc.kill()
            worker.proc.wait()
        if worker.drain is not None:
            worker.drain.join(timeout=10)
        for stream in (worker.proc.stdout, worker.proc.stderr):
            if stream is not None:
                stream.close()

    def _reap_orphans(self) -> None:
        """Remove worker containers left by runners of this host that died (once per executor)."""
        if self._reaped:
            return
        self._reaped = True
        done = subprocess.run([self.podman, "ps", "-a", "--filter", f"label={OWNER_LABEL}", "--format",
                               f'{{{{.Names}}}} {{{{index .Labels "{OWNER_LABEL}"}}}}'],
                              capture_output=True, text=True, check=False)
        host = socket.gethostname()
        for line in done.stdout.splitlines():
            name, _, owner = line.partition(" ")
            owner_host, _, pid = owner.rpartition(":")
            if owner_host == host and pid.isdigit() and not _alive(int(pid)):
                log.info("removing worker container %s of a runner that died", name)
                subprocess.run([self.podman, "rm", "-f", "-t", "0", name], capture_output=True, check=False)

    def workers(self) -> list[WorkerContainer]:
        """The worker containers running now."""
        with self._lock:
            return [w for w in self._containers.values() if w.alive()]

    def close(self) -> None:
        with self._lock:
            workers = list(self._containers.values())
            self._containers.clear()
        for worker in workers:
            self._kill(worker)
        super().close()


def _drain(stream: IO[bytes], worker: WorkerContainer) -> None:
    """Keep the last lines of the worker's stderr (its logs) for error messages; forward them at debug."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        worker.stderr_tail.append(line)
        log.debug("%s: %s", worker.name, line)


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()  # podman is Linux-only, and so is this executor
