"""Rendering pages: the Jinja2 templates shipped in the package, their filters, and the context every page has
(the caller, the CSRF token for its forms, the navigation)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from vigil import __version__
from vigil.web.pages import session

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
NAV = (("review", "Review"), ("cameras", "Cameras"), ("reports", "Reports"), ("rules", "Rules"),
       ("system", "System"))


def utc(ts: float | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return "" if ts is None else datetime.fromtimestamp(float(ts), UTC).strftime(fmt)


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s // size} {unit} ago"
    return f"{max(s, 0)} s ago"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def short(value: Any, n: int = 12) -> str:
    return str(value or "")[:n]


def qs(params: dict[str, Any], **extra: Any) -> str:
    """A query string of ``params`` updated with ``extra``, empty values left out."""
    return urlencode({k: v for k, v in {**params, **extra}.items() if v not in (None, "")})


templates.env.filters.update(utc=utc, ago=ago, percent=percent, size=size, short=short)
templates.env.globals.update(qs=qs, version=__version__)


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    """``name`` rendered with ``context`` plus who is logged in, the CSRF token and the page's nav entry;
    a session cookie is written when this request made the CSRF token."""
    token, new = session.csrf_token(request)
    who = getattr(request.state, "principal", None)
    ctx = {"who": who, "csrf": token, "nav": NAV, "page": context.get("page", ""), "now": time.time(), **context}
    response = templates.TemplateResponse(request, name, ctx, status_code=status)
    if new:
        session.write(request, response, {**session.read(request), session.CSRF_FIELD: token})
    return response


__all__ = ["render", "templates", "utc"]
