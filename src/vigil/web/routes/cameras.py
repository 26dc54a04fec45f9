"""Cameras: the ones with valid frames (per tenant), and each one's newest frame."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response

from vigil.web.auth import Caller, VigilApp
from vigil.web.errors import ERROR_RESPONSES
from vigil.web.models import CameraOut
from vigil.web.routes.events import _picture

router = APIRouter(prefix="/api/v1", tags=["cameras"], responses=ERROR_RESPONSES)
_IMAGE = {"schema": {"type": "string", "format": "binary"}}


@router.get("/cameras", response_model=list[CameraOut])
def list_cameras(who: Caller, app: VigilApp) -> list[dict[str, Any]]:
    return app.cameras(who)


@router.get("/cameras/{camera}", response_model=CameraOut)
def get_camera(camera: str, who: Caller, app: VigilApp) -> dict[str, Any]:
    return app.camera(who, camera)


@router.get("/cameras/{camera}/latest", response_class=Response, summary="The camera's newest valid frame",
            responses={200: {"content": {"image/jpeg": _IMAGE, "image/png": _IMAGE}}, 304: {}})
def latest_frame(camera: str, who: Caller, app: VigilApp,
                 if_none_match: Annotated[str | None, Header()] = None) -> Response:
    return _picture(app.latest_frame(who, camera), if_none_match)
