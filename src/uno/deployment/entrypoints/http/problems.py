"""Errors as RFC 9457 problem details, mapped from ``ErrorCode`` in this one place.

Every error this API answers is ``application/problem+json``: ``type`` (a stable URI per
code), ``title``, ``status``, ``detail`` (the ``ErrorDetails`` message) and ``code``, plus
the error's context (a field path, a conflicting version...) as extension members. No
expected error answers 500: a 500 is a bug, and says nothing about its cause.

Every 4xx carries a ``code``, including the framework's own (404 for a path no route
takes is ``NOT_FOUND``, a body that cannot be parsed is ``VALIDATION_ERROR``); every 5xx
says ``Connection: close``, so a client opens a fresh connection instead of meeting a
reset on the next request.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure
from uno.deployment.domain.validation import FieldValueError
from uno.deployment.engine import logs
from uno.deployment.ports.repositories import StorageError

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

_log = logs.get_logger("uno.deployment.http")


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
    return problem_json(body, status, headers)


def problem_json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem document as a response; a 5xx also closes the connection."""
    if status >= 500:
        headers = {**(headers or {}), "Connection": "close"}
    return ProblemResponse(jsonable_encoder(body), status_code=status, headers=headers)


class ProblemResponse(JSONResponse):
    """A problem document; a refused value it quotes back cannot break it (a lone surrogate becomes ``?``)."""

    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "replace")


def unparsable_body(cause: BaseException | None) -> ErrorDetails:
    """A body the framework could not read as JSON: not UTF-8, nested too deep, a number too long."""
    if isinstance(cause, UnicodeDecodeError):
        reason = "it is not UTF-8"
    elif isinstance(cause, RecursionError):
        reason = "it is nested too deeply"
    elif cause is not None:
        reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
    else:
        reason = "malformed"
    message = f"the body is not valid JSON ({reason})"
    return ErrorDetails(
        ErrorCode.VALIDATION_ERROR,
        f"the request: {message}",
        {"field": "", "errors": [{"field": "", "message": message}]},
    )


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
        if exc.status_code == 400:
            return problem_response(unparsable_body(exc.__cause__))
        return _http_error(exc)

    async def on_storage_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StorageError)
        return problem_response(exc.error)

    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        _log.error("request failed", path=request.url.path, method=request.method, exc_info=exc)
        return problem_response(ErrorDetails(ErrorCode.INTERNAL_ERROR, "internal error: the server log has details"))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(StorageError, on_storage_error)
    app.add_exception_handler(Exception, on_bug)


def _http_error(exc: StarletteHTTPException) -> JSONResponse:
    status = exc.status_code
    code = ErrorCode.NOT_FOUND if status == 404 else ErrorCode.VALIDATION_ERROR
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": str(exc.detail),
        "code": code.value if status < 500 else ErrorCode.INTERNAL_ERROR.value,
    }
    return problem_json(body, status, dict(exc.headers) if exc.headers else None)


def _field_error(error: Any) -> dict[str, str]:
    if error.get("type") == "json_invalid":
        return {
            "field": "",
            "message": f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'malformed')})",
        }
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path", "header")]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, FieldValueError):
        location.append(cause.field)
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        message = "is not a known field"
    elif error.get("type") == "missing":
        message = "is required"
    return {"field": ".".join(location), "message": message}
