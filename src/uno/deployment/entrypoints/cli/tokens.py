"""``uno-deploy token``: make, list and revoke the API tokens the HTTP API accepts.

``create`` prints the secret and nothing else on stdout, so ``TOKEN=$(uno-deploy token
create ...)`` keeps it; everything meant for people goes to stderr. The secret is shown
this once: the store keeps only its digest, and ``list`` shows neither.

Tokens live in the store the settings (or ``--url``) name, where the API server reads
them; the memory store is refused, since it would forget a token as this command ends.
"""

from __future__ import annotations

from datetime import datetime

import typer

from uno.core.errors import ErrorDetails
from uno.deployment.entrypoints.cli import running
from uno.deployment.ports.access import ApiToken, Scope
from uno.deployment.settings import Settings

app = typer.Typer(no_args_is_help=True, help="API tokens: create one (its secret is shown once), list, revoke.")

_COLUMNS = ("ID", "NAME", "SCOPES", "CREATED", "EXPIRES", "REVOKED")
#: Built once, out of the signature: a list default must not be a call there (ruff B008).
_SCOPES = typer.Option(..., "--scope", help="read, deploy (includes read) or admin (everything); repeatable.")


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="Who or what uses it (1-100 characters), e.g. ci-deployer."),
    scopes: list[Scope] = _SCOPES,
    expires_in_days: int | None = typer.Option(None, "--expires-in-days", help="1-3650; default: never expires."),
    url: str | None = typer.Option(None, "--url", help=running.URL_HELP),
) -> None:
    """Make a token and print its secret (only on stdout, only this once).

    Example: TOKEN=$(uno-deploy token create --name ci --scope deploy --expires-in-days 90)
    """
    made = running.with_container(
        _durable(url), lambda container: container.access_service.create_token(name, scopes, expires_in_days)
    )
    token, secret = running.unwrap(made)
    typer.echo(secret)
    typer.echo(
        f"created {token.id} ({token.name}; {_scopes(token)}; expires {_when(token.expires_at, 'never')}): "
        "store the secret now, it will not be shown again",
        err=True,
    )


@app.command("list")
def list_tokens(url: str | None = typer.Option(None, "--url", help=running.URL_HELP)) -> None:
    """List every token, newest first, revoked ones included (never a secret or a digest).

    Example: uno-deploy token list
    """
    listed = running.unwrap(
        running.with_container(_durable(url), lambda container: container.access_service.list_tokens())
    )
    if not listed:
        typer.echo("no API tokens yet (make one: uno-deploy token create --name NAME --scope read)", err=True)
        return
    for line in _table([_COLUMNS, *(_row(token) for token in listed)]):
        typer.echo(line)


@app.command("revoke")
def revoke(
    token_id: str = typer.Argument(..., metavar="ID", help="The token's id (tok-...), as `token list` shows it."),
    url: str | None = typer.Option(None, "--url", help=running.URL_HELP),
) -> None:
    """Revoke a token: requests carrying it are refused from now on (revoking again changes nothing).

    Example: uno-deploy token revoke tok-01jd3m5y8k2v7w9x4q6r0s1t2u
    """
    revoked = running.unwrap(
        running.with_container(_durable(url), lambda container: container.access_service.revoke_token(token_id))
    )
    typer.echo(f"{revoked.id} ({revoked.name}) is revoked since {_when(revoked.revoked_at, '?')}")


def _durable(url: str | None) -> Settings:
    settings = running.settings(url)
    if settings.uses_memory:
        running.fail(
            ErrorDetails.invalid_state(
                "the memory store forgets tokens when this command ends: give --url or set UNO_DEPLOY_DATABASE_URL"
            )
        )
    return settings


def _row(token: ApiToken) -> tuple[str, ...]:
    return (
        token.id,
        token.name,
        _scopes(token),
        _when(token.created_at, "-"),
        _when(token.expires_at, "never"),
        _when(token.revoked_at, "-"),
    )


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(_COLUMNS))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def _scopes(token: ApiToken) -> str:
    return ",".join(scope.value for scope in Scope if scope in token.scopes)


def _when(moment: datetime | None, otherwise: str) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else otherwise
