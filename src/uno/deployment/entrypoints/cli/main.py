"""``uno-deploy``: its version and the store's schema; the rest comes with the CLI work.

Exit codes: 0 done, 2 a usage or settings mistake, 3 the store failed (unreachable,
locked, refused the migration). Each failure is one readable line on stderr.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version as installed_version
from typing import NoReturn

import typer
from pydantic import ValidationError

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result
from uno.deployment import bootstrap
from uno.deployment.entrypoints.cli import serving
from uno.deployment.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Deployment orchestrator for Python teams.")
db = typer.Typer(no_args_is_help=True, help="The store's schema: show it or bring it up to date.")
app.add_typer(db, name="db")

EXIT_CODES = {ErrorCode.STORAGE_ERROR: 3, ErrorCode.UNAVAILABLE: 3}
USAGE_ERROR = 2

_URL_HELP = "Database URL (memory://, sqlite:///file.db, postgresql://user@host/db); default: the settings."


def _version(value: bool) -> None:
    if value:
        typer.echo(f"uno-deploy {installed_version('uno-deployment')}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Deploy applications to a platform with a strategy, verify them and roll them back."""


@db.command("upgrade")
def db_upgrade(url: str | None = typer.Option(None, "--url", help=_URL_HELP)) -> None:
    """Bring the store's schema to the newest revision (safe to run again: it then does nothing)."""
    status = _unwrap(bootstrap.upgrade_database(_settings(url)))
    if status.changed:
        typer.echo(f"{status.database}: upgraded from {status.before or 'an empty schema'} to {status.after}")
    else:
        typer.echo(f"{status.database}: already at {status.after} (the newest)")


@db.command("current")
def db_current(url: str | None = typer.Option(None, "--url", help=_URL_HELP)) -> None:
    """Show the store's schema revision and the newest one this version knows."""
    status = _unwrap(bootstrap.database_status(_settings(url)))
    behind = "" if status.after == status.head else " (behind: run `uno-deploy db upgrade`)"
    typer.echo(f"{status.database}: at {status.after or 'an empty schema'}, newest {status.head}{behind}")


@app.command("down")
def down() -> None:
    """Stop the local platform: every app it runs, its routers and its agent.

    Example: uno-deploy down
    """
    settings = _settings(None)
    stopped = asyncio.run(bootstrap.stop_local_platform(settings))
    if isinstance(stopped, Failure):
        _fail(stopped.error)
    typer.echo(f"the local platform is stopped ({settings.resolved_local_dir()})")


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Let every caller do everything (refused unless --host is loopback)."
    ),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request (costs about a quarter of rps)."),
    url: str | None = typer.Option(None, "--url", help=_URL_HELP),
) -> None:
    """Serve the HTTP API (OpenAPI at /docs and /openapi.json); auth by bearer tokens.

    Example: uno-deploy serve --host 0.0.0.0 --port 8000
    """
    refused = serving.refusal(host, no_auth)
    if refused is not None:
        _fail(refused)
    settings = _settings(url)
    typer.echo(f"serving the uno-deployment API on http://{host}:{port} (auth {'off' if no_auth else 'on'})", err=True)
    serving.run(settings, host, port, auth=not no_auth, access_log=access_log)


def _settings(url: str | None) -> Settings:
    try:
        return Settings() if url is None else Settings(database_url=url)
    except (ValidationError, ValueError) as invalid:
        _fail(ErrorDetails(ErrorCode.VALIDATION_ERROR, f"invalid settings: {_first_line(invalid)}"))


def _unwrap(result: Result[bootstrap.SchemaStatus]) -> bootstrap.SchemaStatus:
    if isinstance(result, Failure):
        _fail(result.error)
    return result.value


def _fail(error: ErrorDetails) -> NoReturn:
    typer.echo(f"error: {error.message}", err=True)
    raise typer.Exit(EXIT_CODES.get(error.code, USAGE_ERROR))


def _first_line(error: Exception) -> str:
    if isinstance(error, ValidationError):
        details = error.errors()[0]
        return f"{'.'.join(str(part) for part in details['loc'])}: {details['msg']}"
    return str(error).splitlines()[0]


def run() -> None:
    app()
