"""API tokens (admin role): create (the secret is shown once), list, revoke."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from vigil.web.auth import Caller, VigilApp
from vigil.web.errors import ERROR_RESPONSES
from vigil.web.models import TokenCreated, TokenIn, TokenOut

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"], responses=ERROR_RESPONSES)


@router.get("", response_model=list[TokenOut])
def list_tokens(who: Caller, app: VigilApp) -> list[dict[str, Any]]:
    return [t.to_dict() for t in app.list_tokens(who)]


@router.post("", response_model=TokenCreated, status_code=201)
def create_token(body: TokenIn, who: Caller, app: VigilApp) -> dict[str, Any]:
    token, info = app.create_token(who, body.role, body.tenant, body.cameras, body.name)
    return {**info.to_dict(), "token": token}


@router.delete("/{token_id}", response_model=TokenOut)
def revoke_token(token_id: str, who: Caller, app: VigilApp) -> dict[str, Any]:
    return app.revoke_token(token_id, who).to_dict()
