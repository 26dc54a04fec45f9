"""The embedded executor: a pool of threads in this process, each with its own warm transform.

Transforms are cached by key (pipeline name + version), so a model is loaded once per worker and stays loaded
across jobs (Pachyderm's process-per-datum start-up is what this avoids). Heavy stages release the GIL
(onnxruntime, OpenCV decoding) and command transforms run in subprocesses, so threads give real parallelism.

Once a worker's transform is warm, the process's heap so far (modules, models, sessions: all long-lived) is
frozen out of Python's cyclic garbage collector (``gc.freeze``). Without that, each full collection re-scans
that heap and stalls every worker for 75-100 ms on a 2-core machine, several times per job.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from vigil.pipeline.transform import (
    DatumResult,
    DatumTask,
    RunOptions,
    Transform,
    TransformFactory,
    process_with_retries,
)
from vigil.store.objects import ObjectStore

log = logging.getLogger(__name__)


class LocalExecutor:
    """Runs batches on up to ``max_workers`` threads (a pipeline's parallelism_spec caps it further)."""

    def __init__(self, max_workers: int = 2) -> None:
        self.max_workers = max(1, max_workers)
        self._warm: dict[tuple[str, int], Transform] = {}
        self._lock = threading.Lock()

    def _transform(self, key: str, factory: TransformFactory, slot: int) -> Transform:
        with self._lock:
            transform = self._warm.get((key, slot))
        if transform is None:
            transform = factory()
            transform.setup()
            with self._lock:
                self._warm[(key, slot)] = transform
            gc.freeze()  # the heap is now mostly long-lived: keep full collections from re-scanning it
        return transform

    def _process(self, key: str, factory: TransformFactory, slot: int, batch: Sequence[DatumTask],
                 objects: ObjectStore, options: RunOptions) -> list[DatumResult]:
        """One batch on worker ``slot`` (subclasses run it elsewhere, e.g. in a container)."""
        return process_with_retries(self._transform(key, factory, slot), batch, objects, options)

    def run(self, key: str, factory: TransformFactory, tasks: Sequence[DatumTask], objects: ObjectStore,
            options: RunOptions) -> Iterator[DatumResult]:
        if not tasks:
            return
        batches = [tasks[i:i + options.batch_size] for i in range(0, len(tasks), options.batch_size)]
        workers = max(1, min(self.max_workers, options.parallelism, len(batches)))
        if workers == 1:
            for batch in batches:
                yield from self._process(key, factory, 0, batch, objects, options)
            return
        slots = list(range(workers))
        free = threading.Semaphore(workers)
        slot_lock = threading.Lock()

        def work(batch: Sequence[DatumTask]) -> list[DatumResult]:
            with slot_lock:
                slot = slots.pop()
            try:
                return self._process(key, factory, slot, batch, objects, options)
            finally:
                with slot_lock:
                    slots.append(slot)
                free.release()

        with ThreadPoolExecutor(workers, thread_name_prefix="vigil-worker") as pool:
            pending: set[Future[list[DatumResult]]] = set()
            for batch in batches:
                free.acquire()
                pending.add(pool.submit(work, batch))
                done, pending = wait(pending, timeout=0, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield from fut.result()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield from fut.result()

    def close(self) -> None:
        with self._lock:
            self._warm.clear()
