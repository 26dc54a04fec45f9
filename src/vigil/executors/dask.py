"""The distributed executor: batches of datums as tasks on a Dask cluster (``distributed``), no scheduler of ours.

The same contract as the local pool (:class:`~vigil.pipeline.transform.Executor`): the runner plans, this
executor runs batches and streams their results back as they finish, and the job stages them exactly as it
does for the local pool (so a runner killed mid-job leaves finished datums to reuse).

- **Warm per worker.** A pipeline version's transform reaches the workers as a :class:`WarmTransform`
  ``WorkerPlugin``: set up once per worker process when registered (the model is loaded once), again on a worker
  that joins or restarts later, and retired when the pipeline gets a new version.
- **Workers never touch the metadata database.** They read inputs from and write outputs to the shared object
  store (S3, or a folder every worker mounts at the same path) and return only ids. The few range reads a stage
  makes (``DatumContext.neighbours``: a camera's recent frames) are asked of the runner, over Dask's own RPC
  layer: a ``distributed.core.Server`` in the runner's process answers them (one round trip on a pooled
  connection; a request relayed through the scheduler cost ~30 ms under load, more than the frame's work).
- **Faults.** A worker that dies mid-batch loses that batch only: Dask runs it again on another worker (up to
  the scheduler's ``allowed-failures``); batches that finished came back already, and a datum's retries inside
  a batch are ``datum_tries`` as on the local pool. A batch that cannot run at all fails its datums with the
  reason, and later jobs retry them with back-off.
- **Durability.** Blobs on a local folder are written without a flush and the runner flushes them with its own
  (one ``syncfs`` before it stages or commits), as for worker containers; a worker on another host flushes its
  own writes before it answers.
"""

# distributed's client API is mostly unannotated, and mypy checks calls into it as untyped
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from distributed import Client, WorkerPlugin, as_completed, get_worker
from distributed.comm.addressing import get_address_host, get_address_host_port
from distributed.core import Server
from distributed.utils import get_ip, sync

from vigil.errors import PipelineError
from vigil.executors import wire
from vigil.pipeline.transform import (
    DatumResult,
    DatumTask,
    Lister,
    RunOptions,
    Transform,
    TransformFactory,
    process_with_retries,
)
from vigil.store.objects import LocalObjectStore, ObjectStore

log = logging.getLogger(__name__)

LIST_TIMEOUT = 120.0  # seconds a worker waits for the runner's answer to a range read
PLUGIN_PREFIX = "vigil-"


class WarmTransform(WorkerPlugin):
    """One pipeline version's transform, kept warm on a Dask worker (for every workspace it serves, as the
    local pool's warm transforms are).

    ``setup`` (once per worker process) builds and sets up one transform; a worker with several threads
    builds one more per thread that finds them all busy (a transform serves one batch at a time, as on the
    local pool)."""

    idempotent = True  # registering it again (another job, another runner) keeps the warm one

    def __init__(self, factory: TransformFactory) -> None:
        self.factory = factory
        self.ready = False
        self._free: list[Transform] = []
        self._lock: threading.Lock | None = None

    def __getstate__(self) -> dict[str, Any]:  # shipped to workers as its recipe only
        return {"factory": self.factory}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["factory"])  # type: ignore[misc]

    async def setup(self, worker: Any) -> None:
        await asyncio.to_thread(self._setup)  # loading a model must not stall the worker's event loop

    def _setup(self) -> None:
        self._lock = threading.Lock()
        self._free.append(self._build())
        self.ready = True

    def _build(self) -> Transform:
        transform = self.factory()
        transform.setup()
        gc.freeze()  # as in the local executor: the loaded model and modules are long-lived
        return transform

    @contextmanager
    def transform(self) -> Iterator[Transform]:
        assert self._lock is not None, "the plugin was not set up"
        with self._lock:
            transform = self._free.pop() if self._free else None
        if transform is None:
            transform = self._build()
        try:
            yield transform
        finally:
            with self._lock:
                self._free.append(transform)

    def teardown(self, worker: Any) -> None:
        self._free.clear()


_stores: dict[str, ObjectStore] = {}  # this worker's open object stores (an S3 client is costly to make)
_stores_lock = threading.Lock()


def _object_store(spec: dict[str, Any]) -> ObjectStore:
    key = repr(sorted(spec.items()))
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            spec = dict(spec)
            if spec["kind"] == "local":  # the runner flushes blobs written on its own host; elsewhere, flush here
                remote = spec.pop("host") != socket.gethostname()
                spec["fsync"] = bool(spec.pop("fsync_remote")) and remote
            store = _stores[key] = wire.objects_from_json(spec)
        return store


def run_batch(plugin: str, objects: dict[str, Any], tasks: list[dict[str, Any]], params: dict[str, Any],
              tries: int, reads: str | None) -> list[dict[str, Any]]:
    """The Dask task: one batch on this worker's warm transform, reading and writing the object store that
    ``objects`` describes; results as plain data (outputs already stored)."""
    worker = get_worker()
    warm = worker.plugins.get(plugin)
    if not isinstance(warm, WarmTransform) or not warm.ready:
        raise RuntimeError(f"Dask worker {worker.address} has no warm transform {plugin}: its set-up failed "
                           "(see the worker's log)")
    store = _object_store(objects)
    options = RunOptions(tries=tries, params=params, lister=_ask_runner(worker, reads) if reads else None)
    with warm.transform() as transform:
        results = process_with_retries(transform, [wire.task_from_json(t) for t in tasks], store, options)
    store.sync()  # a no-op unless this worker is on another host than the runner (see _object_store)
    return [wire.result_to_json(r) for r in results]


def _ask_runner(worker: Any, address: str) -> Lister:
    """A range read answered by the runner at ``address``: one request over Dask's own RPC layer (a pooled
    connection of the worker's), from the task's thread through the worker's event loop."""
    def lister(repo: str, commit: str, lo: str, hi: str) -> list[Any]:
        async def call() -> Any:
            return await worker.rpc(address).vigil_range_read(repo=repo, commit=commit, lo=lo, hi=hi)
        files = sync(worker.loop, call, callback_timeout=LIST_TIMEOUT)
        return wire.files_from_json(files)
    return lister


class _RangeReads:
    """The runner's side of the workers' range reads: a Dask RPC server (``distributed.core.Server``) in the
    runner's process, the only one with the metadata database. Its address travels with each batch. It listens
    on loopback when the scheduler does, else on every interface (advertising the one that reaches the
    scheduler); like the scheduler itself, it trusts its network (a Dask cluster without TLS runs any code)."""

    def __init__(self, client: Client, scheduler: str, lister: Lister) -> None:
        self.client, self.lister = client, lister
        host = get_address_host(scheduler)
        loopback = host in ("127.0.0.1", "localhost", "::1")

        async def start() -> Server:
            server = Server({"vigil_range_read": self._read}, needs_workdir=False)
            await server.listen(f"tcp://{host if loopback else '0.0.0.0'}:0")
            return server

        self.server: Server = client.sync(start)
        port = get_address_host_port(self.server.address)[1]
        self.address = f"tcp://{host if loopback else get_ip(host)}:{port}"

    async def _read(self, repo: str, commit: str, lo: str, hi: str) -> list[list[Any]]:
        # a database read: off the client's event loop, which also carries the batches' results
        files = await asyncio.to_thread(self.lister, repo, commit, lo, hi)
        return wire.files_to_json(files)

    def close(self) -> None:
        try:
            self.client.sync(self.server.close)
        except Exception:  # the client may be closing already
            log.debug("closing the range-read server failed", exc_info=True)


class DaskExecutor:
    """Runs batches as Dask tasks on the cluster whose scheduler listens at ``address``."""

    def __init__(self, address: str, *, connect_timeout: float = 10.0, client: Client | None = None) -> None:
        self.address = address
        self.connect_timeout = connect_timeout
        self._client = client
        self._own_client = client is None
        self._plugins: dict[str, str] = {}  # pipeline name -> plugin registered for its current version
        self._lock = threading.Lock()
        self._host = socket.gethostname()

    @property
    def client(self) -> Client:
        with self._lock:
            if self._client is None:
                try:
                    self._client = Client(self.address, timeout=self.connect_timeout, set_as_default=False)
                except (OSError, TimeoutError) as exc:
                    raise PipelineError(f"cannot reach the Dask scheduler at {self.address}: {exc}",
                                        "start it (`dask scheduler`) and its workers (`vigil worker ADDRESS`), or "
                                        "fix `executor.address` in .vigil/vigil.yaml or the pipeline spec") from None
            return self._client

    def workers(self) -> dict[str, int]:
        """Worker address -> threads, as the scheduler sees them now."""
        return dict(self.client.nthreads())

    def run(self, key: str, factory: TransformFactory, tasks: Sequence[DatumTask], objects: ObjectStore,
            options: RunOptions) -> Iterator[DatumResult]:
        if not tasks:
            return
        client = self.client
        plugin = self._warm(client, key, factory)
        spec = wire.objects_to_json(objects)
        if isinstance(objects, LocalObjectStore):
            spec.update(host=self._host, fsync_remote=objects.fsync)
        reads = _RangeReads(client, self.address, options.lister) if options.lister is not None else None
        batches = [list(tasks[i:i + options.batch_size]) for i in range(0, len(tasks), options.batch_size)]
        # Keep every worker thread busy, with one batch waiting each, but not the whole job in flight: the
        # scheduler's memory stays bounded by the batch size, and a worker that joins gets work at once.
        threads = sum(self.workers().values())
        if not threads:  # Dask queues the batches until a worker joins; say why the job waits
            log.warning("no Dask worker is connected to %s: %s's batches wait for one (`vigil worker %s`)",
                        self.address, key.split(":", 1)[0], self.address)
        window = max(2, 2 * threads)
        pending: dict[Any, list[DatumTask]] = {}
        done = as_completed(loop=client.loop)
        try:
            for batch in batches:
                while len(pending) >= window:
                    yield from self._finished(next(done), pending, objects, options)
                future = client.submit(run_batch, plugin, spec, [wire.task_to_json(t) for t in batch],
                                       dict(options.params), options.tries, reads and reads.address, pure=False,
                                       key=f"vigil-batch-{key.split(':', 1)[0]}-{uuid.uuid4().hex}")
                pending[future] = batch
                done.add(future)
            while pending:
                yield from self._finished(next(done), pending, objects, options)
        finally:
            for future in pending:
                future.cancel()
            if reads is not None:
                reads.close()

    def _finished(self, future: Any, pending: dict[Any, list[DatumTask]], objects: ObjectStore,
                  options: RunOptions) -> list[DatumResult]:
        batch = pending.pop(future)
        try:
            results = [wire.result_from_json(r) for r in future.result()]
        except Exception as exc:  # the batch could not run (its workers kept dying, or set-up failed there)
            self._plugins.clear()  # register again with the next job (e.g. after a scheduler restart)
            error = f"{exc.__class__.__name__}: {exc}"
            log.warning("a Dask batch of %d datum(s) failed: %s", len(batch), error)
            return [DatumResult(t.datum_id, "FAILED", {}, options.tries, 0.0, error=error.splitlines()[0][:500],
                                log=error) for t in batch]
        if isinstance(objects, LocalObjectStore):  # flushed by the runner's next sync, before any commit
            objects.adopt(oid for r in results for oid, _ in r.outputs.values())
        return results

    def _warm(self, client: Client, key: str, factory: TransformFactory) -> str:
        """Register the pipeline version's transform on every worker (set up there once); retire the plugin of
        its previous version. Returns the plugin's name."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        pipeline = key.split(":", 1)[0]
        name = f"{PLUGIN_PREFIX}{pipeline}-{digest}"
        if self._plugins.get(pipeline) == name:
            return name
        try:
            client.register_plugin(WarmTransform(factory), name=name)
        except Exception as exc:
            raise PipelineError(f"the transform of {pipeline} could not be set up on the Dask workers: "
                                f"{exc.__class__.__name__}: {exc}",
                                "see the stage's parameters; the workers need Vigil and the stage's "
                                "dependencies installed (`pip install 'vigil[dask]'`)") from exc
        old = self._plugins.get(pipeline)
        self._plugins[pipeline] = name
        if old is not None:
            try:
                client.unregister_worker_plugin(old)
            except Exception:  # another runner retired it first
                log.debug("could not retire %s", old, exc_info=True)
        return name

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._own_client:
            client.close()


__all__ = ["DaskExecutor", "WarmTransform", "run_batch"]
