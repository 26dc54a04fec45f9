"""The current rule set (a tenant's token sees the rules naming its tenant)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vigil.web.auth import Caller, VigilApp
from vigil.web.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["rules"], responses=ERROR_RESPONSES)


@router.get("/rules", response_model=dict[str, Any])
def rules(who: Caller, app: VigilApp) -> dict[str, Any]:
    return app.rules(who)
