"""Camera-health rules: frozen, blinded/covered and moved cameras judged per frame, offline judged on a clock.

Pure. Health events have the threat events' shape (:class:`~vigil.domain.threat.ThreatEvent`: event id, rule
id, severity, tenant, device, ts, source, no objects, notify, description) plus ``health`` (the condition) and
``state`` (``started`` or ``recovered``), so the alert outbox sends them like any other event.

Per frame (:func:`health_events`): a condition STARTS on the frame that completes ``frames`` consecutive frames
where it holds, and RECOVERS on the first frame where it no longer holds after such a run. Judged over the
camera's frames of the last ``seconds`` (a bounded look-back, which must hold more than ``frames`` frames for
a run to be told apart from a longer one). The facts come from the motion stage's verdicts. A moved camera has
no recovery event: its new view becomes the reference (after about half the motion look-back), which says
nothing about whether it was put back.

Offline (:func:`offline_events`): a function of the camera's recent frame times, its usual interval (their
median gap) and ``now``. While the newest frame is older than ``offline_factor`` usual intervals (at least
``min_offline_seconds``), the camera is offline; the event id is made from the last frame seen, so a scheduler
calling this every few seconds yields one event per outage (the outbox dedups by id). Once frames come again,
the recovery event names the outage's gap, again with a stable id.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

from vigil.domain.rules import HealthCheck, Rule, RuleSet
from vigil.domain.threat import ThreatEvent, event_id

BLINDING_CODES = frozenset({"black", "blank", "low_contrast", "overexposed"})
State = Literal["started", "recovered"]


@dataclass(frozen=True)
class SceneFacts:
    """What the motion stage said of one frame (see :class:`vigil.vision.motion.MotionVerdict`)."""

    tenant: str | None
    device: str
    ts: int
    source: str
    reason: str
    same_as_prev: bool = False
    prev_delta: float | None = None
    similarity: float | None = None
    luma_std: float | None = None
    unusable: tuple[str, ...] = ()

    @classmethod
    def from_record(cls, doc: Mapping[str, Any], source: str) -> SceneFacts | None:
        """From a detect record (its ``motion`` block); None for records made without the motion stage."""
        motion = doc.get("motion")
        if not isinstance(motion, Mapping):
            return None
        return cls(doc.get("tenant"), str(doc["device"]), int(doc["ts"]), source, str(motion.get("reason")),
                   bool(motion.get("same_as_prev", False)), motion.get("prev_delta"), motion.get("similarity"),
                   motion.get("luma_std"), tuple(motion.get("reasons", ())))


def holds(check: HealthCheck, facts: SceneFacts) -> bool:
    """Whether the frame shows the check's condition (never for ``offline``: that is judged on a clock)."""
    if check.condition == "frozen":
        return facts.same_as_prev or (facts.prev_delta is not None and facts.prev_delta < check.frozen_delta)
    if check.condition == "blinded":
        if facts.reason == "unusable":
            return bool(BLINDING_CODES & set(facts.unusable))
        return facts.luma_std is not None and facts.luma_std < check.blinded_std
    if check.condition == "moved":
        return facts.similarity is not None and facts.similarity < check.moved_similarity
    return False


def _event(rule: Rule, check: HealthCheck, tenant: str | None, device: str, ts: int, source: str, state: State,
           rules_version: str, key: str, detail: Mapping[str, Any]) -> ThreatEvent:
    what = {"frozen": "shows a frozen picture", "blinded": "is blinded or covered",
            "moved": "no longer shows its usual view", "offline": "sends no frames"}[check.condition]
    text = rule.description or f"camera {device} {what}"
    if state == "recovered":
        text = f"recovered: {text}"
    return ThreatEvent(
        event_id=event_id(rules_version, rule.id, device, ts, source, f"{check.condition}:{state}:{key}"),
        rule_id=rule.id, rules_version=rules_version, severity=rule.severity, tenant=tenant, device=device, ts=ts,
        source=source, objects=(), notify=rule.notify, description=text,
        extra={"health": check.condition, "state": state, **detail},
    )


def health_rules(ruleset: RuleSet, tenant: str | None, device: str) -> list[Rule]:
    return [r for r in ruleset.rules if r.health is not None and r.applies_to(tenant, device)]


def lookback_seconds(ruleset: RuleSet, tenant: str | None, device: str) -> int:
    """How far back :func:`health_events` needs the camera's frames (0: no per-frame health rule)."""
    return max((r.health.seconds for r in health_rules(ruleset, tenant, device)
                if r.health is not None and r.health.condition != "offline"), default=0)


def health_events(ruleset: RuleSet, frames: Sequence[SceneFacts], *, rules_version: str) -> list[ThreatEvent]:
    """Health events on ``frames[-1]``, judged over ``frames`` (one camera, time order, the last look-back)."""
    if not frames:
        return []
    last = frames[-1]
    events = []
    for rule in health_rules(ruleset, last.tenant, last.device):
        check = rule.health
        assert check is not None
        if check.condition == "offline":
            continue
        flags = [holds(check, f) for f in frames if last.ts - f.ts <= check.seconds]
        run = 0  # consecutive frames holding, ending at the frame before the last
        for flag in flags[:-1]:
            run = run + 1 if flag else 0
        if flags[-1] and run + 1 == check.frames:
            state: State | None = "started"
        elif not flags[-1] and run >= check.frames and check.recovery and check.condition != "moved":
            state = "recovered"
        else:
            state = None
        if state is not None:
            detail = {"frames": run + 1 if state == "started" else run}
            events.append(_event(rule, check, last.tenant, last.device, last.ts, last.source, state,
                                 rules_version, "", detail))
    return events


@dataclass(frozen=True)
class CameraSeen:
    """A camera's recent frame times (unix seconds, any order; the more, the better the usual interval)."""

    tenant: str | None
    device: str
    seen: tuple[int, ...]


def usual_interval(seen: Sequence[int]) -> float | None:
    """The median gap between consecutive frame times; None with fewer than two frames."""
    times = sorted(set(seen))
    gaps = [b - a for a, b in pairwise(times)]
    return float(statistics.median(gaps)) if gaps else None


def offline_events(ruleset: RuleSet, camera: CameraSeen, now: int, *, rules_version: str) -> list[ThreatEvent]:
    """The camera's offline events at ``now``: ``started`` while no frame came for ``offline_factor`` usual
    intervals (at least ``min_offline_seconds``), ``recovered`` (with ``recovery``) when the newest gap among the
    frames seen was such an outage and frames came again. Stable ids: the same outage gives the same event."""
    times = sorted(set(camera.seen))
    interval = usual_interval(times)
    if interval is None:
        return []
    events = []
    for rule in health_rules(ruleset, camera.tenant, camera.device):
        check = rule.health
        if check is None or check.condition != "offline":
            continue
        limit = max(check.offline_factor * interval, float(check.min_offline_seconds))
        last = times[-1]
        source = f"/{camera.tenant + '-' if camera.tenant else ''}{camera.device}/{last:010d}"
        if now - last > limit:
            detail = {"last_seen": last, "silent_seconds": now - last, "usual_interval": interval}
            events.append(_event(rule, check, camera.tenant, camera.device, last, source, "started",
                                 rules_version, str(last), detail))
            continue
        gaps = [(b, a) for a, b in pairwise(times) if b - a > limit]
        if gaps and check.recovery:
            back, gone = gaps[-1]
            detail = {"last_seen": gone, "silent_seconds": back - gone, "usual_interval": interval}
            events.append(_event(rule, check, camera.tenant, camera.device, back,
                                 f"{source.rsplit('/', 1)[0]}/{back:010d}", "recovered", rules_version, str(gone),
                                 detail))
    return events


__all__ = ["BLINDING_CODES", "CameraSeen", "SceneFacts", "health_events", "health_rules", "holds",
           "lookback_seconds", "offline_events", "usual_interval"]
