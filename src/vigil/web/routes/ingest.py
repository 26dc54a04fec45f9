"""Camera push: ``POST /api/v1/cameras/{camera}/frames`` (raw JPEG/PNG body, or multipart with several frames)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool

from vigil.errors import PayloadTooLargeError, UsageError
from vigil.ingest.frames import parse_timestamp
from vigil.ingest.push import GivenTime, Upload
from vigil.web.auth import Caller, VigilApp
from vigil.web.errors import ERROR_RESPONSES
from vigil.web.models import FrameAck, PushReply

router = APIRouter(prefix="/api/v1", tags=["ingest"], responses=ERROR_RESPONSES)

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_BODY = {"requestBody": {"required": True, "content": {
    "image/jpeg": _BINARY, "image/png": _BINARY,
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "frames": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
}}}
MAX_FILES = 100


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"request body of {declared} bytes is over the limit of {limit}",
                                   "send fewer or smaller frames per request (or raise --max-body)")
    parts, n = [], 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > limit:
            raise PayloadTooLargeError(f"request body is over the limit of {limit} bytes",
                                       "send fewer or smaller frames per request (or raise --max-body)")
        parts.append(chunk)
    return b"".join(parts)


async def read_uploads(request: Request, limit: int) -> list[Upload]:
    """The frames of a request: its raw body, or every file part of a multipart body."""
    body = await _body(request, limit)
    if not request.headers.get("content-type", "").startswith("multipart/"):
        return [Upload(body)]

    async def replay() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=MAX_FILES, max_part_size=limit)
    except Exception as exc:  # malformed multipart: the client's fault
        raise UsageError(f"unreadable multipart body: {exc}", "send files as multipart/form-data parts") from None
    uploads = []
    for _, value in form.multi_items():
        if not isinstance(value, str):
            uploads.append(Upload(await value.read(), value.filename))
    await form.close()
    return uploads


def _given(header: str | None, query: str | None) -> GivenTime | None:
    if header:
        return GivenTime(parse_timestamp(header, "X-Vigil-Timestamp header"), "header")
    if query:
        return GivenTime(parse_timestamp(query, "ts query parameter"), "query")
    return None


@router.post("/cameras/{camera}/frames", status_code=201, response_model=PushReply, openapi_extra=_BODY,
             summary="Push one frame (raw body) or several (multipart); answered once they are durable")
async def push_frames(camera: str, request: Request, who: Caller, app: VigilApp,
                      ts: Annotated[str | None, Query(description="capture time: unix seconds or ISO-8601")] = None,
                      x_vigil_timestamp: Annotated[str | None, Header(description="capture time")] = None,
                      ) -> PushReply:
    start = time.perf_counter()
    given = _given(x_vigil_timestamp, ts)
    uploads = await read_uploads(request, request.app.state.max_body)
    future = await run_in_threadpool(app.push_frames, who, camera, uploads, given)
    acks = await asyncio.wrap_future(future)
    request.app.state.metrics.pushed(len(acks), sum(a.size for a in acks), time.perf_counter() - start)
    return PushReply(camera=camera, frames=[FrameAck(**a.to_dict()) for a in acks])  # type: ignore[arg-type]
