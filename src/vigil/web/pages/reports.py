"""Reports (threats per camera and per day, precision per rule and camera, events per hour, CSV) and the
rules in force."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from vigil.errors import UsageError
from vigil.web.auth import VigilApp
from vigil.web.pages import charts
from vigil.web.pages.review import Filters
from vigil.web.pages.session import Viewer
from vigil.web.pages.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False)
Day = Annotated[str, Query(max_length=10, description="YYYY-MM-DD (UTC)")]


def _day(value: str, name: str, end: bool = False) -> int | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
    except ValueError:
        raise UsageError(f"{name}: {value!r} is not a date", "use YYYY-MM-DD") from None
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


@router.get("/reports")
def reports(request: Request, who: Viewer, app: VigilApp, since: Day = "", until: Day = "") -> Response:
    report = app.report(who, _day(since, "since"), _day(until, "until", end=True))
    return render(request, "reports.html", {
        "page": "reports", "since": since, "until": until, "report": report,
        "per_camera": charts.hbars(report["per_camera"]), "days": charts.stacked_days(report["daily"]),
        "heat": charts.heatmap(report["hourly"])})


@router.get("/reports/events.csv")
def events_csv(who: Viewer, app: VigilApp, query: Filters) -> Response:
    return StreamingResponse(app.events_csv(who, query), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="events.csv"'})


@router.get("/rules")
def rules(request: Request, who: Viewer, app: VigilApp) -> Response:
    return render(request, "rules.html", {"page": "rules", "rules": app.rules(who)})


__all__ = ["router"]
