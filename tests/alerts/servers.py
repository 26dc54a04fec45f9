"""Real servers the alert tests deliver to, on 127.0.0.1 with ports picked by the OS: an SMTP server (aiosmtpd)
that can be stopped and started again on its port, and an HTTP receiver (webhooks, SendGrid's mail/send) whose
answers a test scripts (status codes, delays)."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        """The message, parsed on access (parsing is slow: the server only stores bytes)."""
        msg = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    @property
    def message_id(self) -> str:
        head = self.content.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        for line in head.splitlines():
            if line.lower().startswith(b"message-id:"):
                return line.split(b":", 1)[1].strip().decode()
        return ""


class SmtpServer:
    """aiosmtpd on a fixed free port; ``replies``: scripted answers to DATA (``"451 ..."``), then 250."""

    def __init__(self, delay: float = 0.0) -> None:
        self.port = free_port()
        self.messages: list[Received] = []
        self.replies: list[str] = []
        self.delay = delay
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            if self.replies:
                return self.replies.pop(0)
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def start(self) -> SmtpServer:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def message_ids(self) -> list[str]:
        with self.lock:
            return [m.message_id for m in self.messages]


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """Records every POST; answers with ``answers`` in turn (status, headers, delay), then ``default``."""

    answers: list[tuple[int, dict[str, str], float]] = field(default_factory=list)
    default: int = 200
    requests: list[Request] = field(default_factory=list)  # the accepted ones (2xx)
    seen: list[Request] = field(default_factory=list)  # every request
    check: Callable[[Request], int | None] | None = None  # may veto a request with a status (e.g. 401)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                req = Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                status, headers, delay = receiver.next_answer(req)
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def next_answer(self, req: Request) -> tuple[int, dict[str, str], float]:
        with self.lock:
            self.seen.append(req)
            veto = self.check(req) if self.check else None
            if veto is not None:
                return veto, {}, 0.0
            answer = self.answers.pop(0) if self.answers else (self.default, {}, 0.0)
            if 200 <= answer[0] < 300:
                self.requests.append(req)
            return answer

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


__all__ = ["HttpReceiver", "Received", "Request", "SmtpServer", "free_port", "new_secret"]
