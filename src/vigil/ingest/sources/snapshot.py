"""A camera's snapshot URL (``http(s)://.../snapshot.jpg``) polled every ``interval`` seconds with httpx.

Each answer that is a JPEG or PNG is a frame, stamped with the time it arrived. A failed poll (refused,
timed out, an HTTP error, not a picture) is counted and retried with capped exponential back-off; the first
good answer resets it. Credentials in the URL (``http://user:pass@cam/...``) are sent as HTTP basic auth.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import httpx

from vigil.errors import UnsupportedMediaError, redact
from vigil.ingest.frames import sniff
from vigil.ingest.sources.base import Backoff, SourceFrame, SourceStats

log = logging.getLogger(__name__)


class SnapshotSource:
    kind = "snapshot"

    def __init__(self, url: str, *, interval: float = 1.0, open_timeout: float = 10.0, read_timeout: float = 10.0,
                 backoff_max: float = 60.0) -> None:
        self.url = url
        self.interval = interval
        self.timeout = httpx.Timeout(read_timeout, connect=open_timeout)
        self.backoff = Backoff(min(max(interval, 0.5), backoff_max), backoff_max)
        self.stats = SourceStats()

    def _poll(self, client: httpx.Client) -> bytes:
        response = client.get(self.url)
        response.raise_for_status()
        data = response.content
        sniff(data)  # UnsupportedMediaError: an error page, a login form...
        return data

    def frames(self, stop: threading.Event) -> Iterator[SourceFrame]:
        failing = False
        with httpx.Client(timeout=self.timeout, follow_redirects=True) as client:
            next_poll = time.monotonic()
            while not stop.is_set():
                self.stats.set_state("streaming" if not failing else "connecting")
                try:
                    data = self._poll(client)
                except (httpx.HTTPError, UnsupportedMediaError) as exc:
                    self.stats.count("errors", f"poll: {exc}")
                    if not failing:
                        self.stats.count("stalls")
                    failing = True
                    log.warning("snapshot %s: %s; retrying in %.1f s", redact(self.url), exc, self.backoff.delay)
                    if self.backoff.wait(stop, self.stats):
                        break
                    self.stats.count("reconnects")
                    next_poll = time.monotonic()
                    continue
                failing = False
                self.backoff.reset()
                self.stats.frame_in()
                ext = sniff(data)
                yield SourceFrame(time.time(), lambda data=data, ext=ext: (data, ext))  # type: ignore[misc]
                next_poll += self.interval
                if stop.wait(max(0.0, next_poll - time.monotonic())):
                    break
                next_poll = max(next_poll, time.monotonic() - self.interval)  # no burst after a slow poll
        self.stats.set_state("stopped")


__all__ = ["SnapshotSource"]
