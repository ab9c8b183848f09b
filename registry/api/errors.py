"""The only place domain errors become RFC 9457 problem+json responses."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from registry.api.problems import BY_STATUS, problem_body
from registry.errors import RegistryError
from registry.idempotency import Replay, done_elsewhere
from registry.logs import request_id_var

log = logging.getLogger("registry.api")
PROBLEM = "application/problem+json"


def problem(
    status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: object
) -> JSONResponse:
    body = problem_body(status, title, detail, **extra)
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


async def _registry_error(request: Request, exc: RegistryError) -> JSONResponse:
    if exc.audit_as is not None:
        audit_failure = getattr(request.state, "audit_failure", None)
        if audit_failure is not None:
            audit_failure(exc)
    if exc.status >= 500:
        log.error("request failed", extra={"error": type(exc).__name__})
    retry_after = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return problem(exc.status, exc.title, exc.detail, headers=headers, **exc.extra)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem(400, "Malformed body", "the body is not valid JSON")
    # Only where and what: pydantic's `input` may hold a personal value, so it never leaves;
    # nor does the name of a key nobody asked for (it is the sender's text, as a value is).
    listed = [{"loc": _where(e), "msg": str(e.get("msg", "invalid"))} for e in errors]
    return problem(422, "Invalid input", "the request does not match the schema", errors=listed)


_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _where(error: Mapping[str, Any]) -> list[str]:
    loc = [str(p) for p in error.get("loc", ())]
    # An unknown key is named back only when it reads like a field name (`password`),
    # never when it could be someone's name or number.
    if error.get("type") == "extra_forbidden" and loc and not _FIELD_NAME.fullmatch(loc[-1]):
        loc[-1] = "(unknown field)"
    return loc


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404:
        detail = "no such resource"
    return problem(
        exc.status_code,
        BY_STATUS.get(exc.status_code, "error").replace("-", " ").capitalize(),
        detail,
        headers=exc.headers,
    )


async def _integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
    # A unique constraint lost to a concurrent request; the statement is not echoed.
    return problem(409, "Conflict", "the record conflicts with an existing one")


async def _operational_error(request: Request, exc: OperationalError) -> JSONResponse:
    log.error("database unavailable", extra={"error": type(exc.orig).__name__ if exc.orig else "OperationalError"})
    return problem(503, "Service unavailable", "the database is unavailable; nothing was changed")


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # Answered outside the request-id middleware (Starlette's outermost layer), so the id
    # is taken from the request's state and the header set here.
    request_id = getattr(request.state, "request_id", None)
    token = request_id_var.set(request_id)  # the log line carries the id the body gives
    try:
        log.error("unhandled error", extra={"error": type(exc).__name__})
    finally:
        request_id_var.reset(token)
    ids = {"request_id": request_id} if request_id else {}
    headers = {"X-Request-ID": request_id} if request_id else None
    return problem(500, "Internal error", "the request failed; nothing was changed", headers=headers, **ids)


async def _replayed(request: Request, exc: Replay) -> Response:
    """A write sent again under the Idempotency-Key of one that committed (`registry.idempotency`)."""
    replayed = {"Idempotent-Replayed": "true"}
    if exc.location is not None:
        return Response(status_code=303, headers={"Location": exc.location, **replayed})
    if exc.status == 204:
        return Response(status_code=204, headers=replayed)
    return problem(409, "Conflict", done_elsewhere(exc.status).detail, headers=replayed)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Replay, _replayed)  # type: ignore[arg-type]
    app.add_exception_handler(RegistryError, _registry_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(IntegrityError, _integrity_error)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, _operational_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unhandled)
