"""Errors as JSON: the same classes, messages and hints as the CLI, and the one map from exit codes (the
CLI's classification, :mod:`vigil.errors`) to HTTP statuses.

Body: ``{"error": {"type": "NotFoundError", "message": "...", "hint": "...", "exit_code": 3}}``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from vigil.errors import VigilError

log = logging.getLogger(__name__)

# exit code -> HTTP status. 2 usage, 3 not found, 4 exists, 5 conflict, 6 workspace, 7 integrity, 8 store,
# 9 pipeline, 10 model, 11 disk full, 12 name too long, 13 OS permission, 14 database down, 15 config,
# 16 alert channel, 17 authentication, 18 too large, 19 media type, 20 role forbids, 21 damaged blob.
STATUS = {2: 400, 3: 404, 4: 409, 5: 409, 6: 500, 7: 500, 8: 503, 9: 500, 10: 500, 11: 507, 12: 400, 13: 500,
          14: 503, 15: 500, 16: 502, 17: 401, 18: 413, 19: 415, 20: 403, 21: 500}


class ErrorDetail(BaseModel):
    type: str
    message: str
    hint: str | None = None
    exit_code: int


class ErrorBody(BaseModel):
    error: ErrorDetail


def status_of(exc: VigilError) -> int:
    return STATUS.get(exc.exit_code, 500)


def _body(kind: str, message: str, hint: str | None, code: int) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, "hint": hint, "exit_code": code}}


async def _vigil_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VigilError)
    status = status_of(exc)
    if status >= 500:
        log.error("%s: %s", exc.__class__.__name__, exc.message)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(_body(exc.__class__.__name__, exc.message, exc.hint, exc.exit_code), status, headers)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    kind = "NotFoundError" if exc.status_code == 404 else "UsageError"
    hint = "see /openapi.json for the API" if exc.status_code in (404, 405) else None
    return JSONResponse(_body(kind, str(exc.detail), hint, 3 if exc.status_code == 404 else 2), exc.status_code,
                        getattr(exc, "headers", None))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return JSONResponse(_body("UsageError", f"{where}: {first.get('msg')}", "see /openapi.json for the API", 2),
                        422)


async def _internal_error(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("internal error: %s", exc.__class__.__name__)
    return JSONResponse(_body("InternalError", f"internal error: {exc.__class__.__name__}",
                              "see the server log, and report it", 70), 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(VigilError, _vigil_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _internal_error)


# Documented on every API route, so clients (and schemathesis) know the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 415, 422, 503)
}
