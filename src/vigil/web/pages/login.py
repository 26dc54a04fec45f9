"""Log in with an API token (form POST -> session cookie), log out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from vigil.errors import AuthenticationError, ForbiddenError
from vigil.web.auth import VigilApp
from vigil.web.pages import session
from vigil.web.pages.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False)
HOME = "/ui/review"


def safe_next(target: str | None) -> str:
    """Only a path of this dashboard (never another site: no open redirect)."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return HOME


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", {"page": "login", "next": safe_next(next)})


@router.post("/login")
def login(request: Request, app: VigilApp, token: Annotated[str, Form(max_length=200)] = "",
          csrf: Annotated[str, Form(max_length=100)] = "", next: Annotated[str, Form(max_length=2000)] = HOME
          ) -> Response:
    session.check_csrf(request, csrf)
    try:
        who = app.login(token)
    except (AuthenticationError, ForbiddenError) as exc:
        return render(request, "login.html", {"page": "login", "next": safe_next(next), "error": exc},
                      status=401 if isinstance(exc, AuthenticationError) else 403)
    response = RedirectResponse(safe_next(next), status_code=303)
    # a new CSRF token at login: one seen before it (on a shared machine) is worth nothing after
    session.write(request, response, {"tid": who.token_id, session.CSRF_FIELD: secrets.token_urlsafe(24)})
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    session.check_csrf(request, csrf)
    response = RedirectResponse("/ui/login", status_code=303)
    session.clear(response)
    return response


__all__ = ["HOME", "router", "safe_next"]
