"""Threat evaluation: apply a :class:`~vigil.domain.rules.RuleSet` to one frame's detections.

Pure and deterministic: :func:`evaluate` takes the frame, the rule set and the previous :class:`ThreatState`
and returns the events plus a new state (the input state is never modified). The same frames in the same order
give the same events, and a state saved with :meth:`ThreatState.to_dict` and restored with
:meth:`ThreatState.from_dict` continues exactly as the original would.

Rules judged per tracked object (``per_track``, ``min_dwell``) are evaluated by :mod:`vigil.domain.tracks`,
camera-health rules by :mod:`vigil.domain.health`; :func:`evaluate` skips both.

A rule *matches* a frame when the tenant/device patterns, a time window (if any) and at least ``min_count``
objects passing the class, score, area and zone filters all hold. It *fires* when it matches, persistence
holds (the rule matched in at least ``frames`` frames, this one included, whose timestamps lie within
``seconds`` of this frame's: ``ts - t <= seconds``), and the last firing for the same rule and device is at
least ``cooldown_seconds`` ago.

Frames of one device are expected in timestamp order (equal timestamps are in order). A *late* frame, older
than the newest frame already seen for its device, is judged without touching the state: it can fire only
rules without a multi-frame persistence requirement, not within ``cooldown_seconds`` of the remembered last
firing (in either direction), and it records nothing, so it never moves persistence or cooldown backwards.

State is bounded: per (device, rule) at most ``persistence.frames`` timestamps and one last-fire time; per
device one last timestamp. The cost of a frame depends on the number of rules, not on the device's history.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from vigil.domain.detections import Detections
from vigil.domain.rules import NotifyTarget, Rule, RuleSet, Severity
from vigil.domain.zones import anchors_in_zones

STATE_FORMAT = 1


@dataclass(frozen=True)
class FrameFacts:
    """What the threat stage knows about one image: who, where, when (UTC unix seconds), size, detections."""

    tenant: str | None
    device: str
    ts: int
    width: int
    height: int
    detections: Detections
    source: str

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"frame size must be positive, got {self.width}x{self.height} for {self.source}")


@dataclass(frozen=True)
class ThreatEvent:
    """One rule firing on one frame; ``event_id`` depends only on rules version, rule, device, ts, source."""

    event_id: str
    rule_id: str
    rules_version: str
    severity: Severity
    tenant: str | None
    device: str
    ts: int
    source: str
    objects: tuple[dict[str, Any], ...]
    notify: tuple[NotifyTarget, ...]
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)  # track_id/evidence, or health condition/state

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (objects: label, class_id, score, box; notify: channel, to, sender); ``extra``'s
        keys are added beside the common fields."""
        return {
            **self.extra,
            "event_id": self.event_id,
            "rule_id": self.rule_id,
            "rules_version": self.rules_version,
            "severity": self.severity,
            "description": self.description,
            "tenant": self.tenant,
            "device": self.device,
            "ts": self.ts,
            "source": self.source,
            "objects": [dict(o) for o in self.objects],
            "notify": [t.model_dump(mode="json") for t in self.notify],
        }


def event_id(rules_version: str, rule_id: str, device: str, ts: int, source: str, extra: str | None = None) -> str:
    """sha256 hex of the JSON array of the identifying fields (unambiguous, unlike plain concatenation).
    ``extra`` (a track id, a health transition) tells apart events of one rule on one frame."""
    fields: list[object] = [rules_version, rule_id, device, ts, source]
    if extra is not None:
        fields.append(extra)
    key = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class RuleMemory:
    """Temporal memory of one rule on one device: recent matching timestamps (ascending) and last firing."""

    hits: tuple[int, ...] = ()
    last_fired: int | None = None


@dataclass(frozen=True)
class DeviceMemory:
    last_ts: int
    rules: Mapping[str, RuleMemory] = field(default_factory=dict)


@dataclass(frozen=True)
class ThreatState:
    """Temporal memory of every device; treat as immutable (``evaluate`` returns a new one)."""

    devices: Mapping[str, DeviceMemory] = field(default_factory=dict)

    def size(self) -> int:
        """Number of integers held (timestamps and fire times): the measure that must stay bounded."""
        return sum(
            1 + sum(len(m.hits) + (m.last_fired is not None) for m in d.rules.values())
            for d in self.devices.values()
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with sorted keys (so equal states serialise to equal bytes)."""
        return {
            "format": STATE_FORMAT,
            "devices": {
                device: {
                    "last_ts": mem.last_ts,
                    "rules": {
                        rid: {"hits": list(rm.hits), "last_fired": rm.last_fired}
                        for rid, rm in sorted(mem.rules.items())
                    },
                }
                for device, mem in sorted(self.devices.items())
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThreatState:
        """Inverse of :meth:`to_dict`; ``ValueError`` naming the key if the dict is not a saved state."""
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"threat state format must be {STATE_FORMAT}, got {data.get('format')!r}")
        devices: dict[str, DeviceMemory] = {}
        for device, mem in dict(data.get("devices", {})).items():
            try:
                rules = {
                    str(rid): RuleMemory(
                        hits=tuple(int(t) for t in rm["hits"]),
                        last_fired=None if rm["last_fired"] is None else int(rm["last_fired"]),
                    )
                    for rid, rm in dict(mem["rules"]).items()
                }
                devices[str(device)] = DeviceMemory(last_ts=int(mem["last_ts"]), rules=rules)
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"threat state devices.{device} is malformed: {exc!r}") from None
        return cls(devices)


def matching_mask(rule: Rule, frame: FrameFacts) -> npt.NDArray[np.bool_]:
    """Which of the frame's detections pass the rule's class, score, area and zone filters."""
    det = frame.detections
    mask: npt.NDArray[np.bool_] = det.score >= np.float32(rule.min_score)
    if not len(det):
        return mask
    if rule.class_ids:
        mask &= np.isin(det.class_id, np.fromiter(rule.class_ids, dtype=np.int64))
    if rule.min_area > 0:
        w = np.clip(det.xyxy[:, 2] - det.xyxy[:, 0], 0, None).astype(np.float64)
        h = np.clip(det.xyxy[:, 3] - det.xyxy[:, 1], 0, None).astype(np.float64)
        mask &= (w * h) / (float(frame.width) * float(frame.height)) >= rule.min_area
    if rule.zones:
        mask &= anchors_in_zones(det.xyxy, frame.width, frame.height, rule.zones)
    return mask


def matching_objects(rule: Rule, frame: FrameFacts) -> Detections:
    """The frame's detections that pass the rule's class, score, area and zone filters."""
    det = frame.detections
    return det if not len(det) else det.filter(matching_mask(rule, frame))


def _step(rule: Rule, memory: RuleMemory, ts: int, matched: bool, late: bool) -> tuple[bool, RuleMemory]:
    """Whether the rule fires on this frame, and its memory afterwards (unchanged for late frames)."""
    last = memory.last_fired
    if late:
        multi_frame = rule.persistence is not None and rule.persistence.frames > 1
        cooling = last is not None and abs(ts - last) < rule.cooldown_seconds
        return matched and not multi_frame and not cooling, memory
    hits: tuple[int, ...] = ()
    persisted = matched
    if rule.persistence is not None:
        window = rule.persistence
        hits = tuple(t for t in memory.hits if ts - t <= window.seconds)
        if matched:
            hits = (*hits, ts)[-window.frames :]  # only the newest ``frames`` can ever matter
        persisted = matched and len(hits) >= window.frames
    cooling = last is not None and ts - last < rule.cooldown_seconds
    fires = persisted and not cooling
    return fires, RuleMemory(hits=hits, last_fired=ts if fires else last)


def _event(rule: Rule, frame: FrameFacts, objects: Detections, rules_version: str) -> ThreatEvent:
    records = tuple({k: r[k] for k in ("label", "class_id", "score", "box")} for r in objects.to_records())
    return ThreatEvent(
        event_id=event_id(rules_version, rule.id, frame.device, frame.ts, frame.source),
        rule_id=rule.id,
        rules_version=rules_version,
        severity=rule.severity,
        tenant=frame.tenant,
        device=frame.device,
        ts=frame.ts,
        source=frame.source,
        objects=records,
        notify=rule.notify,
        description=rule.description,
    )


def evaluate(
    ruleset: RuleSet, frame: FrameFacts, state: ThreatState, *, rules_version: str
) -> tuple[list[ThreatEvent], ThreatState]:
    """Apply every rule to ``frame``; return the events (in rule order) and the next state.

    ``rules_version`` names the rule set in events (e.g. the rules commit or :meth:`RuleSet.fingerprint`).
    ``state`` is not modified. Memory of rules no longer in ``ruleset`` is dropped for the frame's device.
    """
    prior = state.devices.get(frame.device)
    late = prior is not None and frame.ts < prior.last_ts
    local = datetime.fromtimestamp(frame.ts, tz=ruleset.timezone_for(frame.device))
    events: list[ThreatEvent] = []
    memories: dict[str, RuleMemory] = {}
    for rule in ruleset.rules:
        if rule.tracked or rule.health is not None or not rule.applies_to(frame.tenant, frame.device):
            continue  # per-track and camera-health rules: vigil.domain.tracks, vigil.domain.health
        objects = matching_objects(rule, frame) if rule.active_at(local) else Detections.empty()
        matched = len(objects) >= rule.min_count
        memory = prior.rules.get(rule.id, RuleMemory()) if prior is not None else RuleMemory()
        fires, memory = _step(rule, memory, frame.ts, matched, late)
        if fires:
            events.append(_event(rule, frame, objects, rules_version))
        if memory != RuleMemory():
            memories[rule.id] = memory
    if late:
        return events, state
    devices = dict(state.devices)
    devices[frame.device] = DeviceMemory(last_ts=frame.ts, rules=memories)
    return events, ThreatState(devices)
