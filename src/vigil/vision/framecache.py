"""Decoded frames shared between stages in one process, so each camera frame is decoded once.

The validate stage must decode every upload to judge it; the detect stage needs the same pixels. Both run in
the same worker process with the local executor, so validate leaves the frame here under its blob id (the
sha256 of the file's bytes) and detect takes it from here. A miss (another process, an evicted frame, a
restarted worker) decodes again with the same :func:`~vigil.vision.image.decode_image`, so a hit and a miss
give identical pixels and identical results: the cache changes speed, never outputs.

Memory is bounded by bytes (``VIGIL_FRAME_CACHE_MB``, default 256; 0 turns the cache off), least recently
used frames first out. Cached arrays are read-only: a stage that draws on a frame must copy it.
"""

from __future__ import annotations

import builtins
import threading
from collections import OrderedDict
from collections.abc import Callable

from vigil.settings import DEFAULT_FRAME_CACHE_MB as DEFAULT_MB
from vigil.settings import FRAME_CACHE_MB as ENV
from vigil.settings import frame_cache_bytes
from vigil.vision.image import BGRImage, decode_image


class FrameCache:
    """Decoded frames by blob id, least recently used evicted first once ``max_bytes`` would be exceeded."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max(0, max_bytes)
        self._frames: OrderedDict[str, BGRImage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._frames)

    @property
    def bytes(self) -> int:
        return self._bytes

    def get(self, oid: str) -> BGRImage | None:
        with self._lock:
            frame = self._frames.get(oid)
            if frame is None:
                self.misses += 1
                return None
            self._frames.move_to_end(oid)
            self.hits += 1
            return frame

    def put(self, oid: str, frame: BGRImage) -> None:
        """Keep ``frame`` (made read-only) as the pixels of blob ``oid``; a frame larger than the whole budget
        is not kept."""
        if frame.nbytes > self.max_bytes:
            return
        frame.flags.writeable = False
        with self._lock:
            old = self._frames.pop(oid, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._frames[oid] = frame
            self._bytes += frame.nbytes
            while self._bytes > self.max_bytes:
                _, evicted = self._frames.popitem(last=False)
                self._bytes -= evicted.nbytes

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def decoded(self, oid: str, read: Callable[[], builtins.bytes]) -> BGRImage:
        """The frame of blob ``oid``: from the cache, else ``decode_image(read())`` (not cached: the one reader
        that needs it has it). Raises what :func:`decode_image` raises."""
        frame = self.get(oid)
        return frame if frame is not None else decode_image(read())


_shared: FrameCache | None = None
_shared_lock = threading.Lock()


def shared_frames() -> FrameCache:
    """This process's frame cache, sized from ``VIGIL_FRAME_CACHE_MB`` when first used."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = FrameCache(frame_cache_bytes())
        return _shared


__all__ = ["DEFAULT_MB", "ENV", "FrameCache", "shared_frames"]
