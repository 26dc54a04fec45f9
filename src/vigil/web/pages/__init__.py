"""The operator's dashboard: server-rendered pages under ``/ui`` on the API's app (same process, same tokens),
with the package's own templates, CSS and script (no CDN, no build step). Logged in by a session cookie
(:mod:`vigil.web.pages.session`); each handler makes one call into the application API
(:class:`vigil.dashboard.DashboardAPI`)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException
from starlette.staticfiles import StaticFiles

from vigil.errors import VigilError
from vigil.web import errors
from vigil.web.pages import event, login, reports, review, session, site
from vigil.web.pages.templating import HERE, render

ROUTERS = (login.router, review.router, event.router, site.router, reports.router)
PREFIX = "/ui/"


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


async def _login_required(request: Request, _exc: Exception) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": {"type": "AuthenticationError", "message": "not logged in",
                                       "hint": "log in again", "exit_code": 17}}, 401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/ui/login?{_next(target)}", status_code=303)


def _next(target: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"next": login.safe_next(target)})


async def _error(request: Request, exc: Exception) -> Response:
    """Errors of pages as a page (scripts get the API's JSON); of the API as before."""
    assert isinstance(exc, VigilError)
    if not request.url.path.startswith(PREFIX) or _wants_json(request):
        return await errors._vigil_error(request, exc)
    return render(request, "error.html", {"error": exc}, status=errors.status_of(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    """Unknown pages (404) and wrong methods as a page too."""
    assert isinstance(exc, HTTPException)
    if not request.url.path.startswith(PREFIX) or _wants_json(request):
        return await errors._http_error(request, exc)
    message = "no such page" if exc.status_code == 404 else str(exc.detail)
    return render(request, "error.html", {"error": VigilError(message, "use the links at the top")},
                  status=exc.status_code)


def install(web: FastAPI) -> None:
    """Add the pages, their static files and their error handling to the API's app."""
    for router in ROUTERS:
        web.include_router(router)
    web.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="static")
    web.add_exception_handler(session.LoginRequired, _login_required)
    web.add_exception_handler(VigilError, _error)
    web.add_exception_handler(HTTPException, _http_error)

    @web.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/ui/review", status_code=303)


__all__ = ["install"]
