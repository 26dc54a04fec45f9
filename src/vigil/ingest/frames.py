"""Pushed frames: what format the bytes are, when the frame was taken, and where it goes in the images repo.

A pushed frame lands at ``/<camera>/<ts>-<sha256 prefix>/<camera>_<ts>.<ext>``: the file name is the one the
validate stage reads the camera and time from (:mod:`vigil.domain.identity`: ``<tenant>-<device>_<seconds>``
for a tenant's camera), and the folder makes the path unique per content, so two different frames of one camera
in one second are both kept (validate renames the second, see :mod:`vigil.stages.frames`) while the same frame
pushed twice (a retry after a lost reply) is stored once. Folders sort by time within a camera.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from vigil.domain.identity import MAX_TS, parse_name, to_unix
from vigil.errors import UnsupportedMediaError, UsageError

_MAGIC = ((b"\xff\xd8\xff", ".jpg"), (b"\x89PNG\r\n\x1a\n", ".png"))
_NUMBER = re.compile(r"^[0-9]{1,12}(\.[0-9]*)?$")


def sniff(data: bytes) -> str:
    """The file extension for JPEG or PNG bytes (from their magic numbers); ``UnsupportedMediaError`` else."""
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    what = "no bytes" if not data else f"bytes starting {data[:8].hex()}"
    raise UnsupportedMediaError(f"a frame must be a JPEG or PNG picture, got {what}",
                                "send the camera's JPEG/PNG as the request body (or as multipart files)")


def parse_timestamp(text: str, where: str) -> int:
    """Unix seconds from ``text``: a number of seconds, or ISO-8601 (a missing offset means UTC)."""
    text = text.strip()
    try:
        ts = int(float(text)) if _NUMBER.match(text) else to_unix(datetime.fromisoformat(text), UTC)
    except (ValueError, OverflowError, OSError):
        ts = -1
    if not 0 <= ts <= MAX_TS:
        raise UsageError(f"{where}: {text!r} is not a time", "give unix seconds or ISO-8601, e.g. 2017-11-28T17:44:58Z")
    return ts


@dataclass(frozen=True)
class Frame:
    """One pushed frame, ready to store: bytes, extension and capture time (unix seconds)."""

    camera: str
    ts: int
    ext: str
    data: bytes
    source: str  # where ts came from: filename, header, query, exif, arrival


def exif_time(data: bytes) -> int | None:
    """Unix seconds of the picture's EXIF ``DateTimeOriginal`` (read as UTC: cameras keep no zone), if it has a
    usable one."""
    from vigil.vision.quality import capture_time

    taken = capture_time(data)
    if taken is None:
        return None
    try:
        ts = to_unix(taken, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return ts if 0 <= ts <= MAX_TS else None


def name_time(filename: str | None) -> int | None:
    """The time stamp of a ``<camera>_<seconds>.<ext>`` file name (a multipart part's), if it follows it."""
    identity = parse_name(filename) if filename else None
    return identity.ts if identity is not None else None


def frame_path(camera: str, ts: int, oid: str, ext: str, millis: int | None = None) -> str:
    """Where a frame is stored in the images repo (see the module docstring). ``millis``: the capture time's
    milliseconds, for sources faster than a frame a second; they go in the folder (``<ts>.<mmm>-<sha>``, which
    sorts in time order), while the file name keeps the whole seconds validate reads."""
    when = f"{ts:010d}" if millis is None else f"{ts:010d}.{millis:03d}"
    return f"/{camera}/{when}-{oid[:12]}/{camera}_{ts:010d}{ext}"


__all__ = ["Frame", "exif_time", "frame_path", "name_time", "parse_timestamp", "sniff"]
