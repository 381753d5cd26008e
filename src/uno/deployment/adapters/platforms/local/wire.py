"""The local agent's wire protocol: one JSON object per line over a Unix socket.

A request is ``{"op": "...", ...arguments}``; the answer is ``{"ok": true, "value": ...}``
or ``{"ok": false, "error": {"code": "...", "message": "..."}}``. One request per
connection keeps both sides simple and lets a dead agent show up as a refused connection.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success

MAX_MESSAGE = 4 * 1024 * 1024


def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def answer(result: Result[Any]) -> dict[str, Any]:
    if isinstance(result, Failure):
        return {"ok": False, "error": {"code": result.error.code.value, "message": result.error.message}}
    return {"ok": True, "value": result.value}


def unanswer(message: dict[str, Any]) -> Result[Any]:
    if message.get("ok") is True:
        return Success(message.get("value"))
    error = message.get("error") or {}
    try:
        code = ErrorCode(error.get("code", "PLATFORM_ERROR"))
    except ValueError:
        code = ErrorCode.PLATFORM_ERROR
    return Failure(ErrorDetails(code, str(error.get("message", "the local agent failed")), {}))


async def call(socket_path: Path, request: dict[str, Any], *, timeout: float) -> Result[Any]:
    """Send one request to the agent and return its answer; a dead agent is ``UNAVAILABLE``."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(str(socket_path), limit=MAX_MESSAGE)
            try:
                writer.write(encode(request))
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
                await writer.wait_closed()
    except (OSError, TimeoutError) as error:
        reason = "timed out" if isinstance(error, TimeoutError) else str(error)
        return Failure(ErrorDetails(ErrorCode.UNAVAILABLE, f"the local agent did not answer: {reason}", {}))
    if not line:
        return Failure(ErrorDetails(ErrorCode.UNAVAILABLE, "the local agent closed the connection", {}))
    return unanswer(json.loads(line))
