"""Bearer-token authentication: ``Authorization: Bearer vgl_<id>_<secret>`` -> a :class:`Principal`.

A verified token is remembered for ``TTL`` seconds (a sha256 and a primary-key probe would be cheap, but a
camera frame should not pay a database round trip): a revoked token stops working within that time on every
server. The token itself is never logged.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from vigil.app import App
from vigil.domain.access import Principal
from vigil.errors import AuthenticationError
from vigil.store import audit

TTL = 5.0
_bearer = HTTPBearer(auto_error=False, description="an API token: `vigil token create --role ROLE`")


class TokenCache:
    """Verified tokens (by digest) for a few seconds; unknown ones too, so a flood of bad tokens stays cheap."""

    def __init__(self, ttl: float = TTL, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._items: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bool, Principal | None]:
        with self._lock:
            item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            return False, None
        return True, item[1]

    def put(self, key: str, principal: Principal | None) -> None:
        with self._lock:
            if len(self._items) >= self.size:
                self._items.clear()
            self._items[key] = (time.monotonic() + self.ttl, principal)


def vigil_app(request: Request) -> App:
    app: App = request.app.state.vigil
    return app


async def principal(request: Request,
                    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """The caller, from its bearer token; ``AuthenticationError`` (401) without a valid one."""
    if credentials is None or not credentials.credentials:
        raise AuthenticationError("this endpoint needs an API token",
                                  "send `Authorization: Bearer TOKEN` (create one with `vigil token create`)")
    token = credentials.credentials
    origin = f"http:{request.client.host}" if request.client else "http"
    audit.set_actor(audit.Actor("anonymous", origin))  # this request's context: what it does is audited so
    cache: TokenCache = request.app.state.tokens
    key = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
    known, who = cache.get(key)
    if not known:
        who = await run_in_threadpool(vigil_app(request).verify_token, token)
        cache.put(key, who)
    if who is None:
        raise AuthenticationError("invalid or revoked API token", "create a new one with `vigil token create`")
    request.state.principal = who
    audit.set_actor(audit.Actor(f"token:{who.token_id}", origin))
    return who


Caller = Annotated[Principal, Depends(principal)]
VigilApp = Annotated[App, Depends(vigil_app)]

__all__ = ["Caller", "TokenCache", "VigilApp", "principal", "vigil_app"]
