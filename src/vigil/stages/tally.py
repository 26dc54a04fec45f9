"""Event counts of threat frames that can be added to AND taken from: what makes the report incremental.

A :class:`Tally` holds every count the report shows, keyed as :class:`~vigil.stages.report.ReportData` keys
them, plus the frames evaluated per camera (a camera stays in the report while it has a frame). Adding a frame
then removing it gives back the same tally, so the report after a commit equals the report computed from
scratch over the same frames, byte for byte, while costing only the changed frames.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo


class Tally:
    """Mutable counts; ``sign`` +1 adds a frame, -1 removes one added before."""

    def __init__(self, timezone: str, tz: ZoneInfo) -> None:
        self.timezone = timezone
        self.tz = tz
        self.frames = 0
        self.with_events = 0
        self.frames_per_device: Counter[str] = Counter()
        self.device: Counter[str] = Counter()
        self.rule: Counter[str] = Counter()
        self.severity: Counter[str] = Counter()
        self.day_device: Counter[tuple[str, str]] = Counter()
        self.day_device_class: Counter[tuple[str, str, str]] = Counter()
        self.skipped: set[str] = set()

    def add(self, frame: Mapping[str, Any], sign: int = 1) -> None:
        """Count (``sign`` 1) or uncount (-1) one checked threat frame record."""
        name, events = frame.get("camera") or frame["device"], frame["events"]
        self.frames += sign
        self.with_events += sign * bool(events)
        self.frames_per_device[name] += sign
        self.device[name] += sign * len(events)
        day = datetime.fromtimestamp(frame["ts"], UTC).astimezone(self.tz).date().isoformat()
        for event in events:
            self.rule[str(event.get("rule_id", "unknown"))] += sign
            self.severity[str(event.get("severity", "unknown"))] += sign
            self.day_device[day, name] += sign
            for label in sorted({str(o.get("label", "unknown")) for o in event.get("objects") or ()}):
                self.day_device_class[day, name, label] += sign

    def per_device(self) -> dict[str, int]:
        """Events per camera, for every camera with a frame (0 when it raised nothing), sorted."""
        return {d: self.device[d] for d in sorted(self.frames_per_device) if self.frames_per_device[d] > 0}

    @classmethod
    def load(cls, doc: Mapping[str, Any], tz: ZoneInfo) -> Tally:
        """The tally behind a report's JSON (``ReportData.to_dict()`` of format 2)."""
        t = cls(str(doc["timezone"]), tz)
        t.frames = int(doc["frames"]["evaluated"])
        t.with_events = int(doc["frames"]["with_events"])
        t.frames_per_device.update({str(k): int(v) for k, v in doc["frames_per_device"].items()})
        t.device.update({str(k): int(v) for k, v in doc["per_device"].items()})
        t.rule.update({str(k): int(v) for k, v in doc["per_rule"].items()})
        t.severity.update({str(k): int(v) for k, v in doc["per_severity"].items()})
        for day, entry in doc["days"].items():
            for device, counts in entry["devices"].items():
                t.day_device[day, device] = int(counts["events"])
                for cls_, n in counts["classes"].items():
                    t.day_device_class[day, device, cls_] = int(n)
        t.skipped = set(doc["skipped_files"])
        return t


def positive(counts: Counter[Any]) -> dict[Any, int]:
    """The counts above zero, sorted by key (what a from-scratch count would hold)."""
    return {k: n for k, n in sorted(counts.items()) if n > 0}


__all__ = ["Tally", "positive"]
