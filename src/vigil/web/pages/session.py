"""Dashboard sessions: log in with an API token, then a signed cookie; a CSRF token on every POST.

The cookie (``vigil_session``: HttpOnly, SameSite=Lax, Secure over https) holds the token's *id* and the
session's CSRF token, signed and timestamped with itsdangerous under the workspace's own key
(:meth:`vigil.dashboard.DashboardAPI.session_secret`): never the token itself. Each request re-checks that the
token is still unrevoked (cached for the API's token TTL), so revoking a token ends its sessions too. A page
POST must carry the session's CSRF token (form field ``csrf`` or header ``X-CSRF-Token``); the login form has
one too (an anonymous session is made when the form is shown), so no other site can log a browser in.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from itsdangerous import BadSignature, URLSafeTimedSerializer

from vigil.domain.access import Principal
from vigil.errors import ForbiddenError
from vigil.web.auth import TokenCache, vigil_app

COOKIE = "vigil_session"
MAX_AGE = 12 * 3600  # seconds a session lasts after login
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    """No valid session: pages redirect to the login form, scripts get 401."""


class CsrfError(ForbiddenError):
    """A page POST without this session's CSRF token (403)."""

    def __init__(self) -> None:
        super().__init__("this form has expired or did not come from this dashboard",
                         "reload the page and submit it again")


def _serializer(request: Request) -> URLSafeTimedSerializer:
    state = request.app.state
    if getattr(state, "session_serializer", None) is None:
        state.session_serializer = URLSafeTimedSerializer(vigil_app(request).session_secret(),
                                                          salt="vigil-dashboard-session")
    serializer: URLSafeTimedSerializer = state.session_serializer
    return serializer


def read(request: Request) -> dict[str, Any]:
    """The session's data ({} without a valid cookie)."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return {}
    try:
        data = _serializer(request).loads(raw, max_age=MAX_AGE)
    except BadSignature:
        return {}
    return data if isinstance(data, dict) else {}


def write(request: Request, response: Response, data: dict[str, Any]) -> None:
    response.set_cookie(COOKIE, _serializer(request).dumps(data), max_age=MAX_AGE, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")


def clear(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")


def csrf_token(request: Request) -> tuple[str, bool]:
    """The session's CSRF token, and whether it is new (the caller must then write the session)."""
    token = read(request).get(CSRF_FIELD)
    if isinstance(token, str) and token:
        return token, False
    return secrets.token_urlsafe(24), True


def check_csrf(request: Request, sent: str | None) -> None:
    """``CsrfError`` unless ``sent`` (form field or header) is this session's CSRF token."""
    expected = read(request).get(CSRF_FIELD)
    given = sent or request.headers.get(CSRF_HEADER) or ""
    if not isinstance(expected, str) or not expected or not hmac.compare_digest(expected, given):
        raise CsrfError()


async def viewer(request: Request) -> Principal:
    """The logged-in principal; ``LoginRequired`` without a valid session (or once its token is revoked)."""
    data = read(request)
    token_id = data.get("tid")
    if not isinstance(token_id, str):
        raise LoginRequired()
    cache: TokenCache = request.app.state.tokens
    key = f"session:{token_id}"
    known, who = cache.get(key)
    if not known:
        who = await run_in_threadpool(vigil_app(request).session_principal, token_id)
        cache.put(key, who)
    if who is None:
        raise LoginRequired()
    request.state.principal = who
    request.state.csrf = data.get(CSRF_FIELD, "")
    return who


Viewer = Annotated[Principal, Depends(viewer)]

__all__ = ["COOKIE", "CsrfError", "LoginRequired", "Viewer", "check_csrf", "clear", "csrf_token", "read",
           "viewer", "write"]
