"""Reports (threats per camera and per day, precision per rule and camera, events per hour, CSV) and the
rules in force."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response, StreamingResponse

from vigil.errors import UsageError
from vigil.web.auth import VigilApp
from vigil.web.pages import charts, session
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
    return render(request, "rules.html", {"page": "rules", "rules": app.rules_page(who)})


@router.post("/rules/backtest")
def backtest(request: Request, who: Viewer, app: VigilApp, rules: Annotated[str, Form(max_length=200_000)],
             csrf: Annotated[str, Form(max_length=100)] = "", since: Annotated[str, Form(max_length=10)] = "",
             until: Annotated[str, Form(max_length=10)] = "") -> Response:
    """Back-test edited rules (nothing is sent or written; POST only because the text can be long)."""
    session.check_csrf(request, csrf)
    current = app.rules_page(who)
    context = {"page": "rules", "rules": {**current, "text": rules}, "since": since, "until": until}
    try:
        result = app.backtest(who, rules, _day(since, "since"), _day(until, "until", end=True))
    except UsageError as exc:  # SpecError too: shown beside the text, which is kept for editing
        return render(request, "rules.html", {**context, "error": exc}, status=400)
    return render(request, "rules.html", {**context, "result": result})


__all__ = ["router"]
