"""Multi-object tracking of a camera's detections: ByteTrack (Roboflow ``supervision``), replayed per frame.

Why this package: ``supervision``'s ByteTrack (Apache-2.0) is a maintained implementation whose id counters are
per tracker instance, so a replay from an empty tracker is deterministic (numpy/scipy only, no GPU). Its
successor, the ``trackers`` package, requires ``opencv-python``, which would shadow the headless OpenCV Vigil
ships; norfair requires numpy < 2. supervision >= 0.31 dropped ByteTrack: the ``track`` extra pins 0.30.x, and
this module is the one place to switch to ``trackers`` once it works with headless OpenCV. supervision warns
that the class is deprecated (a FutureWarning, once per tracker): silenced here, where that choice is made.

Track ids are made by the replay, not by the tracker's counters: ``<ts>.<n>`` = the frame where the track first
appeared in the replay and its rank among the tracks born there. :func:`replay` caches tracker states by the
chain of frames fed (path and blob id of each), so the replay behind the next frame of an epoch costs one
update; the cache changes speed, never ids (a state is reused only for exactly the same frames in the same
order).
"""

from __future__ import annotations

import copy
import hashlib
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigil.domain.detections import Detections
from vigil.domain.rules import Tracking
from vigil.errors import UsageError

INSTALL_HINT = "install the tracking extra: pip install 'vigil[track]'"


def _bytetrack(settings: Tracking) -> Any:
    try:
        from supervision.tracker.byte_tracker.core import ByteTrack
    except ImportError:
        raise UsageError("rules with per_track or min_dwell need the supervision package", INSTALL_HINT) from None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated upstream in favour of `trackers` (see above)
        return ByteTrack(track_activation_threshold=settings.activation_score, lost_track_buffer=settings.lost_frames,
                         minimum_matching_threshold=1.0 - settings.match_iou, frame_rate=30,
                         minimum_consecutive_frames=1)


@dataclass
class TrackerState:
    """A tracker after some frames, the ids given so far, and each frame's track ids."""

    tracker: Any
    names: dict[int, str] = field(default_factory=dict)  # tracker's external id -> our id
    per_frame: tuple[tuple[str | None, ...], ...] = ()

    def step(self, ts: int, dets: Detections) -> tuple[str | None, ...]:
        """Feed one frame; the track id of each detection (None: not tracked)."""
        import supervision as sv

        ids: list[str | None] = [None] * len(dets)
        if len(dets):
            frame = sv.Detections(xyxy=dets.xyxy.astype(np.float32), confidence=dets.score.astype(np.float32),
                                  class_id=dets.class_id.astype(int), data={"index": np.arange(len(dets))})
        else:
            frame = sv.Detections.empty()
            frame.confidence = np.zeros(0, np.float32)
        tracked = self.tracker.update_with_detections(frame)
        born = 0
        for index, external in sorted(zip(tracked.data.get("index", []), tracked.tracker_id, strict=True)):
            name = self.names.get(int(external))
            if name is None:
                name = self.names[int(external)] = f"{ts}.{born}"
                born += 1
            ids[int(index)] = name
        result = tuple(ids)
        self.per_frame = (*self.per_frame, result)
        return result


class TrackCache:
    """Tracker states by the hash of the frames fed so far; least recently used out first."""

    def __init__(self, max_items: int = 512) -> None:
        self.max_items = max_items
        self._items: OrderedDict[str, TrackerState] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: str) -> TrackerState | None:
        with self._lock:
            state = self._items.get(key)
            if state is not None:
                self._items.move_to_end(key)
            return state

    def put(self, key: str, state: TrackerState) -> None:
        with self._lock:
            self._items[key] = state
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)


_shared = TrackCache()


def shared_tracks() -> TrackCache:
    return _shared


def _chain(previous: str, key: str) -> str:
    return hashlib.sha256(f"{previous}\x1f{key}".encode()).hexdigest()


def replay(frames: Sequence[tuple[str, int, Detections]], settings: Tracking, salt: str,
           cache: TrackCache | None = None) -> tuple[tuple[str | None, ...], ...]:
    """Track ids of each detection of each frame, replaying ``frames`` ((key, ts, detections), time order;
    ``key`` names the frame's content, e.g. path and blob id) from an empty tracker. ``salt`` names everything
    else the result depends on (settings, which detections are fed). Equal inputs give equal ids."""
    cache = cache if cache is not None else shared_tracks()
    keys = []
    key = _chain(salt, settings.model_dump_json())
    for frame_key, _, _ in frames:
        key = _chain(key, frame_key)
        keys.append(key)
    start, state = 0, None
    for i in range(len(keys) - 1, -1, -1):
        state = cache.get(keys[i])
        if state is not None:
            start = i + 1
            break
    cache.hits += start
    cache.misses += len(frames) - start
    state = TrackerState(_bytetrack(settings)) if state is None else copy.deepcopy(state)
    for i in range(start, len(frames)):
        _, ts, dets = frames[i]
        state.step(ts, dets)
        cache.put(keys[i], copy.deepcopy(state))
    return state.per_frame


__all__ = ["TrackCache", "TrackerState", "replay", "shared_tracks"]
