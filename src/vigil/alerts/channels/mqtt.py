"""MQTT (paho-mqtt, QoS 1 by default) in the shapes Frigate uses, so Home Assistant setups feel at home:

* ``<prefix>/events``: ``{"type": "new"|"update"|"end", "before": {...}, "after": {...}}`` with id (the alert's;
  an update carries the id of the alert it was grouped into; ``end`` comes once no event joined the alert for
  its group window, with ``end_time``), camera, label, score, top_score, box, area, zones,
  rule, severity, start_time, frame_time, snapshot (the evidence URL when Vigil serves one) and every object;
* ``<prefix>/<camera>/<label>``: how many objects of that label the event's frame holds;
* ``<prefix>/available``: ``online`` (retained) while a worker is connected, ``offline`` as its last will.

A publish is ``sent`` when the broker acknowledged it (PUBACK at QoS 1) within the timeout. ``before`` equals
``after``: Vigil's events are frames, not tracked objects.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from vigil.alerts.channels.base import Outcome, read_secret
from vigil.alerts.message import Alert
from vigil.domain.alerting import MqttChannel as MqttConfig
from vigil.errors import ChannelError

log = logging.getLogger(__name__)


def event_state(alert: Alert) -> dict[str, Any]:
    """The Frigate-like event object of an alert."""
    objects = alert.objects
    top = max(objects, key=lambda o: float(o.get("score", 0)), default={})
    box = [float(v) for v in top.get("box") or ()]
    ts = float(alert.event.get("ts") or 0)
    zones = alert.event.get("zones") or []
    return {
        "id": alert.group_alert_id or alert.alert_id,
        "event_id": alert.event_id,
        "camera": alert.camera,
        "label": top.get("label"),
        "sub_label": None,
        "score": top.get("score"),
        "top_score": top.get("score"),
        "box": box or None,
        "area": (box[2] - box[0]) * (box[3] - box[1]) if len(box) == 4 else None,
        "current_zones": zones,
        "entered_zones": zones,
        "rule": alert.rule,
        "severity": alert.severity,
        "start_time": ts,
        "end_time": None,
        "frame_time": ts,
        "false_positive": False,
        "has_snapshot": alert.evidence_url is not None,
        "has_clip": False,
        "snapshot": alert.evidence_url,
        "objects": objects,
    }


class MqttChannel:
    def __init__(self, name: str, config: MqttConfig, root: Path) -> None:
        self.name = name
        self.config = config
        self.root = root
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()

    def _connect(self) -> mqtt.Client:
        c = self.config
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=c.client_id or "",
                             protocol=mqtt.MQTTv311)
        available = f"{c.topic_prefix}/available"
        client.will_set(available, "offline", qos=1, retain=True)
        if c.username:
            client.username_pw_set(c.username, read_secret(c.password, self.root) if c.password else None)
        if c.tls:
            client.tls_set()
        client.on_connect = lambda cl, _u, _f, rc, _p: self._connected.set() if not rc.is_failure else None
        client.on_disconnect = lambda _cl, _u, _f, _rc, _p: self._connected.clear()
        client.connect(c.host, c.port, keepalive=60)
        client.loop_start()
        if not self._connected.wait(c.timeout):
            client.loop_stop()
            client.disconnect()
            raise OSError(f"no CONNACK from {c.host}:{c.port} within {c.timeout:.0f} s")
        client.publish(available, "online", qos=1, retain=True)
        return client

    def _publish(self, client: mqtt.Client, topic: str, payload: bytes | str) -> bool:
        info = client.publish(topic, payload, qos=self.config.qos)
        info.wait_for_publish(self.config.timeout)
        return info.is_published()

    def send(self, alert: Alert) -> Outcome:
        try:
            if self._client is None or not self._connected.is_set():
                self.close()
                self._client = self._connect()
            state = event_state(alert)
            kind = alert.kind if alert.kind in ("update", "end") else "new"
            if kind == "end":
                state = {**state, "end_time": float(alert.event.get("end_ts") or state["start_time"])}
            message = {"type": kind, "before": state, "after": state}
            if not self._publish(self._client, f"{alert.target}/events", orjson.dumps(message)):
                return Outcome("retry", None, "the broker did not acknowledge the publish in time")
            counts: dict[str, int] = {}
            for o in alert.objects if kind != "end" else ():
                counts[str(o.get("label"))] = counts.get(str(o.get("label")), 0) + 1
            for label, n in counts.items():
                self._publish(self._client, f"{alert.target}/{alert.camera}/{label}", str(n))
        except ChannelError as exc:
            return Outcome("retry", None, exc.message)
        except (OSError, ValueError, RuntimeError) as exc:  # refused, unreachable, not connected
            self.close()
            return Outcome("retry", None, f"{exc.__class__.__name__}: {exc}")
        return Outcome("sent", 0, "acknowledged by the broker")

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                if self._connected.is_set():
                    client.publish(f"{self.config.topic_prefix}/available", "offline", qos=1,
                                   retain=True).wait_for_publish(2)
                client.disconnect()
            except (OSError, ValueError, RuntimeError):
                pass
            client.loop_stop()
        self._connected.clear()


__all__ = ["MqttChannel", "event_state"]
