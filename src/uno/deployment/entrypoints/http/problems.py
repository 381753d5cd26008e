"""Errors as RFC 9457 problem details, mapped from ``ErrorCode`` in this one place.

Every error this API answers is ``application/problem+json``: ``type`` (a stable URI per
code), ``title``, ``status``, ``detail`` (the ``ErrorDetails`` message) and ``code``, plus
the error's context (a field path, a conflicting version...) as extension members. No
expected error answers 500: a 500 is a bug, and says nothing about its cause.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://uno-deployment.dev/problems/"

STATUS_OF: dict[ErrorCode, int] = {
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.PLATFORM_ERROR: 502,
    ErrorCode.EXECUTION_ERROR: 422,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.STORAGE_ERROR: 503,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL_ERROR: 500,
}

_log = structlog.get_logger("uno.deployment.http")


class Problem(Exception):
    """Raised by the HTTP layer to answer with a problem (the exception handler renders it)."""

    def __init__(self, error: ErrorDetails, headers: dict[str, str] | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.headers = headers


def problem_response(error: ErrorDetails, headers: dict[str, str] | None = None) -> JSONResponse:
    status = STATUS_OF.get(error.code, 500)
    body: dict[str, Any] = {
        "type": TYPE_BASE + error.code.value.lower().replace("_", "-"),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": error.message,
        "code": error.code.value,
    }
    for name, value in error.context.items():
        body.setdefault(name, value)
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def fail(failure: Failure) -> Problem:
    """The ``Problem`` to raise for a service's ``Failure``."""
    return Problem(failure.error)


def install(app: FastAPI) -> None:
    """Render every error as problem+json: ours, FastAPI's validation errors, Starlette's HTTP errors."""

    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc.error, exc.headers)

    async def on_invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [_field_error(error) for error in exc.errors()]
        first = errors[0] if errors else {"field": "", "message": "is invalid"}
        message = f"{first['field'] or 'the request'}: {first['message']}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more)"
        return problem_response(
            ErrorDetails(ErrorCode.VALIDATION_ERROR, message, {"field": first["field"], "errors": errors})
        )

    async def on_http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        body = {
            "type": "about:blank",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": str(exc.detail),
        }
        return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=exc.headers)

    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        _log.error("request failed", path=request.url.path, method=request.method, exc_info=exc)
        return problem_response(ErrorDetails(ErrorCode.INTERNAL_ERROR, "internal error: the server log has details"))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_bug)


def _field_error(error: Any) -> dict[str, str]:
    if error.get("type") == "json_invalid":
        return {
            "field": "",
            "message": f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'malformed')})",
        }
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header")]
    message = str(error.get("msg", "is invalid"))
    if error.get("type") == "extra_forbidden":
        message = "is not a known field"
    elif error.get("type") == "missing":
        message = "is required"
    return {"field": ".".join(location), "message": message}
