"""Statistics from the events index: events per camera/rule/severity, per day, and precision from feedback."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from vigil.domain.identity import MAX_TS
from vigil.web.auth import Caller, VigilApp
from vigil.web.errors import ERROR_RESPONSES
from vigil.web.models import DailyRow, PrecisionRow

router = APIRouter(prefix="/api/v1/stats", tags=["stats"], responses=ERROR_RESPONSES)
Since = Annotated[int | None, Query(ge=0, le=MAX_TS, description="unix seconds, inclusive")]
Until = Annotated[int | None, Query(ge=0, le=MAX_TS, description="unix seconds, exclusive")]


@router.get("/events", response_model=dict[str, int],
            summary="Events per camera (the threats-per-camera chart), rule or severity")
def event_counts(who: Caller, app: VigilApp, by: Literal["camera", "rule", "severity"] = "camera",
                 since: Since = None, until: Until = None) -> dict[str, int]:
    return app.event_counts(who, by, since, until)


@router.get("/daily", response_model=list[DailyRow], summary="Events per UTC day, camera and severity")
def daily(who: Caller, app: VigilApp, since: Since = None, until: Until = None) -> list[dict[str, Any]]:
    return app.daily_events(who, since, until)


@router.get("/precision", response_model=list[PrecisionRow],
            summary="Precision (true / (true + false positives)) per rule, camera or label, from feedback")
def precision(who: Caller, app: VigilApp, by: Literal["rule", "camera", "label"] = "rule",
              since: Since = None, until: Until = None) -> list[dict[str, Any]]:
    return app.precision(who, by, since, until)
