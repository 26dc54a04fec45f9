"""SMTP channel (smtplib): STARTTLS, implicit TLS or plain, optional login; one connection kept between sends.

Outcomes follow the server's reply: accepted after DATA is ``sent``; a 5xx reply to the recipient or the message
is ``dead`` (it will not change by retrying); 4xx replies, refused or dropped connections and timeouts are
``retry``. A failed login is ``retry`` too, so that fixing the password recovers every queued alert.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
from pathlib import Path

from vigil.alerts.channels.base import Outcome, read_secret
from vigil.alerts.mail import build_email
from vigil.alerts.message import Alert
from vigil.domain.alerting import SmtpChannel as SmtpConfig
from vigil.errors import ChannelError

log = logging.getLogger(__name__)


class SmtpChannel:
    def __init__(self, name: str, config: SmtpConfig, root: Path) -> None:
        self.name = name
        self.config = config
        self.root = root
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        c = self.config
        context = ssl.create_default_context()
        conn: smtplib.SMTP
        if c.security == "ssl":
            conn = smtplib.SMTP_SSL(c.host, c.default_port, timeout=c.timeout, context=context)
        else:
            conn = smtplib.SMTP(c.host, c.default_port, timeout=c.timeout)
            if c.security == "starttls":
                conn.starttls(context=context)
        if c.username:
            password = read_secret(c.password, self.root) if c.password else ""
            conn.login(c.username, password)
        return conn

    def send(self, alert: Alert) -> Outcome:
        msg = build_email(alert, alert.sender or self.config.sender, domain=self.config.message_id_domain)
        for attempt in (1, 2):  # a kept connection may have been closed by the server: reconnect once
            try:
                if self._conn is None:
                    self._conn = self._connect()
                refused = self._conn.send_message(msg, to_addrs=[alert.target])
            except smtplib.SMTPServerDisconnected as exc:
                self._drop()
                if attempt == 2:
                    return Outcome("retry", None, f"server disconnected: {exc}")
                continue
            except smtplib.SMTPRecipientsRefused as exc:
                code, reply = next(iter(exc.recipients.values()), (0, b""))
                return self._reply(code, reply, "recipient refused")
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                return self._reply(exc.smtp_code, exc.smtp_error, "message refused")
            except smtplib.SMTPAuthenticationError as exc:
                self._drop()
                return Outcome("retry", exc.smtp_code, "login refused (check username and password secret)")
            except ChannelError as exc:
                self._drop()
                return Outcome("retry", None, exc.message)
            except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timeout, TLS failure
                self._drop()
                return Outcome("retry", None, f"{exc.__class__.__name__}: {exc}")
            if refused:
                code, reply = next(iter(refused.values()))
                return self._reply(code, reply, "recipient refused")
            return Outcome("sent", 250, "accepted")
        return Outcome("retry", None, "unreachable")  # pragma: no cover - the loop always returns

    @staticmethod
    def _reply(code: int, reply: bytes | str, what: str) -> Outcome:
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        return Outcome("dead" if 500 <= code < 600 else "retry", code, f"{what}: {code} {text}".strip())

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._conn.quit()
        self._drop()


__all__ = ["SmtpChannel"]
