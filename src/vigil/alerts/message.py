"""What an alert says, in one place for every channel: the subject, the reason (rule, classes, scores, zone,
time in the camera's time zone) as text and HTML, and the JSON data of webhooks and MQTT (links, no image bytes).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class Alert:
    """One delivery, ready for a channel. ``alert_id`` is its idempotency key (the same on every attempt);
    ``kind``: ``new`` (an alert), ``update`` (an event grouped into the alert ``group_alert_id``) or ``test``."""

    alert_id: str
    event_id: str
    kind: str
    channel: str
    target: str
    event: dict[str, Any]
    camera: str
    timezone: str = "UTC"
    sender: str | None = None
    grouped: int = 0
    group_alert_id: str | None = None
    record: str | None = None  # repo@commit:/path of the event's record
    evidence_url: str | None = None
    evidence: Callable[[], bytes | None] = field(default=lambda: None, compare=False)

    @property
    def severity(self) -> str:
        return str(self.event.get("severity") or "medium")

    @property
    def rule(self) -> str:
        return str(self.event.get("rule_id") or self.event.get("type") or "event")

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [o for o in self.event.get("objects") or () if isinstance(o, dict)]

    def local_time(self) -> datetime:
        try:
            zone: Any = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = UTC
        return datetime.fromtimestamp(int(self.event.get("ts") or 0), tz=zone)


def when(alert: Alert) -> str:
    local = alert.local_time()
    return f"{local:%Y-%m-%d %H:%M:%S} {alert.timezone}"


def labels(alert: Alert) -> str:
    """``person`` or ``2 persons, car`` (by first appearance)."""
    counts: dict[str, int] = {}
    for o in alert.objects:
        counts[str(o.get("label", "object"))] = counts.get(str(o.get("label", "object")), 0) + 1
    return ", ".join(name if n == 1 else f"{n} {name}s" for name, n in counts.items())


def subject(alert: Alert) -> str:
    what = labels(alert) or str(alert.event.get("description") or alert.rule)
    test = "[TEST] " if alert.kind == "test" else ""
    return f"{test}[{alert.severity.upper()}] {what} on {alert.camera} ({alert.rule})"


def reasons(alert: Alert) -> list[str]:
    """Why this alert was raised, one fact a line."""
    lines = [f"Rule {alert.rule!r} ({alert.severity})" + (f": {alert.event['description']}"
                                                         if alert.event.get("description") else ""),
             f"Camera {alert.camera} at {when(alert)}"]
    for o in alert.objects:
        box = ", ".join(f"{float(v):.0f}" for v in o.get("box") or ())
        lines.append(f"{o.get('label', 'object')} {float(o.get('score', 0)):.2f}" + (f" at [{box}]" if box else ""))
    zones = alert.event.get("zones") or alert.event.get("zone")
    if zones:
        lines.append(f"Zone: {zones}")
    if alert.grouped:
        lines.append(f"{alert.grouped} more event(s) of this rule and camera were grouped into this alert")
    if alert.record:
        lines.append(f"Record: {alert.record} (event {alert.event_id})")
    return lines


def text_body(alert: Alert) -> str:
    return "\n".join(reasons(alert)) + "\n"


def html_body(alert: Alert, image_cid: str | None) -> str:
    items = "".join(f"<li>{html.escape(line)}</li>" for line in reasons(alert)[2:])
    head = html.escape(reasons(alert)[0])
    where = html.escape(reasons(alert)[1])
    image = (f'<p><img src="cid:{html.escape(image_cid)}" alt="evidence: the frame with its objects boxed" '
             'style="max-width:100%"></p>') if image_cid else ""
    return (f"<html><body><h2>{html.escape(subject(alert))}</h2><p><b>{head}</b><br>{where}</p>"
            f"<ul>{items}</ul>{image}</body></html>")


def data(alert: Alert) -> dict[str, Any]:
    """The alert as JSON data (webhooks, MQTT): the event, where it came from, links; no image bytes."""
    return {
        "alert_id": alert.alert_id,
        "kind": alert.kind,
        "group_alert_id": alert.group_alert_id,
        "grouped": alert.grouped,
        "camera": alert.camera,
        "time": alert.local_time().isoformat(),
        "timezone": alert.timezone,
        "reason": reasons(alert),
        "event": alert.event,
        "links": {"record": alert.record, "evidence": alert.evidence_url},
    }


def iso_time(alert: Alert) -> str:
    return datetime.fromtimestamp(int(alert.event.get("ts") or 0), tz=UTC).isoformat().replace("+00:00", "Z")


__all__ = ["Alert", "data", "html_body", "iso_time", "labels", "reasons", "subject", "text_body", "when"]
