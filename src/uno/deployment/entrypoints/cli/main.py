"""``uno-deploy``: for now, its version; the full command line comes with the CLI work."""

from __future__ import annotations

from importlib.metadata import version as installed_version

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Deployment orchestrator for Python teams.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"uno-deploy {installed_version('uno-deployment')}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Deploy applications to a platform with a strategy, verify them and roll them back."""


def run() -> None:
    app()
