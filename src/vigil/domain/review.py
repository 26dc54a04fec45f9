"""What the operator's review screen is made of: events grouped per camera and burst, and a camera's liveness.

Pure: no I/O, no clock (``now`` is passed in).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from vigil.domain.health import usual_interval

BURST_GAP = 120  # seconds: events of one camera closer than this belong to one burst
Liveness = Literal["ok", "late", "offline", "unknown"]
SEVERITY_ORDER = ("low", "medium", "high", "critical")


@dataclass
class Burst:
    """Consecutive events (newest first) of one camera, each within ``BURST_GAP`` of the next."""

    camera: str
    events: list[Mapping[str, Any]] = field(default_factory=list)

    @property
    def first_ts(self) -> int:
        return int(self.events[-1]["ts"])

    @property
    def last_ts(self) -> int:
        return int(self.events[0]["ts"])

    @property
    def severity(self) -> str:
        """The highest severity in the burst."""
        return max((str(e["severity"]) for e in self.events),
                   key=lambda s: SEVERITY_ORDER.index(s) if s in SEVERITY_ORDER else -1)


def group_bursts(events: Sequence[Mapping[str, Any]], gap: int = BURST_GAP) -> list[Burst]:
    """Events (newest first) into bursts: a new burst starts when the camera changes or the time gap to the
    previous event of the list is more than ``gap`` seconds. Order is kept, so the screen stays newest first."""
    bursts: list[Burst] = []
    for event in events:
        last = bursts[-1] if bursts else None
        if last is not None and last.camera == event["camera"] and int(last.events[-1]["ts"]) - int(event["ts"]) <= gap:
            last.events.append(event)
        else:
            bursts.append(Burst(str(event["camera"]), [event]))
    return bursts


def liveness(recent: Sequence[int], now: int, *, late_factor: float = 3.0, offline_factor: float = 10.0,
             min_late: float = 60.0, min_offline: float = 300.0) -> tuple[Liveness, float | None]:
    """A camera's state from its recent frame times (ascending) and ``now``, by its usual interval (the median
    gap): ``ok``, ``late`` after ``late_factor`` intervals (at least ``min_late`` s), ``offline`` after
    ``offline_factor`` intervals (at least ``min_offline`` s); ``unknown`` with no frame. Returns the interval too."""
    if not recent:
        return "unknown", None
    interval = usual_interval(recent)
    age = now - recent[-1]
    base = interval if interval is not None else min_late
    if age > max(offline_factor * base, min_offline):
        return "offline", interval
    if age > max(late_factor * base, min_late):
        return "late", interval
    return "ok", interval


__all__ = ["BURST_GAP", "Burst", "Liveness", "group_bursts", "liveness"]
