"""Events: list (filters, cursor pages), detail (reason, lineage), evidence picture, feedback."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response

from vigil.index.events import EventQuery
from vigil.index.evidence import Picture
from vigil.web.auth import Caller, VigilApp
from vigil.web.errors import ERROR_RESPONSES
from vigil.web.models import EventDetailOut, EventOut, EventPageOut, FeedbackIn, FeedbackOut
from vigil.web.routes.stats import Since, Until

router = APIRouter(prefix="/api/v1", tags=["events"], responses=ERROR_RESPONSES)
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_JPEG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": _BINARY}}, 304: {}}


@router.get("/events", response_model=EventPageOut, summary="Events, newest first, one indexed query per page")
def list_events(who: Caller, app: VigilApp,
                tenant: str | None = None, camera: str | None = None, rule: str | None = None,
                severity: Literal["low", "medium", "high", "critical"] | None = None,
                label: str | None = None,
                since: Since = None, until: Until = None,
                reviewed: bool | None = None,
                verdict: Literal["true_positive", "false_positive"] | None = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                cursor: Annotated[str | None, Query(max_length=200)] = None) -> dict[str, Any]:
    page = app.events(who, EventQuery(tenant, camera, rule, severity, label, since, until, reviewed, verdict,
                                      limit, cursor))
    return {"events": page.events, "next_cursor": page.next_cursor}


@router.get("/events/{event_id}", response_model=EventDetailOut,
            summary="One event: why it fired (rule, classes, scores, zone, window) and its lineage")
def get_event(event_id: str, who: Caller, app: VigilApp) -> dict[str, Any]:
    return app.event(who, event_id)


def _picture(picture: Picture, if_none_match: str | None) -> Response:
    etag = f'"{picture.etag}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=3600"}
    if if_none_match is not None and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(picture.data, media_type=picture.media_type, headers=headers)


@router.get("/events/{event_id}/evidence.jpg", response_class=Response, responses=_JPEG,
            summary="The event's frame with its objects boxed (drawn on demand, cached, ETag)")
def evidence(event_id: str, who: Caller, app: VigilApp,
             if_none_match: Annotated[str | None, Header()] = None) -> Response:
    return _picture(app.evidence(who, event_id), if_none_match)


@router.get("/events/{event_id}/thumbnail.jpg", response_class=Response, responses=_JPEG,
            summary="A small copy of the evidence picture")
def thumbnail(event_id: str, who: Caller, app: VigilApp,
              if_none_match: Annotated[str | None, Header()] = None) -> Response:
    return _picture(app.evidence(who, event_id, thumbnail=True), if_none_match)


@router.post("/events/{event_id}/feedback", response_model=FeedbackOut, status_code=201,
             summary="Mark an event a true or false positive (or reviewed); stored in the feedback repo")
def feedback(event_id: str, body: FeedbackIn, who: Caller, app: VigilApp) -> dict[str, Any]:
    return app.feedback(who, event_id, body.verdict, body.note, body.reviewed)


__all__ = ["EventOut", "router"]
