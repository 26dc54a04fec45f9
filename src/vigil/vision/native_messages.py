"""Messages that native decoders write straight to file descriptor 2 (libjpeg's "Corrupt JPEG data: 2
extraneous bytes before marker 0xd9", libpng warnings), kept off the terminal: while a decode runs, fd 2 is
a capture file; afterwards the decoder's lines go to the current sink (the datum's log, see :func:`into`), else
to this module's logger at INFO, and anything else written meanwhile (another thread's output) is passed on to
the terminal unchanged.

Decodes on several threads share one capture window (a count under a lock, no serialising of the decodes); a
line is given to the decode that finishes first after it was written, so with concurrent decodes a message
may land in a neighbouring datum's log, never on the terminal and never lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextvars import ContextVar

log = logging.getLogger(__name__)

# libjpeg's warning texts (jerror.h) and libpng's prefix
_DECODER = re.compile(rb"^(Corrupt JPEG data|Premature end of JPEG file|Invalid SOS parameters|Warning: |"
                      rb"Unknown APP|JFIF extension marker|Inconsistent progression|Application transferred|"
                      rb"Unsupported marker|Bogus|libpng warning|libpng error)")
_sink: ContextVar[list[str] | None] = ContextVar("vigil_native_sink", default=None)
_lock = threading.Lock()
_state: dict[str, int] = {"active": 0, "saved": -1, "capture": -1, "cursor": 0}


@contextlib.contextmanager
def into(sink: list[str]) -> Iterator[None]:
    """Decoder messages of decodes run inside go to ``sink`` (a datum's log lines)."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


@contextlib.contextmanager
def captured() -> Iterator[None]:
    """Run a native decode with fd 2 captured (see the module docstring). Where fd 2 cannot be redirected
    (no such descriptor), the decode runs as is."""
    if not _enter():
        yield
        return
    try:
        yield
    finally:
        _leave()


def _enter() -> bool:
    with _lock:
        if _state["active"] == 0:
            try:
                if _state["capture"] < 0:
                    with tempfile.TemporaryFile() as spool:  # already unlinked: only the descriptor remains
                        _state["capture"] = os.dup(spool.fileno())
                sys.stderr.flush()
                _state["saved"] = os.dup(2)
                os.dup2(_state["capture"], 2)
            except (OSError, ValueError, AttributeError):
                return False
        _state["active"] += 1
        return True


def _leave() -> None:
    with _lock:
        capture, saved = _state["capture"], _state["saved"]
        size = os.fstat(capture).st_size
        data = os.pread(capture, size - _state["cursor"], _state["cursor"]) if size > _state["cursor"] else b""
        _state["cursor"] = size
        _state["active"] -= 1
        mine: list[bytes] = []
        other: list[bytes] = []
        for raw in data.splitlines(keepends=True):
            (mine if _DECODER.match(raw) else other).append(raw)
        if other:
            os.write(saved, b"".join(other))
        if _state["active"] == 0:
            os.dup2(saved, 2)
            os.close(saved)
            os.ftruncate(capture, 0)
            os.lseek(capture, 0, os.SEEK_SET)
            _state["cursor"] = 0
    lines = [m.decode("utf-8", "replace").rstrip() for m in mine]
    sink = _sink.get()
    if sink is not None:
        sink.extend(f"decoder: {line}" for line in lines)
    else:
        for line in lines:
            log.info("decoder: %s", line)
