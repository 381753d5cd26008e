"""The Cloud Run Admin API v2 as the driver uses it: one call at a time, off the event loop, errors as values.

The only module importing the Google SDK (``google-cloud-run``'s ``run_v2`` over its REST
transport). Bodies go in and come out as the API's JSON (camelCase, enum names), the same
data ``resources`` builds and ``render`` shows, converted with protobuf's ``json_format``.
Every call goes through ``CloudRun.call``:

- throttling (HTTP 429, ``RESOURCE_EXHAUSTED``) is retried with capped exponential backoff
  and full jitter within the call's deadline (the SDK's own retries are off, so the deadline
  is the only budget);
- any other error becomes ``GcpError(ErrorDetails(PLATFORM_ERROR, "<call> on <resource>:
  <Google's message>", {"call", "resource", "http_status"}))``, raised inside the driver and
  returned as a ``Failure`` at its edge.

Long-running operations (create, patch, delete) are polled here (``wait``) under a deadline.
Credentials: Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, the
gcloud user, the metadata server); nothing here stores them. ``UNO_DEPLOY_GCP_ENDPOINT``
points the client at another endpoint (an emulator or the tests' fake); an ``http://`` one
gets anonymous credentials, so no token ever travels unencrypted.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
from google.api_core import client_options, exceptions
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2
from google.protobuf import json_format

from uno.core.errors import ErrorCode, ErrorDetails

ENDPOINT = "UNO_DEPLOY_GCP_ENDPOINT"
CALL_DEADLINE_SECONDS = 60.0
OPERATION_DEADLINE_SECONDS = 600.0
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0
POLL_SECONDS = 0.5
THROTTLED = (exceptions.TooManyRequests, exceptions.ResourceExhausted)


class GcpError(Exception):
    def __init__(self, error: ErrorDetails) -> None:
        super().__init__(error.message)
        self.error = error

    @property
    def status(self) -> int:
        return int(self.error.context.get("http_status", 0) or 0)


def failed(message: str, **context: Any) -> GcpError:
    return GcpError(ErrorDetails(ErrorCode.PLATFORM_ERROR, message, context))


class CloudRun:
    """The services and revisions clients, made once, each call bounded and translated."""

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        deadline_seconds: float = CALL_DEADLINE_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        endpoint = environ.get(ENDPOINT) or None
        options = client_options.ClientOptions(api_endpoint=endpoint) if endpoint else None
        plain = bool(endpoint and endpoint.startswith("http://"))
        credentials = AnonymousCredentials() if plain else None  # type: ignore[no-untyped-call]
        self.services = run_v2.ServicesClient(transport="rest", client_options=options, credentials=credentials)
        self.revisions = run_v2.RevisionsClient(transport="rest", client_options=options, credentials=credentials)
        self._deadline = deadline_seconds
        self._poll = poll_seconds
        self._sleep = sleep

    async def call(self, name: str, resource: str, method: Callable[..., Any], /, **params: Any) -> Any:
        """``method`` (an SDK call named ``name`` in the API's terms) on ``resource``; its answer as the SDK gives it.

        The SDK's own retries are off and its timeout is the call's deadline.
        """
        return await self.bounded(name, resource, lambda: method(retry=None, timeout=self._deadline, **params))

    async def bounded(self, name: str, resource: str, work: Callable[[], Any]) -> Any:
        """Run ``work`` (blocking SDK calls) in a thread: throttling retried, every error translated."""
        ends = time.monotonic() + self._deadline
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            try:
                return await asyncio.to_thread(work)
            except THROTTLED as error:
                wait = random.uniform(0, backoff)  # jitter, not secrecy
                if time.monotonic() + wait < ends:
                    await self._sleep(wait)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    continue
                message = f"still throttled after {self._deadline:g}s of retries: {error.message}"
                raise failed(
                    f"{name} on {resource}: {message}", call=name, resource=resource, http_status=429
                ) from None
            except exceptions.GoogleAPICallError as error:
                status = int(error.code or 0)
                message = f"{name} on {resource}: {error.message}"
                raise failed(message, call=name, resource=resource, http_status=status) from None
            except (auth_exceptions.GoogleAuthError, requests.RequestException) as error:
                message = f"{name} on {resource}: {type(error).__name__}: {error}"
                raise failed(message, call=name, resource=resource, http_status=0) from None

    async def wait(
        self, name: str, resource: str, operation: Any, *, deadline: float = OPERATION_DEADLINE_SECONDS
    ) -> Any:
        """Poll a long-running operation until it is done (its error raised), at most ``deadline`` seconds."""
        ends = time.monotonic() + deadline
        while True:
            done = await self.bounded(f"{name} (operations.get)", resource, operation.done)
            if done:
                break
            if time.monotonic() + self._poll > ends:
                raise failed(f"{name} on {resource}: not done after {deadline:g}s", call=name, resource=resource)
            await self._sleep(self._poll)
        error = operation.operation.error
        if error.code:
            message = f"{name} on {resource}: {error.message}"
            raise failed(message, call=name, resource=resource, http_status=0, rpc_code=error.code)
        return operation

    async def get_service(self, path: str) -> dict[str, Any] | None:
        try:
            found = await self.call("services.get", path, self.services.get_service, name=path)
        except GcpError as error:
            if error.status == 404:
                return None
            raise
        return to_json(found)

    async def create_service(self, parent: str, service_id: str, body: Mapping[str, Any]) -> Any:
        path = f"{parent}/services/{service_id}"
        request = {"parent": parent, "service_id": service_id, "service": service_message(body)}
        return await self.call("services.create", path, self.services.create_service, request=request)

    async def update_service(self, path: str, body: Mapping[str, Any]) -> Any:
        request = {"service": service_message({**body, "name": path})}
        return await self.call("services.patch", path, self.services.update_service, request=request)

    async def delete_service(self, path: str) -> Any:
        return await self.call("services.delete", path, self.services.delete_service, name=path)

    async def list_revisions(self, service_path: str) -> list[dict[str, Any]]:
        def every() -> list[dict[str, Any]]:  # the pager reads the next pages as it is iterated
            pager = self.revisions.list_revisions(parent=service_path, retry=None, timeout=self._deadline)
            return [to_json(item) for item in pager]

        found: list[dict[str, Any]] = await self.bounded("revisions.list", service_path, every)
        return found

    async def get_revision(self, path: str) -> dict[str, Any] | None:
        try:
            found = await self.call("revisions.get", path, self.revisions.get_revision, name=path)
        except GcpError as error:
            if error.status == 404:
                return None
            raise
        return to_json(found)

    async def delete_revision(self, path: str) -> Any:
        return await self.call("revisions.delete", path, self.revisions.delete_revision, name=path)


def service_message(body: Mapping[str, Any]) -> run_v2.Service:
    """The SDK's ``Service`` from the API's JSON (exactly what ``resources`` builds)."""
    message = run_v2.Service.pb()()
    json_format.ParseDict(dict(body), message)
    wrapped: run_v2.Service = run_v2.Service.wrap(message)
    return wrapped


def to_json(message: Any) -> dict[str, Any]:
    """An SDK message as the API's JSON (camelCase, enum names)."""
    found: dict[str, Any] = json_format.MessageToDict(type(message).pb(message))
    return found
