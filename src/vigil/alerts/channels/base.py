"""The one small interface every alert channel implements, and what a send attempt can come to."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from vigil.alerts.message import Alert
from vigil.domain.alerting import SecretRef
from vigil.errors import ChannelError

Status = Literal["sent", "retry", "dead", "gone"]


@dataclass(frozen=True)
class Outcome:
    """``sent``: handed over (the receiver accepted it); ``retry``: a transient failure, try again later
    (``retry_after``: the receiver's own wish, seconds); ``dead``: a permanent failure, do not retry;
    ``gone``: the receiver asked never to be sent anything again (HTTP 410): the endpoint is disabled."""

    status: Status
    code: int | None = None
    detail: str = ""
    retry_after: float | None = None


class Channel(Protocol):
    """Sends alerts to targets of one kind. ``send`` never raises for a delivery problem: it returns an
    :class:`Outcome` (an unreachable server is ``retry``); connections may be kept between calls."""

    name: str

    def send(self, alert: Alert) -> Outcome: ...

    def close(self) -> None: ...


def read_secret(ref: SecretRef, root: Path) -> str:
    """The secret ``ref`` names (an environment variable, or the first line of a file relative to ``root``);
    ``ChannelError`` naming where it looked, never showing a value."""
    import os

    if ref.env is not None:
        value = os.environ.get(ref.env)
        if not value:
            raise ChannelError(f"the secret variable ${ref.env} is not set",
                               f"export {ref.env}=... in the environment of the process that delivers alerts")
        return value
    path = Path(ref.file or "")
    path = path if path.is_absolute() else root / path
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ChannelError(f"cannot read the secret file {path}: {exc.strerror}",
                           "create it (readable only by the Vigil user) or fix the path in vigil.yaml") from exc
    if not lines or not lines[0].strip():
        raise ChannelError(f"the secret file {path} is empty", "write the secret on its first line")
    return lines[0].strip()


__all__ = ["Channel", "Outcome", "Status", "read_secret"]
