"""Alert channel configuration: the ``alerts:`` section of ``.vigil/vigil.yaml``, as typed, validated models.

It lives in the domain (pure types, no I/O) because the workspace config, in the store layer, carries it as a
typed section and the store may not import :mod:`vigil.alerts`; :mod:`vigil.alerts` implements it.

Secrets are never written in the file: a password, API key or signing secret is a :class:`SecretRef` naming an
environment variable (``{env: NAME}``) or a file (``{file: PATH}``), read when a channel is used.

Durations are seconds or a number with a unit: ``30s``, ``5m``, ``2h``, ``3d``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> Any:
    """Seconds from ``90``, ``"90"``, ``"1.5m"``, ``"2h"``, ``"3d"``; anything else is left for pydantic."""
    if isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise ValueError(f"{value!r} is not a duration (write seconds, or e.g. 30s, 5m, 2h, 3d)")
        return float(m.group(1)) * _UNITS[m.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]

EMAIL_TYPES = ("smtp", "sendgrid", "file")
TARGET_KINDS = {"email": EMAIL_TYPES, "webhook": ("webhook",), "mqtt": ("mqtt",)}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Model):
    """Where a secret is read from: exactly one of an environment variable or a file (its first line)."""

    env: str | None = None
    file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_plain_secrets(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError("secrets are not written in vigil.yaml: put it in an environment variable or a file "
                             "and write {env: NAME} or {file: PATH}")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env: NAME or file: PATH")
        return self

    def describe(self) -> str:
        """Where the secret comes from (never the secret)."""
        return f"${self.env}" if self.env else f"file {self.file}"


class Match(_Model):
    """Which events a channel's own recipients get (fnmatch patterns; an empty list matches everything)."""

    rules: tuple[str, ...] = ()
    severities: tuple[Literal["low", "medium", "high", "critical"], ...] = ()
    tenants: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()

    def matches(self, event: Mapping[str, Any]) -> bool:
        def ok(patterns: tuple[str, ...], value: Any) -> bool:
            return not patterns or (value is not None and any(fnmatch.fnmatchcase(str(value), p) for p in patterns))

        return (ok(self.rules, event.get("rule_id")) and (not self.severities or event.get("severity")
                in self.severities) and ok(self.tenants, event.get("tenant")) and ok(self.devices, event.get("device")))


class _Channel(_Model):
    match: Match = Match()
    max_age: Duration | None = None  # overrides alerts.max_age for this channel
    group_window: Duration | None = None  # overrides alerts.group_window for this channel
    updates: bool = False  # also deliver the events grouped into an alert (MQTT: "update" messages)
    timeout: Duration = 30.0


class SmtpChannel(_Channel):
    type: Literal["smtp"]
    host: str
    port: int | None = None  # default: 465 for ssl, else 587 (25 when security is none)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretRef | None = None
    sender: str
    to: tuple[str, ...] = ()  # recipients of every matching event (besides the rules' own targets)
    message_id_domain: str | None = None  # default: the sender's domain

    @property
    def default_port(self) -> int:
        return self.port or {"ssl": 465, "starttls": 587, "none": 25}[self.security]


class SendGridChannel(_Channel):
    type: Literal["sendgrid"]
    api_key: SecretRef = SecretRef(env="SGKEY")  # the 2017 design's variable
    base_url: str = "https://api.sendgrid.com"
    sender: str | None = None  # default: the rule's from_email
    to: tuple[str, ...] = ()


class WebhookChannel(_Channel):
    type: Literal["webhook"]
    url: str | None = None  # receives every matching event; rules may also name other URLs
    secret: SecretRef | tuple[SecretRef, ...]  # whsec_<base64>; several sign together (key rotation)
    allow_private: bool = False  # allow loopback/private/link-local targets (SSRF guard)
    timeout: Duration = 15.0

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @property
    def secrets(self) -> tuple[SecretRef, ...]:
        return self.secret if isinstance(self.secret, tuple) else (self.secret,)


class MqttChannel(_Channel):
    type: Literal["mqtt"]
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: SecretRef | None = None
    tls: bool = False
    topic_prefix: str = "vigil"
    qos: Literal[0, 1, 2] = 1
    client_id: str | None = None
    updates: bool = True
    timeout: Duration = 10.0


class FileChannel(_Channel):
    """Alerts written as ``.eml`` files into a folder (relative to the workspace): the demo's channel."""

    type: Literal["file"]
    path: str = "alerts"
    to: tuple[str, ...] = ("operator@localhost",)
    sender: str = "vigil@localhost"


Channel = Annotated[SmtpChannel | SendGridChannel | WebhookChannel | MqttChannel | FileChannel,
                    Field(discriminator="type")]


class RuleOverrides(_Model):
    max_age: Duration | None = None
    group_window: Duration | None = None


class RetryPolicy(_Model):
    """Delays after the first, second, ... failed attempt (the Standard Webhooks schedule by default), each
    stretched or shrunk by up to ``jitter``; the last delay repeats until ``give_up_after`` from enqueueing."""

    schedule: tuple[Duration, ...] = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    jitter: float = Field(default=0.2, ge=0, le=1)
    give_up_after: Duration = 3 * 86400.0

    @field_validator("schedule")
    @classmethod
    def _not_empty(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value:
            raise ValueError("give at least one delay")
        return value


class AlertsConfig(_Model):
    """The ``alerts:`` section. ``channels`` by name; ``route`` says which channel delivers the rules' own
    ``notify`` targets of each kind (default: the first configured channel of that kind)."""

    # repos of event records (``/<camera>/<ts>.json`` with ``events``): the threat stage's, and the offline duty's
    repos: tuple[str, ...] = ("threat", "health")
    channels: dict[str, Channel] = {}
    route: dict[Literal["email", "webhook", "mqtt"], str] = {}
    max_age: Duration = 3600.0  # events whose frame was committed longer ago are recorded, not sent
    group_window: Duration = 300.0  # one alert per rule, camera and recipient within this window
    rules: dict[str, RuleOverrides] = {}
    retry: RetryPolicy = RetryPolicy()
    claim_ttl: Duration = 120.0  # a worker's claim on a delivery expires after this (then another may take it)
    batch: int = Field(default=100, ge=1, le=10000)
    evidence_url: str | None = None  # e.g. https://vigil.example/api/events/{event_id}/evidence.jpg

    @model_validator(mode="after")
    def _routes_exist(self) -> AlertsConfig:
        for kind, name in self.route.items():
            channel = self.channels.get(name)
            if channel is None:
                known = ", ".join(self.channels) or "none configured"
                raise ValueError(f"route.{kind}: no channel named {name!r} (channels: {known})")
            if channel.type not in TARGET_KINDS[kind]:
                raise ValueError(f"route.{kind}: channel {name!r} is a {channel.type} channel; {kind} targets "
                                 f"need one of type {', '.join(TARGET_KINDS[kind])}")
        return self

    def channel_for(self, kind: str) -> str | None:
        """The channel delivering the rules' ``notify`` targets of ``kind`` (email, webhook, mqtt)."""
        if kind in self.route:
            return self.route[kind]
        return next((name for name, ch in self.channels.items() if ch.type in TARGET_KINDS.get(kind, ())), None)

    def max_age_for(self, rule_id: str, channel: str | None) -> float:
        """Rule override, else channel override, else the default."""
        rule = self.rules.get(rule_id)
        if rule is not None and rule.max_age is not None:
            return rule.max_age
        ch = self.channels.get(channel) if channel else None
        return ch.max_age if ch is not None and ch.max_age is not None else self.max_age

    def group_window_for(self, rule_id: str, channel: str | None) -> float:
        rule = self.rules.get(rule_id)
        if rule is not None and rule.group_window is not None:
            return rule.group_window
        ch = self.channels.get(channel) if channel else None
        return ch.group_window if ch is not None and ch.group_window is not None else self.group_window


__all__ = ["EMAIL_TYPES", "TARGET_KINDS", "AlertsConfig", "Channel", "Duration", "FileChannel", "Match",
           "MqttChannel", "RetryPolicy", "RuleOverrides", "SecretRef", "SendGridChannel", "SmtpChannel",
           "WebhookChannel", "parse_duration"]
