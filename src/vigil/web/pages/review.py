"""The review screen: events newest first in bursts per camera, filters, thumbnails, feedback (keyboard in
``static/review.js``), and the small endpoint it polls for new events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from vigil.errors import UsageError
from vigil.index.events import EventQuery
from vigil.web.auth import VigilApp
from vigil.web.pages import session
from vigil.web.pages.login import safe_next
from vigil.web.pages.session import Viewer
from vigil.web.pages.templating import render
from vigil.web.routes.events import _picture

router = APIRouter(prefix="/ui", include_in_schema=False)
PAGE = 60  # events on one screen
FILTERS = ("camera", "rule", "severity", "label", "since", "until", "reviewed", "verdict")
Text = Annotated[str, Query(max_length=200)]


def _moment(value: str, name: str) -> int | None:
    """A ``datetime-local`` value (UTC) or unix seconds -> unix seconds."""
    if not value:
        return None
    if value.isdigit():
        return int(value)
    try:
        return int(datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp())
    except ValueError:
        raise UsageError(f"{name}: {value!r} is not a time", "use YYYY-MM-DDTHH:MM (UTC)") from None


def review_query(camera: Text = "", rule: Text = "", label: Text = "", since: Text = "", until: Text = "",
                 severity: Literal["", "low", "medium", "high", "critical"] = "",
                 reviewed: Literal["", "yes", "no"] = "",
                 verdict: Literal["", "true_positive", "false_positive"] = "",
                 cursor: Annotated[str, Query(max_length=200)] = "") -> EventQuery:
    """The review filters from the page's query string (empty = any)."""
    return EventQuery(camera=camera or None, rule=rule or None, severity=severity or None, label=label or None,
                      since=_moment(since, "since"), until=_moment(until, "until"),
                      reviewed={"yes": True, "no": False}.get(reviewed), verdict=verdict or None, limit=PAGE,
                      cursor=cursor or None)


Filters = Annotated[EventQuery, Depends(review_query)]


def _chosen(request: Request) -> dict[str, str]:
    return {k: request.query_params.get(k, "") for k in FILTERS}


@router.get("/")
def home() -> Response:
    return RedirectResponse("/ui/review", status_code=303)


@router.get("/review")
def review(request: Request, who: Viewer, app: VigilApp, query: Filters) -> Response:
    return render(request, "review.html", {"page": "review", "chosen": _chosen(request),
                                           "view": app.review(who, query)})


@router.get("/review/fresh")
def fresh(request: Request, who: Viewer, app: VigilApp, query: Filters, top: Text = "") -> Response:
    """The events list again (an HTML fragment) when its newest event is no longer ``top``; 204 otherwise."""
    view = app.review_if_changed(who, query, top or None)
    if view is None:
        return Response(status_code=204)
    return render(request, "_events.html", {"view": view, "chosen": _chosen(request)})


@router.get("/events/{event_id}/thumbnail.jpg")
def thumbnail(event_id: str, who: Viewer, app: VigilApp,
              if_none_match: Annotated[str | None, Header()] = None) -> Response:
    return _picture(app.evidence(who, event_id, thumbnail=True), if_none_match)


@router.post("/events/{event_id}/feedback")
def feedback(request: Request, event_id: str, who: Viewer, app: VigilApp,
             verdict: Annotated[Literal["true_positive", "false_positive", "reviewed"], Form()],
             csrf: Annotated[str, Form(max_length=100)] = "", next: Annotated[str, Form(max_length=2000)] = "",
             accept: Annotated[str, Header()] = "") -> Response:
    """A verdict from a form (redirects back) or from the page's script (``Accept: application/json``)."""
    session.check_csrf(request, csrf)
    record: dict[str, Any] = app.mark(who, event_id, None if verdict == "reviewed" else verdict)
    if "application/json" in accept:
        return JSONResponse({k: record[k] for k in ("event_id", "verdict", "reviewed", "rule_id", "rule_precision")})
    return RedirectResponse(safe_next(next or f"/ui/events/{event_id}"), status_code=303)


__all__ = ["review_query", "router"]
