"""``uno-deploy lease``: see who holds an application's lease in an environment, or end it by hand.

A lease ends by itself within its TTL when its holder dies; ``release`` is for the rare
case where an operator knows the holder is gone and cannot wait. It is recorded on the
deployment that held it (who, when, why) and logged.
"""

from __future__ import annotations

import getpass

import typer

from uno.deployment.domain.enums import DeploymentEnvironment
from uno.deployment.entrypoints.cli import running
from uno.deployment.services import inputs

app = typer.Typer(no_args_is_help=True, help="Leases: one deployment per application and environment at a time.")


@app.command("show")
def show(
    app_name: str = typer.Argument(..., help="The application."),
    environment: str = typer.Argument(..., help="dev, test, staging or production."),
    url: str | None = typer.Option(None, "--url", help=running.URL_HELP),
) -> None:
    """Who holds the lease, with its fencing token and expiry.

    Example: uno-deploy lease show shop production
    """
    key = f"{app_name}/{running.unwrap(inputs.enum_value(DeploymentEnvironment, environment, 'environment')).value}"
    lease = running.with_container(running.settings(url), lambda container: container.leases.current(key))
    if lease is None:
        typer.echo(f"{key}: free")
    else:
        typer.echo(f"{key}: held by {lease.holder} (token {lease.token}) until {lease.expires_at.isoformat()}")


@app.command("release")
def release(
    app_name: str = typer.Argument(..., help="The application."),
    environment: str = typer.Argument(..., help="dev, test, staging or production."),
    reason: str = typer.Option(..., "--reason", help="Why (kept on the deployment that held it)."),
    url: str | None = typer.Option(None, "--url", help=running.URL_HELP),
) -> None:
    """End a lease whose holder is gone, now rather than at its expiry (recorded and logged).

    Example: uno-deploy lease release shop production --reason "worker host lost"
    """
    by = getpass.getuser()
    released = running.unwrap(
        running.with_container(
            running.settings(url),
            lambda container: container.deployment_service.release_lease(app_name, environment, by=by, reason=reason),
        )
    )
    typer.echo(f"{released.key}: released (was held by {released.holder}, token {released.token})")
