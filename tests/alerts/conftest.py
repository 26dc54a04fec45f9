"""Alert fixtures: a real SMTP server, an HTTP receiver, a webhook secret in the environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.alerts.servers import HttpReceiver, SmtpServer, new_secret

SECRET_ENV = "VIGIL_TEST_WEBHOOK_SECRET"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver()
    yield r
    r.close()


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = new_secret()
    monkeypatch.setenv(SECRET_ENV, value)
    return value


def smtp_channel(server: SmtpServer, **extra: object) -> dict[str, object]:
    return {"type": "smtp", "host": "127.0.0.1", "port": server.port, "security": "none",
            "sender": "vigil@site.example", "to": ["guard@site.example"], "timeout": 5, **extra}


def webhook_channel(receiver: HttpReceiver, **extra: object) -> dict[str, object]:
    return {"type": "webhook", "url": receiver.url + "/hook", "secret": {"env": SECRET_ENV},
            "allow_private": True, "timeout": 5, **extra}
