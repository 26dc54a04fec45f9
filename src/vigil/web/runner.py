"""The runner inside ``vigil serve``: pipelines and duties (indexes, alert delivery) run continuously on a
background thread, and stop gracefully.

Stopping: the runner is asked to stop after its current pass and given ``grace`` seconds to finish the job it
is running; if it has not, ``KeyboardInterrupt`` is raised in its thread, so the job is marked KILLED (its
finished datums are kept and reused) and its lease handed back, exactly as a Ctrl-C of ``vigil run`` does.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable

from vigil.app import App
from vigil.pipeline.runner import RunReport

log = logging.getLogger(__name__)


class BackgroundRunner:
    def __init__(self, app: App, *, interval: float = 0.5,
                 on_report: Callable[[RunReport], None] | None = None,
                 on_pass: Callable[[], None] | None = None) -> None:
        self.app = app
        self.interval = interval
        self.on_report = on_report
        self.on_pass = on_pass
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-runner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _should_stop(self) -> bool:
        if self.on_pass is not None:
            self.on_pass()
        return self._stop.is_set()

    def _run(self) -> None:
        try:
            self.app.watch(interval=self.interval, should_stop=self._should_stop, on_report=self.on_report)
        except KeyboardInterrupt:
            log.warning("runner interrupted: its job was marked KILLED and its lease handed back")
        except Exception:
            log.exception("the runner stopped on an unexpected error")

    def stop(self, grace: float = 20.0) -> None:
        """Stop after the current pass; interrupt the running job after ``grace`` seconds."""
        self._stop.set()
        if not self._thread.is_alive():
            return
        self._thread.join(grace)
        if self._thread.is_alive() and self._thread.ident is not None:
            log.warning("runner still busy after %.0f s: interrupting its job", grace)
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread.ident),
                                                       ctypes.py_object(KeyboardInterrupt))
            self._thread.join(5.0)
        if self._thread.is_alive():  # blocked in a wait the interrupt cannot reach: hand the work back ourselves
            for pipeline in self.app.runner.hand_back():
                log.warning("job of %s marked KILLED and its lease handed back", pipeline)


__all__ = ["BackgroundRunner"]
