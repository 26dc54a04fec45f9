"""Webhooks per the Standard Webhooks specification (https://www.standardwebhooks.com).

Body: ``{"type": "vigil.alert", "timestamp": <event time, ISO 8601>, "data": {...}}`` (links, not image bytes).
Headers: ``webhook-id`` (the alert id: the same on every retry, the receiver's idempotency key),
``webhook-timestamp`` (this attempt, unix seconds) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of
"<id>.<timestamp>.<body>">`` for each configured ``whsec_<base64>`` secret, space-separated (rotation).
2xx is done, 410 disables the endpoint, everything else (and timeouts) is retried.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from pathlib import Path

import httpx
import orjson

from vigil.alerts.channels import http
from vigil.alerts.channels.base import Outcome, read_secret
from vigil.alerts.channels.egress import destination
from vigil.alerts.message import Alert, data, iso_time
from vigil.domain.alerting import WebhookChannel as WebhookConfig
from vigil.errors import ChannelError

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (a secret without the prefix is taken as base64 too)."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ChannelError("a webhook secret is not whsec_<base64>",
                           "generate one: python -c \"import base64,os; print('whsec_' + "
                           "base64.b64encode(os.urandom(32)).decode())\"") from exc
    if len(key) < 24:
        raise ChannelError("a webhook secret is shorter than 24 bytes", "use 32 random bytes")
    return key


def sign(keys: list[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per key, space-separated."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join("v1," + base64.b64encode(hmac.new(k, content, hashlib.sha256).digest()).decode()
                    for k in keys)


def body(alert: Alert) -> bytes:
    kind = {"new": "vigil.alert", "update": "vigil.alert.update", "test": "vigil.test"}.get(alert.kind,
                                                                                              "vigil.alert")
    return orjson.dumps({"type": kind, "timestamp": iso_time(alert), "data": data(alert)})


class WebhookChannel:
    def __init__(self, name: str, config: WebhookConfig, root: Path) -> None:
        self.name = name
        self.config = config
        self.root = root
        self._keys: list[bytes] | None = None
        self._client = http.client(config.timeout)

    def keys(self) -> list[bytes]:
        if self._keys is None:
            self._keys = [secret_key(read_secret(ref, self.root)) for ref in self.config.secrets]
        return self._keys

    def send(self, alert: Alert) -> Outcome:
        try:
            keys = self.keys()
            dest = destination(alert.target, allow_private=self.config.allow_private)
        except ChannelError as exc:
            return Outcome("retry", None, exc.message)
        payload = body(alert)
        timestamp = int(time.time())  # the attempt's time (replay protection), not the event's
        headers = {"content-type": "application/json", "user-agent": "vigil-alerts",
                   "webhook-id": alert.alert_id, "webhook-timestamp": str(timestamp),
                   "webhook-signature": sign(keys, alert.alert_id, timestamp, payload)}
        extensions = {}
        if dest.pinned:
            headers["host"] = dest.host_header
            extensions["sni_hostname"] = dest.host
        try:
            response = self._client.post(dest.url, content=payload, headers=headers, extensions=extensions)
        except httpx.HTTPError as exc:
            return http.failure(exc)
        return http.outcome(response)

    def close(self) -> None:
        self._client.close()


__all__ = ["SECRET_PREFIX", "WebhookChannel", "body", "secret_key", "sign"]
