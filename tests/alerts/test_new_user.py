"""The issue's acceptance path through the real `vigil` command: a new user configures an SMTP channel and a
webhook in vigil.yaml, commits a frame with a person, runs `vigil run`: each receives exactly one alert with the
boxed evidence and the reason, the webhook's signature verifies with the documented secret, and reprocessing the
whole history sends nothing new."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import yaml
from standardwebhooks.webhooks import Webhook

from tests.alerts.conftest import SECRET_ENV
from tests.alerts.servers import HttpReceiver, SmtpServer
from tests.console import VIGIL
from tests.shared_data import unavailable
from tests.stages.conftest import asset_cache, camera_spec, vigil_env  # noqa: F401 - fixtures used here

FRAME = "dev1_1511891155.jpg"  # a man on a street


def test_smtp_and_webhook_each_get_one_alert(tmp_path: Path, vigil_env: dict[str, str], seed_dir: Path,  # noqa: F811
                                             smtp: SmtpServer, receiver: HttpReceiver, secret: str) -> None:
    if VIGIL is None:
        unavailable("the `vigil` console script is not installed")
    ws = tmp_path / "site"
    env = {**vigil_env, SECRET_ENV: secret, "COLUMNS": "200"}

    def vigil(*args: str) -> str:
        proc = subprocess.run([VIGIL, "-w", str(ws), *args], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"vigil {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    subprocess.run([VIGIL, "init", str(ws)], env=env, check=True, capture_output=True)
    config_file = ws / ".vigil" / "vigil.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["alerts"] = {"channels": {
        "mail": {"type": "smtp", "host": "127.0.0.1", "port": smtp.port, "security": "none",
                 "sender": "vigil@site.example", "to": ["guard@site.example"]},
        "hook": {"type": "webhook", "url": receiver.url + "/vigil", "secret": {"env": SECRET_ENV},
                 "allow_private": True}}}
    config_file.write_text(yaml.safe_dump(config))
    spec = camera_spec(tmp_path / "camera.yaml")
    vigil("model", "add", "yolox-nano")
    vigil("repo", "create", "rules")
    vigil("repo", "create", "images")
    vigil("put", "rules", str(seed_dir / "pipeline" / "rule.json"))
    vigil("pipeline", "create", str(spec))
    vigil("put", "images", str(seed_dir / FRAME))
    vigil("run")

    [mail] = smtp.messages
    msg = mail.message
    assert mail.rcpt_tos == ["guard@site.example"] and "person on dev1 (rule.json)" in str(msg["Subject"])
    text = msg.get_body(("plain",))
    assert text is not None and "Rule 'rule.json' (high)" in text.get_content() and "person 0." in text.get_content()
    [image] = [p for p in msg.walk() if p.get_content_type() == "image/jpeg"]
    drawn = cv2.imdecode(np.frombuffer(image.get_content(), np.uint8), cv2.IMREAD_COLOR)
    plain = cv2.imread(str(seed_dir / FRAME))
    assert drawn.shape == plain.shape and np.abs(drawn.astype(int) - plain.astype(int)).max() > 100  # boxes
    [hook] = receiver.requests
    payload = Webhook(secret).verify(hook.body, hook.headers)
    assert payload["type"] == "vigil.alert" and payload["data"]["camera"] == "dev1"
    assert any("person" in line for line in payload["data"]["reason"])

    listed = json.loads(vigil("alerts", "list", "--json"))
    assert sorted(a["channel"] for a in listed) == ["hook", "mail"] and {a["state"] for a in listed} == {"sent"}
    assert str(msg["Message-ID"]) == f"<vigil.{next(a for a in listed if a['channel'] == 'mail')['alert_id']}" \
                                      "@site.example>"
    shown = json.loads(vigil("alerts", "show", listed[0]["alert_id"][:10], "--json"))
    assert shown["attempts_log"][0]["outcome"] == "sent"

    vigil("pipeline", "update", str(spec), "--reprocess")  # the whole history again: same events, nothing new
    vigil("run")
    assert len(smtp.messages) == 1 and len(receiver.requests) == 1

    assert "sent" in vigil("alerts", "test", "hook")
    assert receiver.requests[-1].json()["type"] == "vigil.test"
