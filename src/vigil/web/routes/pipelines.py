"""Pipelines and jobs (tokens of every tenant only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from vigil.web.auth import Caller, VigilApp
from vigil.web.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["pipelines"], responses=ERROR_RESPONSES)


@router.get("/pipelines", response_model=list[dict[str, Any]], summary="Pipelines, upstream first, last job")
def list_pipelines(who: Caller, app: VigilApp) -> list[dict[str, Any]]:
    return app.pipelines(who)


@router.get("/pipelines/{name}", response_model=dict[str, Any])
def get_pipeline(name: str, who: Caller, app: VigilApp) -> dict[str, Any]:
    return app.pipeline(who, name)


@router.get("/jobs", response_model=list[dict[str, Any]], summary="Recent jobs, newest first")
def list_jobs(who: Caller, app: VigilApp, pipeline: str | None = None,
              limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> list[dict[str, Any]]:
    return [j.to_dict() for j in app.jobs(who, pipeline, limit)]


@router.get("/jobs/{job_id}", response_model=dict[str, Any])
def get_job(job_id: str, who: Caller, app: VigilApp) -> dict[str, Any]:
    return app.job(who, job_id).to_dict()
