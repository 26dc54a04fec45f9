"""Video through PyAV (FFmpeg): a video file read once at full speed, and an RTSP stream read live with
reconnects.

A file's frames are stamped ``start + the frame's presentation time``; a stream's with the wall clock when each
frame is decoded (cameras' own clocks drift, and the offline check compares frame times with the server's
clock). Frames are converted to pixels and JPEG only when the sampler keeps them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vigil.errors import NotFoundError, UsageError, redact
from vigil.ingest.sources.base import Backoff, SourceFrame, SourceStats

log = logging.getLogger(__name__)
JPEG_QUALITY = 90


def _encoder(frame: Any) -> Any:
    def encode() -> tuple[bytes, str]:
        from vigil.vision.image import encode_jpeg

        return encode_jpeg(frame.to_ndarray(format="bgr24"), JPEG_QUALITY), ".jpg"
    return encode


class VideoFileSource:
    """Every frame of a video file, once, as fast as it decodes."""

    kind = "video"

    def __init__(self, path: str | Path, start: float | None = None) -> None:
        self.path = Path(path)
        self.start = start
        self.stats = SourceStats()

    def frames(self, stop: threading.Event) -> Iterator[SourceFrame]:
        import av

        if not self.path.is_file():
            raise NotFoundError(f"no video file {self.path}", "give a video file, an rtsp:// or http(s):// URL, "
                                                              "or folder:PATH")
        try:
            container = av.open(str(self.path))
        except av.error.FFmpegError as exc:
            raise UsageError(f"{self.path} is not a video FFmpeg can read: {exc}",
                             "give an MP4/MKV/AVI... file, or a folder with folder:PATH") from exc
        start = time.time() if self.start is None else self.start
        self.stats.set_state("streaming")
        try:
            if not container.streams.video:
                raise UsageError(f"{self.path} has no video stream", "give a video file")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # frame and slice threads: decoding is most of the work
            first: float | None = None
            for frame in container.decode(stream):
                if stop.is_set():
                    break
                t = float(frame.time) if frame.time is not None else 0.0
                first = t if first is None else first
                self.stats.frame_in()
                yield SourceFrame(start + (t - first), _encoder(frame))
        finally:
            container.close()
            self.stats.set_state("finished")


class RtspSource:
    """A camera's RTSP stream over TCP: reconnects with capped exponential back-off when the connection fails,
    drops or goes silent for ``read_timeout`` seconds (a stall)."""

    kind = "rtsp"

    def __init__(self, url: str, *, open_timeout: float = 10.0, read_timeout: float = 10.0,
                 backoff_max: float = 60.0, backoff_first: float = 0.5) -> None:
        self.url = url
        self.open_timeout = open_timeout
        self.read_timeout = read_timeout
        self.backoff = Backoff(min(backoff_first, backoff_max), backoff_max)
        self.stats = SourceStats()

    def _open(self) -> Any:
        import av

        options = {"rtsp_transport": "tcp",  # UDP loses packets (smeared frames) on busy networks and NAT
                   "timeout": str(int(self.read_timeout * 1_000_000))}  # socket I/O timeout, microseconds
        return av.open(self.url, options=options, timeout=(self.open_timeout, self.read_timeout))

    def frames(self, stop: threading.Event) -> Iterator[SourceFrame]:
        import av

        attempts = 0
        while not stop.is_set():
            if attempts:
                self.stats.count("reconnects")
            attempts += 1
            self.stats.set_state("connecting")
            try:
                container = self._open()
            except (av.error.FFmpegError, OSError) as exc:
                self.stats.count("errors", f"connect: {exc}")
                log.warning("rtsp %s: cannot connect (%s); retrying in %.1f s", _safe(self.url), exc,
                            self.backoff.delay)
                if self.backoff.wait(stop, self.stats):
                    break
                continue
            try:
                yield from self._read(container, stop)
                if not stop.is_set():  # a live stream does not end: the camera went away
                    self.stats.count("stalls", "stream ended")
                    log.warning("rtsp %s: stream ended; reconnecting", _safe(self.url))
            except (av.error.FFmpegError, OSError) as exc:
                self.stats.count("stalls", f"read: {exc}")
                log.warning("rtsp %s: read failed (%s); reconnecting", _safe(self.url), exc)
            finally:
                container.close()
            if not stop.is_set() and self.backoff.wait(stop, self.stats):
                break
        self.stats.set_state("stopped")

    def _read(self, container: Any, stop: threading.Event) -> Iterator[SourceFrame]:
        if not container.streams.video:
            raise OSError("the stream has no video")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        self.stats.set_state("streaming")
        for frame in container.decode(stream):
            if stop.is_set():
                return
            self.stats.frame_in()
            self.backoff.reset()
            yield SourceFrame(time.time(), _encoder(frame))


def _safe(url: str) -> str:
    """The URL without its password (cameras' RTSP URLs carry credentials)."""
    return redact(url)


__all__ = ["RtspSource", "VideoFileSource"]
