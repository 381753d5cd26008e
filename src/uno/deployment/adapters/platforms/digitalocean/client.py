"""The App Platform API as the driver uses it: the official ``pydo`` client, one call at a time, errors as values.

``pydo`` (azure-core underneath) is blocking, so each call runs in a worker thread. Its
own retries are off (``retry_total=0``): every call goes through ``Apps.call``, which
retries ``429 Too Many Requests`` with capped exponential backoff and full jitter,
honouring ``Retry-After``, within the call's deadline, and turns any other error into
``DoError(ErrorDetails(PLATFORM_ERROR, "apps.<operation> on <resource>: <DigitalOcean's
message>", {"call", "resource", "status", "do_id"}))``, including the documented error
answers (404 ...) pydo returns as values rather than raising.

The token is read from the deployer's environment (the variable ``token_env`` names) when
a client is made, for one step; never stored, logged or put in an error.
``DIGITALOCEAN_API_URL`` points the client elsewhere (tests, a proxy), and ``SSL_CERT_FILE``
names a CA bundle to trust (a proxy's, or a test CA: pydo sends a bearer token over TLS only).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import pydo
from azure.core.exceptions import AzureError, HttpResponseError

from uno.core.errors import ErrorCode, ErrorDetails

API_URL = "https://api.digitalocean.com"
CALL_DEADLINE_SECONDS = 60.0
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0


class DoError(Exception):
    def __init__(self, error: ErrorDetails) -> None:
        super().__init__(error.message)
        self.error = error


def failed(message: str, **context: Any) -> DoError:
    return DoError(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, context))


def token_from(environ: Mapping[str, str], variable: str) -> str:
    token = environ.get(variable, "")
    if not token:
        raise failed(
            f"the DigitalOcean API token is not in the environment: set {variable}"
            " (custom_settings.token_env names it)",
            variable=variable,
        )
    return token


class Apps:
    """The ``apps`` operations of one authenticated client."""

    def __init__(
        self,
        token: str,
        environ: Mapping[str, str],
        *,
        deadline_seconds: float = CALL_DEADLINE_SECONDS,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        extra: dict[str, Any] = {"connection_verify": environ["SSL_CERT_FILE"]} if environ.get("SSL_CERT_FILE") else {}
        self._client = pydo.Client(
            token=token,
            endpoint=environ.get("DIGITALOCEAN_API_URL") or API_URL,
            retry_total=0,
            user_agent="uno-deployment",
            **extra,
        )
        self._deadline = deadline_seconds
        self._sleep = sleep

    async def call(self, operation: str, resource: str, /, *args: Any, **kwargs: Any) -> Any:
        name = f"apps.{operation}"
        method = getattr(self._client.apps, operation)
        ends = time.monotonic() + self._deadline
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            try:
                answer = await asyncio.to_thread(method, *args, **kwargs)
            except HttpResponseError as error:
                status = int(error.status_code or 0)
                if status == 429:
                    wait = _retry_after(error) or random.uniform(0, backoff)  # jitter, not secrecy
                    if time.monotonic() + wait < ends:
                        await self._sleep(wait)
                        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                        continue
                code, message = _problem(error)
                if status == 429:
                    message = f"still rate limited after {self._deadline:g}s of retries: {message}"
                raise failed(
                    f"{name} on {resource}: {message}", call=name, resource=resource, status=status, do_id=code
                ) from None
            except AzureError as error:  # unreachable, TLS refused, timed out
                raise failed(f"{name} on {resource}: {error.message}", call=name, resource=resource) from None
            if _is_error(answer):  # pydo returns the documented error answers (404 ...) instead of raising
                message, code = str(answer["message"]), str(answer["id"])
                raise failed(f"{name} on {resource}: {message}", call=name, resource=resource, do_id=code)
            return answer


def _is_error(answer: Any) -> bool:
    """DigitalOcean's error body: ``{"id", "message"[, "request_id"]}`` and nothing else."""
    return isinstance(answer, dict) and {"id", "message"} <= set(answer) <= {"id", "message", "request_id"}


def _retry_after(error: HttpResponseError) -> float:
    response: Any = error.response
    headers = response.headers if response is not None else {}
    try:
        return min(float(headers.get("retry-after", "")), MAX_BACKOFF_SECONDS)
    except ValueError:
        return 0.0


def _problem(error: HttpResponseError) -> tuple[str, str]:
    try:
        response: Any = error.response
        found = response.json() if response is not None else None
    except ValueError:
        found = None
    if isinstance(found, dict) and found.get("message"):
        return str(found.get("id", "")), str(found["message"])
    return "", f"HTTP {error.status_code}"
