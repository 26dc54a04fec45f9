"""Per-track rules: one alert per tracked object, and loitering (``min_dwell``), judged over a replay.

Pure: :func:`tracked_events` takes a camera's frames in time order, each with the track id of each of its
detections (``None``: not tracked), and returns the events that fire ON THE LAST FRAME. A rule fires for a track
at the first frame where the track's object passes the rule's filters (class, score, area, zone, time window)
and has been doing so for at least ``min_dwell`` seconds (since the first frame of the replay where it did);
it never fires again for that track within the replay. The event names the track, and its evidence is the
track's best matching frame so far (highest score).

Consistency with a bounded look-back (why a frame judged alone agrees with its neighbours): the threat stage
replays each frame's camera from the start of the previous ``tracking.window_seconds`` epoch
(:func:`replay_start`), so all frames of one epoch replay prefixes of ONE sequence: the same associations, the
same track ids, and so exactly one frame of the epoch finds itself the first qualifying frame of a track. A
frame of the next epoch replays from a later start; its window still covers at least ``window_seconds`` before
it, longer than any ``min_dwell``, so a track that already qualified before the new start qualifies again
within the replay before any frame of the new epoch and fires no second alert. What a bounded look-back cannot
know: a track that stops matching for a whole window and matches again is a new alert (as a firing more than
the window ago cannot suppress a cooldown), and a track alive across an epoch boundary is re-identified from
the new start (its id is made from its first frame in the replay: ``<ts>.<n>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from vigil.domain.rules import Rule, RuleSet
from vigil.domain.threat import FrameFacts, ThreatEvent, event_id, matching_mask


@dataclass(frozen=True)
class TrackedFrame:
    """A frame's facts and the track id of each of its detections (aligned with ``facts.detections``)."""

    facts: FrameFacts
    track_ids: tuple[str | None, ...]

    def __post_init__(self) -> None:
        if len(self.track_ids) != len(self.facts.detections):
            raise ValueError(f"{self.facts.source}: {len(self.track_ids)} track ids for "
                             f"{len(self.facts.detections)} detections")


def replay_start(ts: int, window_seconds: int) -> int:
    """Where the replay behind a frame at ``ts`` begins: the start of the epoch before the frame's epoch."""
    return max((ts // window_seconds - 1) * window_seconds, 0)


@dataclass
class _TrackMemory:
    first: int  # ts of the first frame where the track matched the rule
    best: tuple[float, FrameFacts, int] | None = None  # (score, frame, detection index)
    fired: bool = False
    extras: dict[str, Any] = field(default_factory=dict)


def _matches(rule: Rule, frame: TrackedFrame, ruleset: RuleSet) -> dict[str, int]:
    """track id -> index of its detection passing ``rule``'s filters in ``frame`` (untracked ones ignored)."""
    facts = frame.facts
    local = datetime.fromtimestamp(facts.ts, tz=ruleset.timezone_for(facts.device))
    if not len(facts.detections) or not rule.active_at(local):
        return {}
    out: dict[str, int] = {}
    for i in np.flatnonzero(matching_mask(rule, facts)).tolist():
        track = frame.track_ids[i]
        if track is not None and track not in out:
            out[track] = i
    return out


def _event(rule: Rule, frame: FrameFacts, track: str, index: int, memory: _TrackMemory,
           rules_version: str) -> ThreatEvent:
    record = {k: v for k, v in frame.detections.filter(np.arange(len(frame.detections)) == index)
              .to_records()[0].items() if k in ("label", "class_id", "score", "box")}
    assert memory.best is not None
    score, best, bi = memory.best
    best_record = best.detections.filter(np.arange(len(best.detections)) == bi).to_records()[0]
    evidence = {"source": best.source, "ts": best.ts, "score": round(score, 6), "box": best_record["box"],
                "label": best_record["label"]}
    return ThreatEvent(
        event_id=event_id(rules_version, rule.id, frame.device, frame.ts, frame.source, track),
        rule_id=rule.id, rules_version=rules_version, severity=rule.severity, tenant=frame.tenant,
        device=frame.device, ts=frame.ts, source=frame.source, objects=({**record, "track_id": track},),
        notify=rule.notify, description=rule.description,
        extra={"track_id": track, "dwell_seconds": frame.ts - memory.first, "evidence": evidence},
    )


def tracked_events(ruleset: RuleSet, frames: Sequence[TrackedFrame], *, rules_version: str) -> list[ThreatEvent]:
    """The per-track events that fire on ``frames[-1]`` (rule order, then track id), judged over ``frames``
    (one camera, time order). Only rules with :attr:`Rule.tracked` that apply to the camera are judged."""
    if not frames:
        return []
    last = frames[-1].facts
    rules = [r for r in ruleset.rules if r.tracked and r.applies_to(last.tenant, last.device)]
    events: list[ThreatEvent] = []
    for rule in rules:
        memory: dict[str, _TrackMemory] = {}
        for position, frame in enumerate(frames):
            for track, index in _matches(rule, frame, ruleset).items():
                mem = memory.setdefault(track, _TrackMemory(first=frame.facts.ts))
                score = float(frame.facts.detections.score[index])
                if mem.best is None or score > mem.best[0]:
                    mem.best = (score, frame.facts, index)
                if not mem.fired and frame.facts.ts - mem.first >= rule.min_dwell:
                    mem.fired = True
                    if position == len(frames) - 1:
                        events.append(_event(rule, frame.facts, track, index, mem, rules_version))
    return events


__all__ = ["TrackedFrame", "replay_start", "tracked_events"]
