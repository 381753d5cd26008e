"""``uno-deploy``: its version, the store's schema and API tokens; the rest comes with the CLI work.

Exit codes (``running``): 0 done, 2 a usage or settings mistake, 3 the store failed
(unreachable, locked, refused the migration). Each failure is one readable line on stderr.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version as installed_version

import typer

from uno.core.result import Failure
from uno.deployment import bootstrap
from uno.deployment.entrypoints.cli import running, tokens

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Deployment orchestrator for Python teams.")
db = typer.Typer(no_args_is_help=True, help="The store's schema: show it or bring it up to date.")
app.add_typer(db, name="db")
app.add_typer(tokens.app, name="token")


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
def db_upgrade(url: str | None = typer.Option(None, "--url", help=running.URL_HELP)) -> None:
    """Bring the store's schema to the newest revision (safe to run again: it then does nothing)."""
    status = running.unwrap(bootstrap.upgrade_database(running.settings(url)))
    if status.changed:
        typer.echo(f"{status.database}: upgraded from {status.before or 'an empty schema'} to {status.after}")
    else:
        typer.echo(f"{status.database}: already at {status.after} (the newest)")


@db.command("current")
def db_current(url: str | None = typer.Option(None, "--url", help=running.URL_HELP)) -> None:
    """Show the store's schema revision and the newest one this version knows."""
    status = running.unwrap(bootstrap.database_status(running.settings(url)))
    behind = "" if status.after == status.head else " (behind: run `uno-deploy db upgrade`)"
    typer.echo(f"{status.database}: at {status.after or 'an empty schema'}, newest {status.head}{behind}")


@app.command("down")
def down() -> None:
    """Stop the local platform: every app it runs, its routers and its agent.

    Example: uno-deploy down
    """
    settings = running.settings(None)
    stopped = asyncio.run(bootstrap.stop_local_platform(settings))
    if isinstance(stopped, Failure):
        running.fail(stopped.error)
    typer.echo(f"the local platform is stopped ({settings.resolved_local_dir()})")


def run() -> None:
    app()
