"""Running a command: its settings, its container or backend, and how it ends.

Shared by ``main`` and its sub-apps, so every command ends the same way. Exit codes:
0 done; 1 the deployment failed, was canceled or rolled back (or uno-deploy itself
failed: ``--debug`` shows why); 2 a usage, settings or input mistake (and any refusal
that is not the store's); 3 the store or the server cannot be reached (unreachable,
locked, timed out, refused the migration). Each failure is one readable line on
stderr; ``--debug`` adds the error's context and the traceback.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result

if TYPE_CHECKING:
    from uno.deployment import bootstrap
    from uno.deployment.settings import Settings

# The store, the services and pydantic load inside the functions that need them: every
# command imports this module, and ``uno-deploy --version`` needs none of them.

T = TypeVar("T")

EXIT_CODES = {ErrorCode.STORAGE_ERROR: 3, ErrorCode.UNAVAILABLE: 3, ErrorCode.TIMEOUT: 3}
FAILED = 1
USAGE_ERROR = 2
UNREACHABLE = 3
INTERRUPTED = 130

URL_HELP = "Database URL (memory://, sqlite:///file.db, postgresql://user@host/db); default: the settings."


def settings(url: str | None) -> Settings:
    """The settings, with ``--url`` over them when given; invalid ones end the command."""
    from pydantic import ValidationError  # noqa: PLC0415

    from uno.deployment.settings import Settings  # noqa: PLC0415

    try:
        return Settings() if url is None else Settings(database_url=url)
    except (ValidationError, ValueError) as invalid:
        fail(ErrorDetails(ErrorCode.VALIDATION_ERROR, f"invalid settings: {first_line(invalid)}"))


def with_container(chosen: Settings, work: Callable[[bootstrap.Container], Awaitable[T]]) -> T:
    """Build the container, run ``work`` with it, close it; a store that cannot open ends the command."""
    import asyncio  # noqa: PLC0415 (``--version`` and the store's listings run no event loop)

    from uno.deployment import bootstrap  # noqa: PLC0415
    from uno.deployment.ports.repositories import StorageError  # noqa: PLC0415

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


@dataclass(frozen=True, slots=True)
class Options:
    """The options every command shares (``uno-deploy --server URL --token T --debug ...``)."""

    server: str | None = None
    token: str | None = None
    debug: bool = False


_chosen = Options()


def choose(chosen: Options) -> None:
    """Set the shared options for this invocation (``main``'s callback, before any command)."""
    global _chosen
    _chosen = chosen


def options() -> Options:
    return _chosen


def fail(error: ErrorDetails) -> NoReturn:
    typer.echo(f"error: {error.message}", err=True)
    if options().debug:
        if error.context:
            typer.echo(f"context: {json.dumps(error.context, default=str)}", err=True)
        if sys.exc_info()[0] is not None:
            typer.echo(traceback.format_exc().rstrip(), err=True)
    raise typer.Exit(EXIT_CODES.get(error.code, USAGE_ERROR))


def exit_code(error: ErrorDetails) -> int:
    return EXIT_CODES.get(error.code, USAGE_ERROR)


def cli_settings() -> Settings:
    """The settings for commands that use the services: the runs' own log lines only with ``--debug``.

    The CLI shows every task as it runs; the structured log lines of the runs would repeat
    them on stderr. ``UNO_DEPLOY_LOG_LEVEL`` still wins when set.
    """
    chosen = settings(None)
    if "UNO_DEPLOY_LOG_LEVEL" in os.environ:
        return chosen
    return chosen.model_copy(update={"log_level": "DEBUG" if options().debug else "ERROR"})


def emit_json(document: Any) -> None:
    typer.echo(json.dumps(document, indent=2, default=str))


def first_line(error: Exception) -> str:
    from pydantic import ValidationError  # noqa: PLC0415

    if isinstance(error, ValidationError):
        details = error.errors()[0]
        return f"{'.'.join(str(part) for part in details['loc'])}: {details['msg']}"
    return str(error).splitlines()[0]
