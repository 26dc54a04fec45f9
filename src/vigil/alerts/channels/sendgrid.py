"""SendGrid's v3 ``POST /v3/mail/send`` (httpx; ``base_url`` configurable, e.g. for an EU account or a test
server). The 2017 design's ``rule.json`` (``from_email``, ``to_email``) and ``$SGKEY`` work unchanged.

The alert id travels in ``custom_args`` (SendGrid's event webhooks report it back) and in an
``X-Vigil-Alert-Id`` header; the evidence is an inline attachment referenced by the HTML. 202 is done; 400 and
413 (the message itself is refused) are dead; 401/403 (a wrong key), 429 and 5xx are retried, honouring
``Retry-After``/``X-RateLimit-Reset``.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx

from vigil.alerts.channels import http
from vigil.alerts.channels.base import Outcome, read_secret
from vigil.alerts.mail import EVIDENCE_CID
from vigil.alerts.message import Alert, html_body, subject, text_body
from vigil.domain.alerting import SendGridChannel as SendGridConfig
from vigil.errors import ChannelError

PATH = "/v3/mail/send"


def request_body(alert: Alert, sender: str) -> dict[str, Any]:
    """The v3 mail/send JSON for one alert to ``alert.target``."""
    evidence = alert.evidence()
    ids = {"vigil_alert_id": alert.alert_id, "vigil_event_id": alert.event_id}
    doc: dict[str, Any] = {
        "personalizations": [{"to": [{"email": alert.target}], "custom_args": ids}],
        "from": {"email": sender},
        "subject": subject(alert),
        "content": [{"type": "text/plain", "value": text_body(alert)},
                    {"type": "text/html", "value": html_body(alert, EVIDENCE_CID if evidence else None)}],
        "headers": {"X-Vigil-Alert-Id": alert.alert_id},
        "custom_args": ids,
    }
    if evidence:
        doc["attachments"] = [{"content": base64.b64encode(evidence).decode(), "type": "image/jpeg",
                               "filename": "evidence.jpg", "disposition": "inline", "content_id": EVIDENCE_CID}]
    return doc


class SendGridChannel:
    def __init__(self, name: str, config: SendGridConfig, root: Path) -> None:
        self.name = name
        self.config = config
        self.root = root
        self._client = http.client(config.timeout)

    def send(self, alert: Alert) -> Outcome:
        sender = alert.sender or self.config.sender
        if not sender:
            return Outcome("dead", None, "no sender: set `sender` on the channel or from_email in the rule")
        try:
            key = read_secret(self.config.api_key, self.root)
        except ChannelError as exc:
            return Outcome("retry", None, exc.message)
        try:
            response = self._client.post(self.config.base_url.rstrip("/") + PATH, json=request_body(alert, sender),
                                         headers={"authorization": f"Bearer {key}"})
        except httpx.HTTPError as exc:
            return http.failure(exc)
        return http.outcome(response, permanent=(400, 413))

    def close(self) -> None:
        self._client.close()


__all__ = ["PATH", "SendGridChannel", "request_body"]
