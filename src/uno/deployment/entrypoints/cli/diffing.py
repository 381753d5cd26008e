"""``uno-deploy diff``: what a deploy of a configuration would change against what is live, like ``kubectl diff``.

Per object, a unified diff of its fields (``path: value`` lines, live first), secret values
masked; colour only on a terminal. ``--json``: the objects and their changed fields.

Exit codes (as ``kubectl diff``'s): 0 nothing would change, 1 something would, 2 bad input
(an invalid configuration, an unknown id), 3 the platform cannot be reached or cannot say
what is live (its driver reads no live state), or the store cannot be reached.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result
from uno.deployment.domain import differences
from uno.deployment.entrypoints.cli import configs, files, running, showing
from uno.deployment.entrypoints.cli.backends import Backend
from uno.deployment.entrypoints.cli.opening import with_backend

CHANGES = 1
PLATFORM_CODES = {ErrorCode.PLATFORM_ERROR, ErrorCode.CONFLICT, ErrorCode.INVALID_STATE}
"""What the platform answered (or could not): exit 3 with the unreachable, never 2."""

_COLOURS = {"+": "green", "-": "red", "@": "cyan"}


def diff(
    config_id: str | None = typer.Argument(None, metavar="CONFIG_ID", help="The configuration's id (cfg-...)."),
    file: str | None = typer.Option(
        None, "-f", "--file", help="A YAML or JSON configuration file (compared as it is: nothing is stored)."
    ),
    sets: list[str] = configs.SETS,
    json_output: bool = typer.Option(False, "--json", help="Print the objects and their changed fields as JSON."),
) -> None:
    """Show what a deploy would change against what is live on the platform (exit 1 if anything would).

    Kubernetes: each manifest's server-side dry run against the live object; local: the
    agent's state. Per object and field, secret values masked; nothing is changed.
    Exit 0 nothing would change, 1 something would, 2 bad input, 3 the platform cannot be reached.

    Example: uno-deploy diff -f deployment.yaml --set app_version=2.0.0
    """
    from uno.deployment.entrypoints.cli import deploying  # noqa: PLC0415

    config_id, path = deploying.as_file(config_id, file)
    config_file = None
    if path:
        config_file = configs.read(path, sets)
        configs.precheck(config_file)

    async def work(backend: Backend) -> Result[differences.Diff]:
        if config_file is not None:
            return await backend.diff_values(config_file.model_values())
        if config_id is None:
            return Failure(ErrorDetails.validation("CONFIG_ID", "give a configuration id (cfg-...) or -f FILE"))
        if not sets:
            return await backend.diff(config_id)
        return await _changed(backend, config_id, sets)

    found = with_backend(work)
    if isinstance(found, Failure):
        _failed(found.error, config_file)
    if json_output:
        running.emit_json(found.value.to_document())
    else:
        colour = sys.stdout.isatty()
        for line in showing.diff_lines(found.value):
            typer.echo(_coloured(line) if colour else line)
    if found.value.changed:
        raise typer.Exit(CHANGES)


async def _changed(backend: Backend, config_id: str, sets: list[str]) -> Result[differences.Diff]:
    """A stored configuration with ``--set`` changes, compared as it would be stored (it is not)."""
    from uno.deployment.domain import configuring  # noqa: PLC0415

    stored = await backend.get_config(config_id)
    if isinstance(stored, Failure):
        return stored
    values = {name: value for name, value in stored.value.to_document().items() if name in configuring.SETTABLE}
    changed = files.apply_sets(files.ConfigFile(config_id, values), sets)
    return changed if isinstance(changed, Failure) else await backend.diff_values(changed.value.values)


def _coloured(line: str) -> str:
    colour = _COLOURS.get(line[:1]) if not line.startswith(("+++", "---")) else None
    return typer.style(line, fg=colour) if colour else line


def _failed(error: ErrorDetails, config_file: files.ConfigFile | None) -> NoReturn:
    if error.code in PLATFORM_CODES:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(running.UNREACHABLE)
    configs.fail_config(config_file, error)
