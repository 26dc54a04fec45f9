"""The site: cameras (tiles with health) and, for tokens of every tenant, the System page (pipelines, jobs,
outbox, dead letters with a retry action, storage, versions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from vigil.web.auth import VigilApp
from vigil.web.pages import session
from vigil.web.pages.session import Viewer
from vigil.web.pages.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/cameras")
def cameras(request: Request, who: Viewer, app: VigilApp) -> Response:
    return render(request, "cameras.html", {"page": "cameras", "tiles": app.camera_tiles(who)})


@router.get("/system")
def system(request: Request, who: Viewer, app: VigilApp) -> Response:
    return render(request, "system.html", {"page": "system", "system": app.system(who)})


@router.post("/system/deliveries/{ident}/retry")
def retry(request: Request, ident: str, who: Viewer, app: VigilApp,
          csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    session.check_csrf(request, csrf)
    queued = app.retry_delivery(who, ident)
    return RedirectResponse(f"/ui/system?retried={queued}", status_code=303)


__all__ = ["router"]
