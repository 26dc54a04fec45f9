"""The small interface every live source implements, the frame it yields, its stats and its reconnect policy.

A source yields :class:`SourceFrame` s until it is exhausted (a video file's end) or told to stop; it handles its
own reconnects (counting them in its :class:`SourceStats`) and never raises for a camera that is away: it logs,
backs off and tries again. It raises only for what retrying cannot fix (a video file that does not exist).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from vigil.errors import redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceFrame:
    """One frame as it arrived: its capture time (unix seconds, sub-second) and how to get its encoded bytes.
    ``encode`` is called only for frames that are kept, so skipped frames of a stream are never converted."""

    ts: float
    encode: Callable[[], tuple[bytes, str]]  # (JPEG/PNG bytes, ".jpg" | ".png")
    name: str | None = None  # the file name it came with (snapshots, watched folders), if any
    done: Callable[[], None] | None = None  # called once the frame is committed (a watched folder may remove it)


@dataclass
class SourceStats:
    """What a source did so far (read by /metrics and the cameras index while it runs; thread-safe)."""

    frames_in: int = 0  # frames received (decoded or downloaded)
    frames_out: int = 0  # frames kept and handed to the committer
    committed: int = 0  # frames in a durable commit
    commits: int = 0
    reconnects: int = 0  # connection attempts after the first
    stalls: int = 0  # reads that timed out or streams that ended while live
    errors: int = 0  # failed attempts (connect, read, commit)
    state: str = "starting"  # connecting, streaming, backoff, stopped, finished
    last_frame: float | None = None  # wall-clock time the newest frame arrived
    last_error: str | None = None
    _arrivals: deque[tuple[float, bool]] = field(default_factory=lambda: deque(maxlen=512), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def frame_in(self) -> None:
        now = time.time()
        with self._lock:
            self.frames_in += 1
            self.last_frame = now
            self._arrivals.append((now, False))

    def frame_out(self) -> None:
        with self._lock:
            self.frames_out += 1
            if self._arrivals:
                self._arrivals[-1] = (self._arrivals[-1][0], True)

    def count(self, what: str, error: str | None = None) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)
            if error is not None:
                self.last_error = redact(error)  # camera URLs carry passwords

    def set_state(self, state: str) -> None:
        self.state = state

    def rates(self, window: float = 10.0, now: float | None = None) -> tuple[float, float]:
        """(fps in, fps out) over the last ``window`` seconds."""
        now = time.time() if now is None else now
        with self._lock:
            recent = [kept for t, kept in self._arrivals if now - t <= window]
        return len(recent) / window, sum(recent) / window

    def to_dict(self) -> dict[str, Any]:
        fps_in, fps_out = self.rates()
        with self._lock:
            return {"state": self.state, "frames_in": self.frames_in, "frames_out": self.frames_out,
                    "committed": self.committed, "commits": self.commits, "reconnects": self.reconnects,
                    "stalls": self.stalls, "errors": self.errors, "last_frame": self.last_frame,
                    "last_error": self.last_error, "fps_in": round(fps_in, 2), "fps_out": round(fps_out, 2)}


class Source(Protocol):
    """Where frames come from. ``kind`` names it in stats and logs."""

    kind: str
    stats: SourceStats

    def frames(self, stop: threading.Event) -> Iterator[SourceFrame]:
        """Frames in arrival order until exhausted or ``stop`` is set (checked at least every read timeout)."""
        ...


class Backoff:
    """Capped exponential back-off: ``first``, 2x, 4x, ... at most ``cap`` seconds; ``reset`` after success."""

    def __init__(self, first: float = 0.5, cap: float = 60.0) -> None:
        self.first = first
        self.cap = cap
        self.delay = first

    def reset(self) -> None:
        self.delay = self.first

    def wait(self, stop: threading.Event, stats: SourceStats) -> bool:
        """Sleep the current delay (waking on ``stop``) and double it; True when stopped meanwhile."""
        stats.set_state("backoff")
        delay, self.delay = self.delay, min(self.delay * 2, self.cap)
        return stop.wait(delay)


__all__ = ["Backoff", "Source", "SourceFrame", "SourceStats"]
