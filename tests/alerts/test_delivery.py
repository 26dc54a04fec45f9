"""Alerts end to end on real servers: one event, one e-mail and one signed webhook; never twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from tests.alerts.builders import Site
from tests.alerts.conftest import smtp_channel, webhook_channel
from tests.alerts.servers import HttpReceiver, SmtpServer
from vigil.alerts.outbox import alert_id


def test_an_event_reaches_smtp_and_webhook_once(tmp_path: Path, smtp: SmtpServer, receiver: HttpReceiver,
                                                 secret: str) -> None:
    site = Site(tmp_path / "ws", {"channels": {"mail": smtp_channel(smtp), "hook": webhook_channel(receiver)}})
    [event] = site.frame("cam1")
    assert site.pump() == 2
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["guard@site.example"]
    msg = mail.message
    assert msg["Message-ID"] == f"<vigil.{alert_id(event['event_id'], 'mail', 'guard@site.example')}@site.example>"
    assert "[HIGH] person on cam1 (intrusion)" in str(msg["Subject"])
    text = msg.get_body(("plain",))
    assert text is not None and "person 0.91" in text.get_content()
    assert "Europe/Berlin" in text.get_content()  # the time in the camera's zone (from the rule set)
    images = [p for p in msg.walk() if p.get_content_type() == "image/jpeg"]
    assert len(images) == 1 and images[0]["Content-ID"] == "<evidence>"
    assert images[0].get_content()[:2] == b"\xff\xd8"  # a JPEG: the frame with its boxes
    [hook] = receiver.requests
    payload = Webhook(secret).verify(hook.body, hook.headers)
    assert hook.headers["webhook-id"] == alert_id(event["event_id"], "hook", receiver.url + "/hook")
    assert payload["type"] == "vigil.alert" and payload["data"]["event"]["event_id"] == event["event_id"]
    assert payload["data"]["links"]["record"].startswith("threat@")
    assert site.pump() == 0  # nothing new
    assert len(smtp.messages) == 1 and len(receiver.requests) == 1
    sent = site.alerts.deliveries(state="sent")
    assert len(sent) == 2 and all(a["latency"] is not None and a["latency"] >= 0 for a in sent)


def test_a_rewritten_record_with_the_same_events_sends_nothing(tmp_path: Path, smtp: SmtpServer) -> None:
    site = Site(tmp_path / "ws", {"channels": {"mail": smtp_channel(smtp)}})
    site.frame("cam1", 1_700_000_100)
    site.pump()
    store = site.app.store
    path = "/cam1/1700000100.json"
    record = json.loads(store.read_bytes("threat", None, path))
    record["rules"]["commit"] = "another"  # reprocessed: new bytes, same event ids
    with store.begin_commit("threat") as c:
        c.put_bytes(path, json.dumps(record).encode())
    assert site.pump() == 0
    assert len(smtp.messages) == 1


def test_rules_targets_are_routed_and_unconfigured_ones_recorded(tmp_path: Path, smtp: SmtpServer) -> None:
    from vigil.domain.rules import NotifyTarget

    site = Site(tmp_path / "ws", {"channels": {"mail": smtp_channel(smtp, to=[])}})
    site.frame("cam2", notify=(NotifyTarget(channel="email", to="owner@site.example", sender="rules@site.example"),
                               NotifyTarget(channel="mqtt", to="home")))
    site.pump()
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["owner@site.example"] and mail.mail_from == "rules@site.example"
    [skipped] = site.alerts.deliveries(state="skipped")
    assert skipped["channel"] == "mqtt" and "no mqtt channel configured" in skipped["last_error"]


@pytest.mark.parametrize(("window", "expected"), [(300, 1), (0, 3)])
def test_a_burst_of_frames_is_one_alert(tmp_path: Path, smtp: SmtpServer, window: int, expected: int) -> None:
    site = Site(tmp_path / "ws", {"channels": {"mail": smtp_channel(smtp)}, "group_window": window})
    for ts in (1_700_001_000, 1_700_001_010, 1_700_001_020):
        site.frame("cam3", ts)
    site.frame("cam4", 1_700_001_030)  # another camera: its own alert
    site.pump()
    assert len(smtp.messages) == expected + 1
    if window:
        [leader] = [a for a in site.alerts.deliveries(state="sent") if a["camera"] == "cam3"]
        assert leader["grouped"] == 2 and len(site.alerts.deliveries(state="grouped")) == 2


def test_back_filled_events_are_recorded_not_sent(tmp_path: Path, smtp: SmtpServer) -> None:
    site = Site(tmp_path / "ws", {"channels": {"mail": smtp_channel(smtp)}, "max_age": "1h",
                                  "rules": {"urgent": {"max_age": "2d"}}})
    site.frame("cam5", rules=("intrusion", "urgent"))
    future = site.app.store.head("threat")
    assert future is not None
    site.alerts.feeder().run_once(now=future.created_at + 86400)  # derived a day later: a back-fill
    worker = site.alerts.worker()
    worker.drain(now=future.created_at + 86400)
    worker.close()
    [sent] = site.alerts.deliveries(state="sent")
    assert sent["rule"] == "urgent" and len(smtp.messages) == 1
    [skipped] = site.alerts.deliveries(state="skipped")
    assert skipped["rule"] == "intrusion" and "back-filled" in skipped["last_error"]
