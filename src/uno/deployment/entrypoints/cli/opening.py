"""Opening the backend a command works on: an API server when ``--server`` is given, else the embedded store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from uno.core.errors import ErrorDetails
from uno.deployment.entrypoints.cli import running, runs

if TYPE_CHECKING:
    from uno.deployment.entrypoints.cli.backends import Backend

# Each backend loads when chosen: the HTTP client only with --server, the store only without.

T = TypeVar("T")


def open_backend() -> Backend:
    chosen = running.options()
    if chosen.server:
        if not chosen.server.startswith(("http://", "https://")):
            message = f"{chosen.server!r} is not an http:// or https:// URL (example: http://127.0.0.1:8000)"
            running.fail(ErrorDetails.validation("--server", message))
        from uno.deployment.entrypoints.cli.remote import RemoteBackend  # noqa: PLC0415

        return RemoteBackend(chosen.server, chosen.token)
    from uno.deployment import bootstrap  # noqa: PLC0415
    from uno.deployment.entrypoints.cli.embedded import EmbeddedBackend  # noqa: PLC0415
    from uno.deployment.ports.repositories import StorageError  # noqa: PLC0415

    settings = running.cli_settings()
    try:
        container = bootstrap.build(settings)
    except StorageError as failed:
        running.fail(failed.error)
    except ValueError as unsupported:  # a URL naming no usable database
        running.fail(ErrorDetails.validation("database_url", running.first_line(unsupported)))
    return EmbeddedBackend(container, runs.directory(settings))


def with_backend(work: Callable[[Backend], Awaitable[T]]) -> T:
    """Open the backend, run ``work`` with it, close it (stopping what it still runs here)."""
    import asyncio  # noqa: PLC0415 (the store's listings read it without an event loop: ``looking``)

    async def run() -> T:
        backend = open_backend()
        try:
            return await work(backend)
        finally:
            await backend.aclose()

    return asyncio.run(run())
