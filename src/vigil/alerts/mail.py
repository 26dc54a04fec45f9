"""Alert e-mails: a real :class:`email.message.EmailMessage` (text and HTML, the evidence frame inline) with a
``Message-ID`` derived from the alert id, so a receiver can de-duplicate a retried delivery."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate

from vigil.alerts.message import Alert, html_body, subject, text_body

EVIDENCE_CID = "evidence"


def message_id(alert_id: str, domain: str) -> str:
    """``<vigil.<alert id>@<domain>>``: the same on every attempt of one delivery."""
    return f"<vigil.{alert_id}@{domain}>"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip(" >") or "localhost"


def build_email(alert: Alert, sender: str, *, domain: str | None = None, date: float | None = None) -> EmailMessage:
    """The alert as an e-mail to ``alert.target`` from ``sender``; ``date`` (unix seconds) for the Date header."""
    msg = EmailMessage()
    msg["Subject"] = subject(alert)
    msg["From"] = sender
    msg["To"] = alert.target
    msg["Date"] = formatdate(date, localtime=False)
    msg["Message-ID"] = message_id(alert.alert_id, domain or domain_of(sender))
    msg["X-Vigil-Alert-Id"] = alert.alert_id
    msg["X-Vigil-Event-Id"] = alert.event_id
    msg["X-Vigil-Severity"] = alert.severity
    evidence = alert.evidence()
    msg.set_content(text_body(alert))
    msg.add_alternative(html_body(alert, EVIDENCE_CID if evidence else None), subtype="html")
    if evidence:
        html_part = msg.get_body(("html",))
        assert isinstance(html_part, EmailMessage)
        html_part.add_related(evidence, "image", "jpeg", cid=f"<{EVIDENCE_CID}>", filename="evidence.jpg",
                              disposition="inline")
    return msg


__all__ = ["EVIDENCE_CID", "build_email", "domain_of", "message_id"]
