"""``uno-deploy init`` and ``uno-deploy config ...``: configurations from YAML or JSON files.

``validate`` checks a file here, offline (no store, no server): every problem, each
with its field path and line. ``apply`` is what ``deploy -f`` does with a file once its
plan says the deploy would go ahead: the stored configuration of the file's application
and environment is replaced by the file whole (exactly what creating from it would make:
what the file leaves out goes back to the environment's profile, nothing is kept from
before), or created when there is none; unchanged when the file says what is stored already.
"""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.enums import DeploymentEnvironment
from uno.deployment.entrypoints import views
from uno.deployment.entrypoints.cli import looking, running, showing
from uno.deployment.entrypoints.cli.opening import with_backend
from uno.deployment.settings import MEMORY_URL

if TYPE_CHECKING:
    from uno.deployment.domain.configs import DeploymentConfig
    from uno.deployment.entrypoints.cli import files
    from uno.deployment.entrypoints.cli.backends import Backend
    from uno.deployment.services import checking

# ``config list`` reads the embedded store without the services (``looking``): the file
# parser, the checks, YAML and the configuration model load in the commands that use them.

app = typer.Typer(no_args_is_help=True, help="Deployment configurations: create, list, show, update, delete, validate.")

FILE_HELP = "A YAML or JSON configuration file (- reads stdin)."
SET_HELP = (
    "Override a field: key.path=value, the value read as YAML (3, true, \\[a, b]) unless the field is text; repeatable."
)
#: Built once, out of the signatures: a list default must not be a call there (ruff B008).
SETS = typer.Option([], "--set", metavar="KEY=VALUE", help=SET_HELP)
JSON_HELP = "Print JSON (the HTTP API's documents) instead of text."
DEFAULT_APP_PORT = 8080
"""Where ``init`` puts an application's router: not 8000, which ``uno-deploy serve`` takes."""


def read(path: str, sets: list[str]) -> files.ConfigFile:
    from uno.deployment.entrypoints.cli import files  # noqa: PLC0415

    loaded = files.load(path, sets)
    if isinstance(loaded, Failure):
        running.fail(loaded.error)
    return loaded.value


def precheck(file: files.ConfigFile) -> None:
    """Refuse a file the store would refuse, here and the same way whichever backend: every problem counted."""
    import asyncio  # noqa: PLC0415

    from uno.deployment.services import checking  # noqa: PLC0415

    found = asyncio.run(checking.problems(file.model_values(), None, datetime.now(UTC), deployable=False))
    if found:
        fail_config(file, ErrorDetails(ErrorCode.VALIDATION_ERROR, "invalid configuration", {"errors": found}))


def fail_config(file: files.ConfigFile | None, error: ErrorDetails) -> NoReturn:
    """One line for a refused configuration: the first problem with its line, and how many more."""
    from uno.deployment.services import checking  # noqa: PLC0415

    if file is None or error.code is not ErrorCode.VALIDATION_ERROR:
        running.fail(error)
    listed = checking.listed(error)
    if error.context.get("strict"):
        for item in listed:
            typer.echo(file.describe(item["field"], item["message"]), err=True)
        message = (
            f"strict mode: the {len(listed)} setting(s) above would not be honoured; nothing was deployed "
            "(change them, or deploy with --no-strict to go ahead without them)"
        )
        running.fail(ErrorDetails(error.code, message, error.context))
    first = file.describe(listed[0]["field"], listed[0]["message"])
    more = len(listed) - 1
    if more:
        first += f" (and {more} more: `uno-deploy config validate -f {file.name}` lists them)"
    running.fail(ErrorDetails(error.code, first, error.context))


async def apply(backend: Backend, file: files.ConfigFile) -> Result[tuple[DeploymentConfig, str]]:
    """The file's configuration in the store: ``created``, ``updated`` (replaced) or ``unchanged``."""
    values = file.model_values()
    app_name, environment = values.get("app_name"), values.get("environment")
    existing: list[DeploymentConfig] = []
    if isinstance(app_name, str) and isinstance(environment, str):
        found = await backend.list_configs(app_name, environment, 1)
        existing = found.value if isinstance(found, Success) else []
    if not existing:
        created = await backend.create_config(values)
        return created if isinstance(created, Failure) else Success((created.value, "created"))
    current = existing[0]
    if _same(current, values):
        return Success((current, "unchanged"))
    replaced = await backend.replace_config(current.id.value, values)
    return replaced if isinstance(replaced, Failure) else Success((replaced.value, "updated"))


def _same(current: DeploymentConfig, values: dict[str, Any]) -> bool:
    from uno.deployment.domain import configuring  # noqa: PLC0415

    built = configuring.build(current.id, values, current.created_at)
    if isinstance(built, Failure):
        return False
    ignored = {"id", "created_at", "updated_at", "version", "given_fields", "derived_from"}
    return built.value.model_dump(exclude=ignored) == current.model_dump(exclude=ignored)


def applied_line(config: DeploymentConfig, how: str) -> str:
    return f"configuration {config.id.value} {how} (version {config.version}): {showing.config_summary(config)}"


@app.command("create")
def create(
    file: str = typer.Option(..., "-f", "--file", help=FILE_HELP),
    sets: list[str] = SETS,
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Create a configuration from a file; what it leaves out comes from the environment's profile.

    One per application and environment: when it has one with the same values, that one is
    shown; with other values, a conflict naming it (exit 2): replace it with deploy -f FILE.

    Example: uno-deploy config create -f deployment.yaml --set app_version=1.2.0
    """
    config_file = read(file, sets)
    precheck(config_file)
    values = config_file.model_values()

    async def work(backend: Backend) -> Result[tuple[DeploymentConfig, bool]]:
        app_name, environment = values.get("app_name"), values.get("environment")
        before = await backend.list_configs(str(app_name), str(environment), 1) if app_name and environment else None
        created = await backend.create_config(values)
        if isinstance(created, Failure):
            return created
        there = isinstance(before, Success) and any(item.id == created.value.id for item in before.value)
        return Success((created.value, not there))

    answered = with_backend(work)
    if isinstance(answered, Failure):
        fail_config(config_file, answered.error)
    config, new = answered.value
    how = "created" if new else "unchanged (it was there already):"
    _print(config, json_output, f"{how} {config.id.value}: {showing.config_summary(config)}")


@app.command("list")
def list_configs(
    app_name: str | None = typer.Option(None, "--app", help="Only this application's."),
    environment: str | None = typer.Option(None, "--env", help="Only this environment's."),
    limit: int = typer.Option(100, "--limit", min=1, max=1000, help="At most this many, newest first."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """List configurations, newest first.

    Example: uno-deploy config list --app hello
    """
    rows = None if json_output else looking.config_rows(app_name, environment, limit)
    if rows is None:
        found = running.unwrap(with_backend(lambda backend: backend.list_configs(app_name, environment, limit)))
        if json_output:
            running.emit_json([showing.config_document(config) for config in found])
            return
        rows = [views.ConfigRow.of(config) for config in found]
    if not rows:
        typer.echo(
            "no configurations yet (make one: uno-deploy init APP, then uno-deploy config create -f FILE)", err=True
        )
    for line in showing.configs_table(rows) if rows else []:
        typer.echo(line)


@app.command("show")
def show(
    config_id: str = typer.Argument(..., metavar="CONFIG_ID", help="The configuration's id (cfg-...)."),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show a configuration, every field (YAML; a file `config create -f` accepts back).

    Example: uno-deploy config show cfg-01jz8x3v5q6w7e8r9t0y1u2i3o
    """
    from uno.deployment.domain import configuring  # noqa: PLC0415

    config = running.unwrap(with_backend(lambda backend: backend.get_config(config_id)))
    document = showing.config_document(config)
    if json_output:
        running.emit_json(document)
        return
    typer.echo(f"# {config.id.value}, version {config.version}, updated {showing.when(config.updated_at)} UTC")
    settable = {name: value for name, value in document.items() if name in configuring.SETTABLE}
    typer.echo(showing.as_yaml(settable))


@app.command("update")
def update(
    config_id: str = typer.Argument(..., metavar="CONFIG_ID", help="The configuration's id (cfg-...)."),
    file: str | None = typer.Option(None, "-f", "--file", help="Changes as a YAML or JSON file (sections merge)."),
    sets: list[str] = SETS,
    expected_version: int | None = typer.Option(
        None, "--expected-version", min=1, help="Apply only to this version (a conflict otherwise)."
    ),
    json_output: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Change settings: sections merge, null (or `--set key=`) puts a setting back to its profile's default.

    Example: uno-deploy config update cfg-01jz8x3v5q6w7e8r9t0y1u2i3o --set app_version=2.0.0
    """
    from uno.deployment.entrypoints.cli import files  # noqa: PLC0415

    config_file = read(file, sets) if file else None
    changes = config_file.model_values() if config_file else running.unwrap(files.set_values(sets))
    if not changes:
        running.fail(ErrorDetails.validation("", "nothing to change: give -f FILE or --set key.path=value"))
    updated = with_backend(lambda backend: backend.update_config(config_id, changes, expected_version))
    if isinstance(updated, Failure):
        fail_config(config_file, updated.error)
    config = updated.value
    _print(
        config, json_output, f"updated {config.id.value} to version {config.version}: {showing.config_summary(config)}"
    )


@app.command("delete")
def delete(config_id: str = typer.Argument(..., metavar="CONFIG_ID", help="The configuration's id (cfg-...).")) -> None:
    """Delete a configuration (refused while one of its deployments runs; history keeps its snapshots).

    Example: uno-deploy config delete cfg-01jz8x3v5q6w7e8r9t0y1u2i3o
    """
    running.unwrap(with_backend(lambda backend: backend.delete_config(config_id)))
    typer.echo(f"deleted {config_id}")


@app.command("validate")
def validate(
    file: str = typer.Option(..., "-f", "--file", help=FILE_HELP),
    sets: list[str] = SETS,
    json_output: bool = typer.Option(False, "--json", help="Print the problems as JSON."),
    strict: bool | None = typer.Option(
        None,
        "--strict/--no-strict",
        help="Count settings the platform would not honour as problems (default: as a deploy would, by environment).",
        show_default=False,
    ),
) -> None:
    """Check a file here, storing nothing: every problem, each with its line and field path (exit 2 if any).

    The platform's settings are checked by the drivers installed on this machine. Settings
    the platform would not honour are warnings (on stderr), problems under strict.

    Example: uno-deploy config validate -f deployment.yaml
    """
    import asyncio  # noqa: PLC0415

    config_file = read(file, sets)
    found, warned, deprecated = asyncio.run(_problems(config_file.model_values()))
    environment = str(config_file.values.get("environment", ""))
    strict_here = strict if strict is not None else environment in running.cli_settings().strict_environments
    if strict_here:
        found, warned = found + warned, []
    for warning in warned + deprecated:  # a deprecated key works: never a problem, even under strict
        typer.echo(f"warning: {config_file.describe(warning['field'], warning['message'])}", err=True)
    if json_output:
        running.emit_json(
            [
                {
                    **problem,
                    "field": config_file.as_written(problem["field"]),
                    "at": config_file.origin(config_file.as_written(problem["field"])),
                }
                for problem in found
            ]
        )
    else:
        for problem in found:
            typer.echo(config_file.describe(problem["field"], problem["message"]))
    if found:
        running.fail(ErrorDetails.validation("", f"{len(found)} problem(s) in {config_file.name}"))
    if not json_output:
        values = config_file.values
        typer.echo(
            f"{config_file.name}: valid ({values.get('app_name')} {values.get('app_version')} "
            f"in {values.get('environment')})"
        )


async def _problems(
    values: dict[str, Any],
) -> tuple[list[checking.Problem], list[checking.Problem], list[checking.Problem]]:
    """The file's problems, and (when it has none) the settings its platform would not honour and the
    deprecated keys it uses."""
    from uno.deployment import bootstrap  # noqa: PLC0415
    from uno.deployment.services import checking  # noqa: PLC0415

    offline = running.cli_settings().model_copy(update={"database_url": MEMORY_URL})
    container = bootstrap.build(offline)
    drivers = container.runner.tools.platforms
    try:
        found = await checking.problems(values, drivers, datetime.now(UTC))
        if found:
            return found, [], []
        now = datetime.now(UTC)
        return found, checking.warnings(values, drivers, now), checking.deprecations(values, drivers, now)
    finally:
        await container.aclose()


def _print(config: DeploymentConfig, json_output: bool, line: str) -> None:
    if json_output:
        running.emit_json(showing.config_document(config))
    else:
        typer.echo(line)


TEMPLATE = """\
# uno-deploy configuration: {app} in {env}.
#   check it:    uno-deploy config validate -f {file}
#   preview:     uno-deploy plan -f {file}
#   deploy it:   uno-deploy deploy -f {file}
# What is left out comes from the {env} profile. Every field: docs/reference/configuration.md

# A DNS label: lowercase letters, digits and '-'.
app_name: {app}
# A semantic version or an image tag: change it (or --set app_version=...) to deploy a new release.
app_version: 1.0.0
# dev, test, staging or production.
environment: {env}
# local runs it on this machine; kubernetes, aws, ... need their driver installed.
platform: {platform}
# blue-green, rolling, canary or recreate.
strategy: {strategy}

resources:
  # Replicas started for each release.
  replicas_min: 2
  replicas_max: 2

network:
  # The path that answers 2xx when a replica is ready: every replica is probed there.
  health_check_path: {health}

testing:
  run_unit_tests: true
  # Runs before every deploy; a failure stops it.
  # unit_test_command: [python3, -m, pytest, -q]

# build_command: [python3, -m, compileall, -q, .]

custom_settings:
  # The local platform: how to start one replica, and where. It gets PORT (a private port
  # on 127.0.0.1 to listen on) and APP_VERSION in its environment. The router in front
  # listens on 127.0.0.1:<port> and sends requests to healthy replicas only.
  command: {command}
  workdir: {workdir}
  port: {port}
  health_deadline_seconds: 60
  # How long the previous release stays warm after a blue-green switch:
  # blue_green: {{rollback_window_seconds: 3600}}
  # canary: {{steps: [10, 50, 100], analysis_seconds: 30}}
"""


def init(
    app_name: str = typer.Argument(..., metavar="APP", help="The application's name (a DNS label, e.g. shop)."),
    environment: str = typer.Option("dev", "--env", "-e", help="dev, test, staging or production."),
    platform: str = typer.Option("local", "--platform", help="Where it runs (local: this machine)."),
    strategy: str = typer.Option("blue-green", "--strategy", help="blue-green, rolling, canary or recreate."),
    command: str = typer.Option("python3 app.py", "--command", help="How to start one replica (local platform)."),
    port: int = typer.Option(
        DEFAULT_APP_PORT, "--port", min=1, max=65535, help="The port the local router listens on."
    ),
    health: str = typer.Option("/health", "--health-path", help="The path that answers 200 when a replica is ready."),
    output: str = typer.Option("deployment.yaml", "--output", "-o", help="Where to write it (- for stdout)."),
    force: bool = typer.Option(False, "--force", help="Overwrite the file if it exists."),
) -> None:
    """Write a commented example configuration (YAML) for an application and environment.

    Example: uno-deploy init shop --env dev --command "python3 app.py" --port 8080
    """
    import yaml  # noqa: PLC0415

    from uno.deployment.entrypoints.cli import files  # noqa: PLC0415

    try:
        environment = DeploymentEnvironment(environment).value
    except ValueError:
        allowed = ", ".join(member.value for member in DeploymentEnvironment)
        running.fail(ErrorDetails.validation("--env", f"{environment!r} is not one of {allowed}"))
    text = TEMPLATE.format(
        app=app_name,
        env=environment,
        platform=platform,
        strategy=strategy,
        command=yaml.safe_dump(shlex.split(command), default_flow_style=True).strip(),
        port=port,
        health=health,
        file="-" if output == "-" else Path(output).name,
        workdir=json.dumps(str(Path.cwd() if output == "-" else Path(output).resolve().parent)),
    )
    parsed = files.parse(text, output)
    if isinstance(parsed, Failure):
        running.fail(parsed.error)
    precheck(parsed.value)  # what a deploy needs (a driver, ...) is validate's to say, on the machine that deploys
    if output == "-":
        typer.echo(text, nl=False)
        return
    target = Path(output)
    if target.exists() and not force:
        running.fail(ErrorDetails.validation("--output", f"{output} exists: choose another with -o, or --force"))
    target.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}: {app_name} in {environment} on {platform} with {strategy}")
    typer.echo(f"next: uno-deploy config validate -f {output}, then uno-deploy deploy -f {output}")
