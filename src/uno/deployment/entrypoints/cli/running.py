"""Running a command: its settings, its container, and how it ends.

Shared by ``main`` and its sub-apps (``tokens``), so every command ends the same way.
Exit codes: 0 done, 2 a usage or settings mistake (and any refusal that is not the
store's), 3 the store failed (unreachable, locked, refused the migration). Each failure
is one readable line on stderr.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import typer
from pydantic import ValidationError

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result
from uno.deployment import bootstrap
from uno.deployment.ports.repositories import StorageError
from uno.deployment.settings import Settings

T = TypeVar("T")

EXIT_CODES = {ErrorCode.STORAGE_ERROR: 3, ErrorCode.UNAVAILABLE: 3}
USAGE_ERROR = 2

URL_HELP = "Database URL (memory://, sqlite:///file.db, postgresql://user@host/db); default: the settings."


def settings(url: str | None) -> Settings:
    """The settings, with ``--url`` over them when given; invalid ones end the command."""
    try:
        return Settings() if url is None else Settings(database_url=url)
    except (ValidationError, ValueError) as invalid:
        fail(ErrorDetails(ErrorCode.VALIDATION_ERROR, f"invalid settings: {first_line(invalid)}"))


def with_container(chosen: Settings, work: Callable[[bootstrap.Container], Awaitable[T]]) -> T:
    """Build the container, run ``work`` with it, close it; a store that cannot open ends the command."""

    async def run() -> T:
        try:
            container = bootstrap.build(chosen)
        except StorageError as failed:
            fail(failed.error)
        except ValueError as unsupported:  # a URL naming no usable database
            fail(ErrorDetails.validation("database_url", first_line(unsupported)))
        try:
            return await work(container)
        finally:
            await container.aclose()

    return asyncio.run(run())


def unwrap(result: Result[T]) -> T:
    if isinstance(result, Failure):
        fail(result.error)
    return result.value


def fail(error: ErrorDetails) -> NoReturn:
    typer.echo(f"error: {error.message}", err=True)
    raise typer.Exit(EXIT_CODES.get(error.code, USAGE_ERROR))


def first_line(error: Exception) -> str:
    if isinstance(error, ValidationError):
        details = error.errors()[0]
        return f"{'.'.join(str(part) for part in details['loc'])}: {details['msg']}"
    return str(error).splitlines()[0]
