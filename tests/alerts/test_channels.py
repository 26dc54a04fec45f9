"""SendGrid's mail/send contract, MQTT on the real broker, the SSRF guard, secrets and configuration."""

from __future__ import annotations

import base64
import json
import queue
import time
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.alerts.builders import Site
from tests.alerts.conftest import SECRET_ENV, webhook_channel
from tests.alerts.servers import HttpReceiver, Request
from tests.shared_data import unavailable
from vigil.domain.alerting import AlertsConfig
from vigil.domain.rules import parse_ruleset


def _sendgrid_contract(key: str):  # type: ignore[no-untyped-def]
    """A check like SendGrid's: bearer key, the v3 body shape; 401/400 otherwise (202 when accepted)."""
    def check(req: Request) -> int | None:
        if req.path != "/v3/mail/send":
            return 404
        if req.headers.get("authorization") != f"Bearer {key}":
            return 401
        doc = req.json()
        ok = (doc["personalizations"][0]["to"][0]["email"] and doc["from"]["email"] and doc["subject"]
              and {c["type"] for c in doc["content"]} == {"text/plain", "text/html"}
              and all(isinstance(v, str) for v in doc["custom_args"].values()))
        return None if ok else 400
    return check


def test_the_2017_rule_json_with_sgkey_sends_through_sendgrid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    monkeypatch.setenv("SGKEY", "SG.test-key")
    api = HttpReceiver(default=202, check=_sendgrid_contract("SG.test-key"))
    try:
        site = Site(tmp_path / "ws", {"channels": {"sg": {"type": "sendgrid", "base_url": api.url}}})
        rules = parse_ruleset('{"from_email": "support@baimsecurity.com", "to_email": "guard@site.example", '
                              '"threat_classes": [1, 3, 4, 8]}', "rule.json")
        [event] = site.frame("dev1", notify=rules.rules[0].notify)
        site.pump()
        [req] = api.requests
        doc = req.json()
        assert doc["personalizations"][0]["to"] == [{"email": "guard@site.example"}]
        assert doc["from"] == {"email": "support@baimsecurity.com"}
        [sent] = site.alerts.deliveries(state="sent")
        assert doc["custom_args"] == {"vigil_alert_id": sent["alert_id"], "vigil_event_id": event["event_id"]}
        [att] = doc["attachments"]
        assert att["disposition"] == "inline" and att["content_id"] == "evidence"
        assert base64.b64decode(att["content"])[:2] == b"\xff\xd8"
        assert 'src="cid:evidence"' in next(c["value"] for c in doc["content"] if c["type"] == "text/html")
    finally:
        api.close()


def test_sendgrid_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SGKEY", "SG.wrong")
    api = HttpReceiver(default=202, check=_sendgrid_contract("SG.right"))
    try:
        site = Site(tmp_path / "ws", {"channels": {"sg": {"type": "sendgrid", "base_url": api.url,
                                                           "sender": "v@site.example", "to": ["a@site.example"]}}})
        site.frame("cam1")
        site.pump()
        [failed] = site.alerts.deliveries(state="failed")  # a wrong key is retried: fixing it recovers the alert
        assert failed["last_code"] == 401 and "SG.wrong" not in failed["last_error"]
        monkeypatch.setenv("SGKEY", "SG.right")
        api.answers = [(400, {}, 0.0)]
        site.pump(now=time.time() + 10)
        [dead] = site.alerts.deliveries(state="dead")  # the message itself refused: no point retrying
        assert dead["last_code"] == 400
    finally:
        api.close()


def test_webhooks_to_private_addresses_are_refused_unless_allowed(tmp_path: Path, receiver: HttpReceiver,
                                                                   secret: str) -> None:
    site = Site(tmp_path / "ws", {"channels": {"hook": webhook_channel(receiver, allow_private=False)}})
    site.frame("cam1")
    site.pump()
    [failed] = site.alerts.deliveries(state="failed")
    assert "SSRF" in failed["last_error"] and receiver.seen == []


def test_mqtt_events_in_frigate_shapes(tmp_path: Path) -> None:
    import paho.mqtt.client as mqtt

    prefix = f"vigil-test-{uuid.uuid4().hex[:8]}"
    got: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda _c, _u, m: got.put((m.topic, m.payload, bool(m.retain)))
    try:
        sub.connect("127.0.0.1", 1883)
    except OSError as exc:
        unavailable(f"no MQTT broker on 127.0.0.1:1883 ({exc}); `mosquitto -d -c /etc/mosquitto/mosquitto.conf`")
    sub.subscribe(f"{prefix}/#", qos=1)
    sub.loop_start()
    try:
        site = Site(tmp_path / "ws", {"channels": {"ha": {"type": "mqtt", "topic_prefix": prefix}}})
        [first] = site.frame("cam1", 1_700_100_000)
        [second] = site.frame("cam1", 1_700_100_005)  # grouped: an update of the first alert
        site.pump()
        messages: dict[str, list[bytes]] = {}
        deadline = time.monotonic() + 10
        def count(topic: str) -> int:
            return len(messages.get(f"{prefix}/{topic}", []))

        while (count("events") < 2 or count("cam1/person") < 2) and time.monotonic() < deadline:
            try:
                topic, payload, _ = got.get(timeout=0.5)
            except queue.Empty:
                continue
            messages.setdefault(topic, []).append(payload)
        new, update = (json.loads(p) for p in messages[f"{prefix}/events"])
        assert new["type"] == "new" and update["type"] == "update"
        assert new["after"]["id"] == update["after"]["id"]  # one alert, updated
        assert (new["after"]["event_id"], update["after"]["event_id"]) == (first["event_id"], second["event_id"])
        assert new["after"]["label"] == "person" and new["after"]["camera"] == "cam1"
        assert messages[f"{prefix}/cam1/person"] == [b"1", b"1"]
        assert messages[f"{prefix}/available"][0] == b"online"
        worker = site.alerts.worker()
        try:
            assert worker.close_groups(time.time() + 60) == 0  # the group window (5 min) is still open
            assert worker.close_groups(time.time() + 301) == 1
            assert worker.close_groups(time.time() + 302) == 0  # ended once
        finally:
            worker.close()
        while count("events") < 3 and time.monotonic() < deadline + 10:
            try:
                topic, payload, _ = got.get(timeout=0.5)
            except queue.Empty:
                continue
            messages.setdefault(topic, []).append(payload)
        end = json.loads(messages[f"{prefix}/events"][2])
        assert end["type"] == "end" and end["after"]["id"] == new["after"]["id"]
        assert end["after"]["end_time"] == 1_700_100_005  # the last frame of the group
    finally:
        sub.loop_stop()
        sub.disconnect()


@pytest.mark.parametrize(("alerts", "error"), [
    ({"channels": {"m": {"type": "smtp", "host": "h", "sender": "s@x", "password": "hunter2"}}},
     "secrets are not written in vigil.yaml"),
    ({"channels": {"h": {"type": "webhook", "url": "ftp://x", "secret": {"env": "S"}}}}, "not an http"),
    ({"channels": {}, "route": {"email": "nope"}}, "no channel named 'nope'"),
    ({"max_age": "ten minutes"}, "not a duration"),
    ({"channels": {"x": {"type": "pager"}}}, "type"),
])
def test_bad_alert_config_is_refused_with_the_key(alerts: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        AlertsConfig.model_validate(alerts)


def test_durations_and_overrides() -> None:
    cfg = AlertsConfig.model_validate({"max_age": "2h", "group_window": "90s", "channels": {
        "m": {"type": "file", "max_age": "1d"}}, "rules": {"r1": {"max_age": 60}}})
    assert (cfg.max_age_for("r1", "m"), cfg.max_age_for("r2", "m"), cfg.max_age_for("r2", None)) == (60, 86400, 7200)
    assert cfg.group_window == 90 and cfg.channel_for("email") == "m"


def test_channels_report_secrets_without_showing_them(tmp_path: Path, receiver: HttpReceiver, secret: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    site = Site(tmp_path / "ws", {"channels": {"hook": webhook_channel(receiver), "mail": {
        "type": "smtp", "host": "127.0.0.1", "sender": "v@x", "username": "u", "password": {"env": "NOPE_PW"}}}})
    monkeypatch.delenv("NOPE_PW", raising=False)
    text = json.dumps(site.alerts.channels())
    assert f"${SECRET_ENV}: set" in text and "$NOPE_PW: MISSING" in text and secret not in text
