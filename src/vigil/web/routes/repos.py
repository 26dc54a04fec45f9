"""Repos for tools (tokens of every tenant only): files, listings, commits, log, diff."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from vigil.store.paths import normalize_path
from vigil.web.auth import Caller, VigilApp
from vigil.web.errors import ERROR_RESPONSES
from vigil.web.models import ChangeOut, CommitDetailOut, CommitOut, FileOut, RepoOut
from vigil.web.routes.ingest import _body

router = APIRouter(prefix="/api/v1/repos", tags=["repos"], responses=ERROR_RESPONSES)
Ref = Annotated[str | None, Query(max_length=300, description="branch, commit id (prefix) or REF^N")]


def _target(repo: str, ref: str | None, path: str) -> str:
    return f"{repo}{'@' + ref if ref else ''}:{normalize_path(path)}"


@router.get("", response_model=list[RepoOut])
def list_repos(who: Caller, app: VigilApp) -> list[dict[str, Any]]:
    return [r.to_dict() for r in app.repos(who)]


@router.get("/{repo}", response_model=RepoOut)
def inspect_repo(repo: str, who: Caller, app: VigilApp) -> dict[str, Any]:
    return app.repo(who, repo).to_dict()


@router.get("/{repo}/commits", response_model=list[CommitOut], summary="Log: commits newest first")
def log(repo: str, who: Caller, app: VigilApp, ref: Ref = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
    return [c.to_dict() for c in app.log(who, repo, ref, limit)]


@router.get("/{repo}/commits/{ref}", response_model=CommitDetailOut, summary="A commit and what it changed")
def commit(repo: str, ref: str, who: Caller, app: VigilApp) -> dict[str, Any]:
    info, changes = app.commit(who, repo, ref)
    return {"commit": info.to_dict(), "changes": [c.to_dict() for c in changes]}


@router.get("/{repo}/diff", response_model=list[ChangeOut], summary="Changes from one ref to another")
def diff(repo: str, who: Caller, app: VigilApp,
         from_: Annotated[str, Query(alias="from", max_length=300)],
         to: Annotated[str, Query(max_length=300)] = "master") -> list[dict[str, Any]]:
    return [c.to_dict() for c in app.compare(who, f"{repo}@{from_}", f"{repo}@{to}")]


@router.get("/{repo}/ls", response_model=list[FileOut], summary="Files under a path (or matching a glob)")
def ls(repo: str, who: Caller, app: VigilApp, ref: Ref = None,
       path: Annotated[str, Query(max_length=4096)] = "/") -> list[dict[str, Any]]:
    return [f.to_dict() for f in app.files(who, _target(repo, ref, path))]


@router.get("/{repo}/files/{path:path}", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                   "format": "binary"}}}}})
def get_file(repo: str, path: str, who: Caller, app: VigilApp, ref: Ref = None) -> Response:
    info, data = app.read_file(who, repo, ref, "/" + path)
    return Response(data, media_type="application/octet-stream", headers={"ETag": f'"{info.oid}"'})


@router.put("/{repo}/files/{path:path}", response_model=CommitOut, summary="Write one file as a commit",
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def put_file(repo: str, path: str, request: Request, who: Caller, app: VigilApp,
                   branch: Annotated[str | None, Query(max_length=255)] = None,
                   message: Annotated[str, Query(max_length=2000)] = "") -> dict[str, Any]:
    from fastapi.concurrency import run_in_threadpool

    data = await _body(request, request.app.state.max_body)
    info = await run_in_threadpool(app.write_file, who, _target(repo, branch, "/" + path), data, message)
    return info.to_dict()
