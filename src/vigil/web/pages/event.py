"""One event: the evidence frame with boxes and the rule's zones, why it fired, the camera's frames around it,
lineage, deliveries of its alerts, feedback buttons."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from vigil.web.auth import VigilApp
from vigil.web.pages.session import Viewer
from vigil.web.pages.templating import render
from vigil.web.routes.events import _picture

router = APIRouter(prefix="/ui", include_in_schema=False)
ETag = Annotated[str | None, Header()]


@router.get("/events/{event_id}")
def event(request: Request, event_id: str, who: Viewer, app: VigilApp) -> Response:
    return render(request, "event.html", {"page": "review", "event": app.event_page(who, event_id)})


@router.get("/events/{event_id}/evidence.jpg")
def evidence(event_id: str, who: Viewer, app: VigilApp, if_none_match: ETag = None) -> Response:
    return _picture(app.evidence(who, event_id), if_none_match)


@router.get("/cameras/{camera}/frames/{ts}.jpg")
def frame(camera: str, ts: int, who: Viewer, app: VigilApp, if_none_match: ETag = None) -> Response:
    return _picture(app.camera_frame(who, camera, ts), if_none_match)


@router.get("/cameras/{camera}/latest.jpg")
def latest(camera: str, who: Viewer, app: VigilApp, if_none_match: ETag = None) -> Response:
    return _picture(app.latest_frame(who, camera), if_none_match)


__all__ = ["router"]
