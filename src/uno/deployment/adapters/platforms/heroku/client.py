"""The Heroku Platform API as the driver uses it: one call at a time, bounded, errors as values.

Plain ``httpx`` (Heroku publishes no maintained Python client): JSON with
``Accept: application/vnd.heroku+json; version=3`` and the token as a bearer credential.
Every call goes through ``HerokuApi.call``:

- ``429 Too Many Requests`` (Heroku's rate limit: ``RateLimit-Remaining: 0``) is retried
  with capped exponential backoff and full jitter, honouring ``Retry-After`` when given,
  within the call's deadline;
- lists follow ``Range`` pagination (``206 Partial Content`` with ``Next-Range``) to the end;
- any other error becomes ``HerokuError(ErrorDetails(PLATFORM_ERROR, "<METHOD path> on
  <resource>: <Heroku's message>", {"call", "resource", "status", "heroku_id"}))``, raised
  inside the driver and returned as a ``Failure`` at its edge.

The token is read from the deployer's environment (the variable ``api_key_env`` names)
when a client is made, for one deploy step; it is never stored, logged or put in an error.
``HEROKU_API_URL`` in that environment points the client elsewhere (tests, a proxy).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from uno.core.errors import ErrorCode, ErrorDetails

API_URL = "https://api.heroku.com"
ACCEPT = "application/vnd.heroku+json; version=3"
CALL_DEADLINE_SECONDS = 60.0
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0
PAGE_SIZE = 200


class HerokuError(Exception):
    def __init__(self, error: ErrorDetails) -> None:
        super().__init__(error.message)
        self.error = error

    @property
    def status(self) -> int:
        return int(self.error.context.get("status", 0) or 0)


def failed(message: str, **context: Any) -> HerokuError:
    return HerokuError(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, context))


def token_from(environ: Mapping[str, str], variable: str) -> str:
    token = environ.get(variable, "")
    if not token:
        raise failed(
            f"the Heroku API token is not in the environment: set {variable} (custom_settings.api_key_env names it)",
            variable=variable,
        )
    return token


class HerokuApi:
    """One authenticated client for one driver step; ``aclose`` when done."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = API_URL,
        deadline_seconds: float = CALL_DEADLINE_SECONDS,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self._deadline = deadline_seconds
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Accept": ACCEPT, "Authorization": f"Bearer {token}", "User-Agent": "uno-deployment"},
            timeout=httpx.Timeout(30.0, connect=10.0),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, path: str, resource: str, body: Any = None) -> Any:
        """One request; the decoded JSON answer."""
        response = await self._send(method, path, resource, body, {})
        return response.json() if response.content else None

    async def list(self, path: str, resource: str) -> list[Any]:
        """Every item of a list, following ``Range`` pagination."""
        items: list[Any] = []
        headers = {"Range": f"id ..; max={PAGE_SIZE}"}
        while True:
            response = await self._send("GET", path, resource, None, headers)
            items.extend(response.json())
            following = response.headers.get("Next-Range")
            if response.status_code != 206 or not following:
                return items
            headers = {"Range": following}

    async def upload(self, url: str, data: bytes, resource: str) -> None:
        """PUT the source tarball to the URL ``POST /sources`` gave (no Heroku credentials sent there)."""
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=10.0)) as plain:
                response = await plain.put(url, content=data, headers={"Content-Type": ""})
        except httpx.HTTPError as error:
            raise failed(f"PUT source on {resource}: {error}", call="PUT source", resource=resource) from None
        if response.status_code >= 300:
            message = f"PUT source on {resource}: HTTP {response.status_code}"
            raise failed(message, call="PUT source", resource=resource, status=response.status_code)

    async def _send(
        self, method: str, path: str, resource: str, body: Any, headers: Mapping[str, str]
    ) -> httpx.Response:
        name = f"{method} {path}"
        ends = time.monotonic() + self._deadline
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            try:
                response = await self._http.request(method, path, json=body, headers=dict(headers))
            except httpx.HTTPError as error:
                raise failed(f"{name} on {resource}: {error}", call=name, resource=resource) from None
            if response.status_code == 429:
                wait = _retry_after(response) or random.uniform(0, backoff)  # jitter, not secrecy
                if time.monotonic() + wait < ends:
                    await self._sleep(wait)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    continue
            if response.status_code < 400:
                return response
            code, message = _problem(response)
            if response.status_code == 429:
                message = f"still rate limited after {self._deadline:g}s of retries: {message}"
            raise failed(
                f"{name} on {resource}: {message}",
                call=name,
                resource=resource,
                status=response.status_code,
                heroku_id=code,
            )


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(float(response.headers.get("Retry-After", "")), MAX_BACKOFF_SECONDS)
    except ValueError:
        return 0.0


def _problem(response: httpx.Response) -> tuple[str, str]:
    try:
        found = response.json()
    except ValueError:
        return "", f"HTTP {response.status_code}"
    if not isinstance(found, dict):
        return "", f"HTTP {response.status_code}"
    return str(found.get("id", "")), str(found.get("message", "")) or f"HTTP {response.status_code}"
