"""Every error answer is JSON ``{"error": ..., "details": [...]}``, never a stack trace.

A validation error names the field (``k``, ``history.2``, ``Idempotency-Key``) in ``error`` and
lists every problem in ``details``; an :class:`HTTPException` keeps its status and headers; any
other exception is logged and answered as a bare 500.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from genrec.serving.schemas import ErrorOut

log = logging.getLogger("genrec.serving")

# Where a parameter came from; the field name alone says it (a header is spelled as one).
_SOURCES = ("body", "query", "path", "header", "cookie")
# Statuses any operation may answer with this body, for the OpenAPI document (401 is declared
# by the routers that check a key).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut} for code in (400, 404, 409, 413, 422, 503)
}


def field_name(error: dict[str, Any]) -> str:
    """The dotted path of the field an error is about, ``body`` for the body as a whole."""
    loc: Sequence[Any] = error.get("loc", ())
    parts = [str(p) for p in loc if p not in _SOURCES]
    # A bad or missing tag of a tagged union (the feedback ``event``) is reported on the body.
    discriminator = (error.get("ctx") or {}).get("discriminator")
    if error.get("type", "").startswith("union_tag_") and discriminator:
        parts.append(str(discriminator).strip("'"))
    return ".".join(parts) or "body"


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [{"field": field_name(err), "message": str(err.get("msg"))} for err in exc.errors()]
    first = details[0] if details else {"field": "body", "message": "invalid"}
    return JSONResponse(
        {
            "error": f"invalid request: {first['field']}: {first['message']}",
            "details": details[:20],
        },
        status_code=422,
    )


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
    )


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"error": "internal server error"}, status_code=500)


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
