"""Live ingest: one source's frames sampled, stored and committed in small groups, and the sources of a
server each supervised on its own thread.

:class:`Ingestor` keeps the first frame of each ``1/fps`` slot (every frame without ``fps``), writes its blob
to the object store at once, and hands the staged frames to the SAME group committer camera push uses
(:class:`~vigil.ingest.committer.GroupCommitter`), ``group_frames`` at a time or once the oldest has waited
``group_seconds``: a commit costs per group, not per frame, and a quiet camera's frame still lands within
``group_seconds``. Paths are push's (:func:`~vigil.ingest.frames.frame_path`), with milliseconds in the folder
when frames may come faster than one a second. A group whose commit fails is queued again (its blobs are
stored already), so nothing a source delivered is dropped while the process lives.

:class:`LiveSources` runs the ``sources:`` of ``.vigil/vigil.yaml`` inside ``vigil serve``: one thread each; a
source that fails (a bug, a folder that is not there yet) is logged and restarted with capped back-off, and
never stops the others or the server.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from vigil.domain.sources import SourceConfig
from vigil.ingest.committer import Ack, GroupCommitter, Staged
from vigil.ingest.frames import frame_path
from vigil.ingest.sources import Backoff, Source, SourceFrame, SourceStats, open_source
from vigil.store.store import Store

log = logging.getLogger(__name__)

CommitterFor = Callable[[str], GroupCommitter]


@dataclass
class _Pending:
    staged: list[Staged] = field(default_factory=list)
    done: list[Callable[[], None]] = field(default_factory=list)
    since: float = 0.0  # monotonic time the oldest waiting frame was staged


class Ingestor:
    """One source into ``committer``'s repo as camera ``camera`` (see the module docstring)."""

    def __init__(self, source: Source, camera: str, store: Store, committer: GroupCommitter, *,
                 fps: float | None = None, group_frames: int = 25, group_seconds: float = 1.0,
                 precise: bool | None = None) -> None:
        self.source = source
        self.camera = camera
        self.store = store
        self.committer = committer
        self.fps = fps
        self.group_frames = group_frames
        self.group_seconds = group_seconds
        self.precise = (fps is None or fps > 1) if precise is None else precise
        self.stats: SourceStats = source.stats
        self._lock = threading.Lock()
        self._pending = _Pending()
        self._paths: set[str] = set()  # paths in the waiting group (a repeated frame is staged once)
        self._outstanding: set[Future[list[Ack]]] = set()
        self._slot = -1
        self._t0: float | None = None
        self._finished = threading.Event()

    def keep(self, ts: float) -> bool:
        """Whether the frame stamped ``ts`` is the first of its ``1/fps`` slot (always without ``fps``)."""
        if self.fps is None:
            return True
        if self._t0 is None:
            self._t0 = ts
        slot = math.floor((ts - self._t0) * self.fps + 1e-9)
        if slot <= self._slot:
            return False
        self._slot = slot
        return True

    def path_of(self, ts: float, oid: str, ext: str) -> str:
        seconds = math.floor(ts)
        millis = min(round((ts - seconds) * 1000), 999) if self.precise else None
        return frame_path(self.camera, seconds, oid, ext, millis)

    def run(self, stop: threading.Event) -> SourceStats:
        """Ingest until the source is exhausted or ``stop`` is set; then commit what waits and wait for it."""
        self.store.create_repo(self.committer.repo, "camera frames", exist_ok=True)
        flusher = threading.Thread(target=self._flush_when_due, name=f"vigil-flush-{self.camera}",
                                   daemon=True)
        self._finished.clear()
        flusher.start()
        try:
            for frame in self.source.frames(stop):
                if self.keep(frame.ts):
                    self._stage(frame)
        finally:
            self._finished.set()
            flusher.join()
            self.flush()
            self.wait()
        return self.stats

    def _stage(self, frame: SourceFrame) -> None:
        data, ext = frame.encode()
        oid = self.store.objects.put_bytes(data)
        path = self.path_of(frame.ts, oid, ext)
        self.stats.frame_out()
        with self._lock:
            if path in self._paths:
                return
            if not self._pending.staged:
                self._pending.since = time.monotonic()
            self._paths.add(path)
            self._pending.staged.append(Staged(path, oid, len(data)))
            if frame.done is not None:
                self._pending.done.append(frame.done)
            full = len(self._pending.staged) >= self.group_frames
        if full:
            self.flush()

    def _flush_when_due(self) -> None:
        tick = min(self.group_seconds / 4, 0.25)
        while not self._finished.wait(tick):
            with self._lock:
                due = bool(self._pending.staged) and time.monotonic() - self._pending.since >= self.group_seconds
            if due:
                self.flush()

    def flush(self) -> None:
        """Hand the waiting group to the committer now."""
        with self._lock:
            group, self._pending, self._paths = self._pending, _Pending(), set()
        if not group.staged:
            return
        try:
            future = self.committer.submit(group.staged)
        except Exception as exc:  # the committer is closed (shutting down): keep the group for a retry
            self._failed(group, exc)
            return
        with self._lock:
            self._outstanding.add(future)
        future.add_done_callback(lambda f, g=group: self._committed(f, g))  # type: ignore[misc]

    def _committed(self, future: Future[list[Ack]], group: _Pending) -> None:
        with self._lock:
            self._outstanding.discard(future)
        exc = future.exception()
        if exc is not None:
            self._failed(group, exc)
            return
        self.stats.count("commits")
        with self.stats._lock:
            self.stats.committed += len(group.staged)
        for done in group.done:
            try:
                done()
            except OSError as err:
                log.warning("%s: cannot remove an ingested file: %s", self.camera, err)

    def _failed(self, group: _Pending, exc: BaseException) -> None:
        self.stats.count("errors", f"commit: {exc}")
        log.warning("%s: commit of %d frame(s) failed (%s); queued again", self.camera, len(group.staged), exc)
        with self._lock:  # back in front of what came since; blobs are stored, only the commit is retried
            self._pending.staged[:0] = group.staged
            self._pending.done[:0] = group.done
            self._paths.update(s.path for s in group.staged)
            self._pending.since = time.monotonic()

    def wait(self, timeout: float = 60.0) -> None:
        """Wait until every group handed over is committed (or failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                outstanding = list(self._outstanding)
            if not outstanding:
                return
            for future in outstanding:
                with contextlib.suppress(Exception):  # counted and logged by _committed
                    future.result(max(0.0, deadline - time.monotonic()))


def ingestor_for(config: SourceConfig, store: Store, committer_for: CommitterFor, *, start: float | None = None,
                 backoff_first: float = 0.5, stats: SourceStats | None = None) -> Ingestor:
    """The ingestor of a configured source (``stats``: carried over from a previous run of the same source)."""
    source = open_source(config, start=start, backoff_first=backoff_first)
    if stats is not None:
        source.stats = stats
    fast = config.fps is None or config.fps > 1
    if config.kind == "snapshot":
        fast = config.interval < 1 and fast
    return Ingestor(source, config.camera, store, committer_for(config.repo), fps=config.fps,
                    group_frames=config.group_frames, group_seconds=config.group_seconds,
                    precise=fast and config.kind != "folder")


class LiveSources:
    """The configured sources of one server, each on its own thread (see the module docstring)."""

    def __init__(self, configs: Sequence[SourceConfig], store: Store, committer_for: CommitterFor, *,
                 restart_first: float = 1.0, restart_max: float = 300.0) -> None:
        self.configs = [c for c in configs if c.enabled]
        self.store = store
        self.committer_for = committer_for
        self.restart_first = restart_first
        self.restart_max = restart_max
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ingestors: dict[str, Ingestor] = {}
        self._restarts: dict[str, int] = {}

    def start(self) -> None:
        for config in self.configs:
            thread = threading.Thread(target=self._supervise, args=(config,), name=f"vigil-source-{config.name}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.configs:
            log.info("ingesting from %d source(s): %s", len(self.configs), ", ".join(
                f"{c.name} ({c.kind})" for c in self.configs))

    def _supervise(self, config: SourceConfig) -> None:
        backoff = Backoff(self.restart_first, self.restart_max)
        stats = SourceStats()  # one for every restart: the counters in /metrics only grow
        while not self._stop.is_set():
            try:
                ingestor = ingestor_for(config, self.store, self.committer_for, stats=stats)
                self._ingestors[str(config.name)] = ingestor
                stats = ingestor.run(self._stop)
                if config.kind == "video" and not self._stop.is_set():
                    log.info("source %s: video file ingested (%d frames kept)", config.name, stats.frames_out)
                    return
                backoff.reset()
            except Exception as exc:  # one source never stops the others or the server
                self._restarts[str(config.name)] = self._restarts.get(str(config.name), 0) + 1
                log.error("source %s (%s) failed: %s; restarting in %.1f s", config.name, config.kind, exc,
                          backoff.delay)
            if self._stop.wait(backoff.delay):
                return
            backoff.delay = min(backoff.delay * 2, backoff.cap)

    def stats(self) -> list[dict[str, Any]]:
        """Each source's name, kind, camera and stats (restarts: times its thread restarted it after a failure)."""
        out = []
        for config in self.configs:
            ingestor = self._ingestors.get(str(config.name))
            stats = ingestor.stats.to_dict() if ingestor is not None else SourceStats().to_dict()
            out.append({"name": config.name, "kind": config.kind, "camera": config.camera,
                        "restarts": self._restarts.get(str(config.name), 0), **stats})
        return out

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every source, committing what each has staged."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))


__all__ = ["Ingestor", "LiveSources", "ingestor_for"]
