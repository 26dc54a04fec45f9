"""Operations: liveness, readiness, Prometheus metrics (no token: they reveal no tenant's data)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from vigil.web.auth import VigilApp
from vigil.web.models import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process answers")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}},
            summary="Readiness: database and object store reachable, runner alive (when it runs here)")
def readyz(request: Request, app: VigilApp) -> Response:
    checks = app.readiness()
    runner = request.app.state.runner
    if runner is not None:
        checks["runner"] = "ok" if runner.alive else "stopped"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(Health(status="ok" if ok else "unavailable", checks=checks).model_dump(),
                        200 if ok else 503)


@router.get("/metrics", response_class=Response, summary="Prometheus metrics",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
