"""``uno-deploy plan|render|deploy|rollback``: what a deploy would do, and doing it.

``deploy`` and ``rollback`` follow the deployment to its end (``following``) unless
``--no-wait``. On the embedded store a deployment runs in the process that started it,
so ``--no-wait`` hands it to a detached ``uno-deploy`` process that follows it to its end
(its log under ``<data dir>/runs``); against a server it just returns.
Exit codes: 0 it succeeded, 1 it failed, was canceled or was rolled back.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain import configuring
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.pipelines import Pipeline
from uno.deployment.entrypoints.cli import configs, following, running, runs, showing
from uno.deployment.entrypoints.cli.backends import Backend, Deployment
from uno.deployment.entrypoints.cli.opening import with_backend
from uno.deployment.services import honouring
from uno.deployment.services.planning import DeploymentPlan

if TYPE_CHECKING:  # the file parser (and YAML) loads for the commands given a file or --set
    from uno.deployment.entrypoints.cli import files

DETACH_DEADLINE = 60.0
"""How long ``--no-wait`` waits for the detached process to have started the deployment."""

CONFIG_HELP = "The configuration's id (cfg-...), or a file (as -f FILE)."
FILE_HELP = (
    "A YAML or JSON configuration file: planned, then stored as it is (created, or replacing its app and "
    "environment's), then deployed."
)
PLAN_FILE_HELP = "A YAML or JSON configuration file (planned as it is: nothing is stored)."
WAIT_HELP = "Follow it to its end (the default), or return once it has started."
STRICT_HELP = (
    "Refuse the deploy when the platform would not honour a setting it asks for "
    "(default: on in the strict environments, production unless UNO_DEPLOY_STRICT_ENVIRONMENTS says otherwise)."
)


async def resolve(
    backend: Backend,
    config_id: str | None,
    file: files.ConfigFile | None,
    sets: list[str],
    *,
    strict: bool | None = None,
) -> Result[DeploymentConfig]:
    """The configuration a command works on: from a file (stored first), or by id with ``--set`` changes stored.

    A file is planned first, as ``plan -f`` plans it: when that plan says the deploy would
    be refused (``refusal``), nothing is stored and the refusal is the answer.
    """
    if file is not None:
        planned = await backend.plan_values(file.model_values(), live=False)
        if isinstance(planned, Failure):
            return planned
        if (refused := refusal(planned.value, strict)) is not None:
            return Failure(refused)
        applied = await configs.apply(backend, file)
        if isinstance(applied, Failure):
            return applied
        config, how = applied.value
        typer.echo(configs.applied_line(config, how), err=True)
        return Success(config)
    if config_id is None:
        return Failure(ErrorDetails.validation("CONFIG_ID", "give a configuration id (cfg-...) or -f FILE"))
    if not sets:
        return await backend.get_config(config_id)
    from uno.deployment.entrypoints.cli import files  # noqa: PLC0415

    changes = files.set_values(sets)
    if isinstance(changes, Failure):
        return changes
    updated = await backend.update_config(config_id, changes.value, None)
    if isinstance(updated, Success):
        typer.echo(configs.applied_line(updated.value, "updated"), err=True)
    return updated


def refusal(planned: DeploymentPlan, strict: bool | None) -> ErrorDetails | None:
    """Why a deploy of what was planned would be refused before anything changes, or None.

    The one rule ``plan`` exits 2 by and ``deploy -f`` applies before storing its file: a
    problem the deploy would fail on, or (under strict; ``None``: the environment decides)
    a setting the platform would not honour.
    """
    if planned.problems:
        first = planned.problems[0]
        context = {"field": first["field"], "errors": [dict(problem) for problem in planned.problems]}
        return ErrorDetails(
            ErrorCode.VALIDATION_ERROR, f"a deploy would fail: {first['field']}: {first['message']}", context
        )
    if (planned.strict if strict is None else strict) and planned.not_honoured:
        return honouring.refusal([dict(item) for item in planned.not_honoured], strict=True)
    return None


FILE_SUFFIXES = (".yaml", ".yml", ".json")


def as_file(config_id: str | None, path: str | None) -> tuple[str | None, str | None]:
    """``deploy deployment.yaml`` means ``deploy -f deployment.yaml``: a CONFIG_ID that names a file
    (one that exists, or a name ending .yaml, .yml or .json) is taken as ``-f``; ids start with ``cfg-``."""
    if config_id is None or path is not None or config_id.startswith("cfg-"):
        return config_id, path
    if config_id.endswith(FILE_SUFFIXES) or Path(config_id).is_file():
        return None, config_id
    return config_id, path


def _file(path: str | None, sets: list[str]) -> files.ConfigFile | None:
    """The file a command was given, read and checked as the store would check it."""
    if not path:
        return None
    config_file = configs.read(path, sets)
    configs.precheck(config_file)
    return config_file


def _planned(config_id: str | None, path: str | None, sets: list[str], *, live: bool = True) -> DeploymentPlan:
    """The plan of a file, or of a stored configuration (with ``--set`` changes), storing nothing.

    ``live``: with the diff against what is live (``plan``); ``render`` reads no platform.
    """
    config_id, path = as_file(config_id, path)
    config_file = _file(path, sets)

    async def work(backend: Backend) -> Result[DeploymentPlan]:
        if config_file is not None:
            return await backend.plan_values(config_file.model_values(), live=live)
        if config_id is None:
            return Failure(ErrorDetails.validation("CONFIG_ID", "give a configuration id (cfg-...) or -f FILE"))
        if not sets:
            return await backend.plan(config_id, live=live)
        stored = await backend.get_config(config_id)
        if isinstance(stored, Failure):
            return stored
        from uno.deployment.entrypoints.cli import files  # noqa: PLC0415

        document = stored.value.to_document()
        values = {name: value for name, value in document.items() if name in configuring.SETTABLE}
        changed = files.apply_sets(files.ConfigFile(config_id, values), sets)
        if isinstance(changed, Failure):
            return changed
        return await backend.plan_values(changed.value.values, live=live)

    planned = with_backend(work)
    if isinstance(planned, Failure):
        configs.fail_config(config_file, planned.error)
    return planned.value


def plan(
    config_id: str | None = typer.Argument(None, metavar="CONFIG_ID", help=CONFIG_HELP),
    file: str | None = typer.Option(None, "-f", "--file", help=PLAN_FILE_HELP),
    sets: list[str] = configs.SETS,
    json_output: bool = typer.Option(False, "--json", help=configs.JSON_HELP),
) -> None:
    """Show what a deploy would do, doing none of it.

    The pipeline's stages and tasks, the strategy's schedule, the platform objects, the lease
    it takes and the release a rollback would restore; exit 2 if a deploy would fail
    or be refused (strict mode: a setting the platform does not honour, in production by default).

    Example: uno-deploy plan -f deployment.yaml
    """
    planned = _planned(config_id, file, sets)
    if json_output:
        running.emit_json(planned.to_document())
    else:
        for line in showing.plan_lines(planned):
            typer.echo(line)
    refused = refusal(planned, None)
    if refused is None:
        return
    if planned.problems:
        running.fail(ErrorDetails(refused.code, refused.message, {"problems": list(planned.problems)}))
    fields = ", ".join(item["field"] for item in planned.not_honoured)
    message = f"a deploy in {planned.environment} would be refused (strict mode): not honoured: {fields}"
    running.fail(ErrorDetails(refused.code, message, {"not_honoured": list(planned.not_honoured)}))


def render(
    config_id: str | None = typer.Argument(None, metavar="CONFIG_ID", help=CONFIG_HELP),
    file: str | None = typer.Option(None, "-f", "--file", help=PLAN_FILE_HELP),
    sets: list[str] = configs.SETS,
    output_format: str = typer.Option(
        "native",
        "--format",
        help="native: the platform's own format (Kubernetes: a YAML stream kubectl applies); "
        "uno: our wrapper document (platform, notes, objects) as YAML.",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print our wrapper document as JSON (as --format uno)."),
    out: str | None = typer.Option(
        None, "--out", help="Write one file per object into this directory (a GitOps repository), not to stdout."
    ),
    force: bool = typer.Option(False, "--force", help="With --out: overwrite files of the same name it did not write."),
) -> None:
    """Print the platform objects a deploy would create or change, in the platform's own format.

    Kubernetes: a multi-document YAML stream (kubectl apply -f -, kubernetes-validate);
    local: the router and the processes. Storing and deploying nothing. With --out DIR, one
    file per object; run again, it overwrites its own files and removes those it wrote that
    the release no longer has.

    Example: uno-deploy render -f deployment.yaml | kubectl apply --dry-run=client -f -
    """
    from uno.deployment.entrypoints.cli import rendering  # noqa: PLC0415

    if output_format not in ("native", "uno"):
        running.fail(ErrorDetails.validation("--format", f"{output_format!r}: give native or uno"))
    if out is not None and (json_output or output_format != "native"):
        running.fail(ErrorDetails.validation("--out", "--out writes the native format: leave out --json/--format"))
    planned = _planned(config_id, file, sets, live=False)
    document = planned.platform_objects
    if document is None:
        first = planned.problems[0] if planned.problems else {"field": "platform", "message": "renders nothing"}
        running.fail(ErrorDetails.validation(first["field"], first["message"]))
    if json_output:
        running.emit_json(document)
    elif output_format == "uno":
        typer.echo(showing.as_yaml(document))
    elif out is not None:
        written = rendering.write_out(document, Path(out), force=force)
        if isinstance(written, ErrorDetails):
            running.fail(written)
        for path in written:
            typer.echo(str(path))
    elif rendering.native_format(document) == "json":
        stream, said = rendering.json_stream(document)
        for line in said:
            typer.echo(f"# {line}", err=True)
        typer.echo(stream, nl=False)
    else:
        typer.echo(rendering.yaml_stream(document), nl=False)


def deploy(
    config_id: str | None = typer.Argument(None, metavar="CONFIG_ID", help=CONFIG_HELP),
    file: str | None = typer.Option(None, "-f", "--file", help=FILE_HELP),
    sets: list[str] = configs.SETS,
    description: str = typer.Option("", "--description", "-m", help="Why (kept in the history)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help=WAIT_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print the deployment and its pipeline as JSON."),
    strict: bool | None = typer.Option(None, "--strict/--no-strict", help=STRICT_HELP, show_default=False),
    started_file: str | None = typer.Option(None, "--started-file", hidden=True),
    config_version: int | None = typer.Option(None, "--config-version", min=1, hidden=True),
) -> None:
    """Deploy a configuration's release with its strategy, showing the pipeline live (exit 1 if it fails).

    Settings the platform does not honour are listed; under --strict (the default in
    production) they refuse the deploy before anything changes (exit 2).

    Example: uno-deploy deploy -f deployment.yaml --set app_version=2.0.0
    """
    config_id, file = as_file(config_id, file)
    config_file = _file(file, sets)

    async def start(backend: Backend) -> Result[Deployment]:
        config = await resolve(backend, config_id, config_file, [] if config_file else sets, strict=strict)
        if isinstance(config, Failure):
            return config
        # a file is deployed as stored: a change by another writer in between is a CONFLICT, not deployed
        version = config.value.version if config_file else config_version
        if not wait and backend.runs_here:
            arguments = ["deploy", config.value.id.value, "--description", description]
            arguments += [] if strict is None else ["--strict" if strict else "--no-strict"]
            arguments += [] if version is None else ["--config-version", str(version)]
            return await _detached(backend, arguments)
        return await backend.deploy(config.value.id.value, description, strict=strict, config_version=version)

    _run(start, wait, json_output, started_file, config_file)


def rollback(
    deployment_id: str | None = typer.Argument(
        None,
        metavar="DEPLOYMENT_ID|APP",
        help="The deployment to roll back (dep-...), or an app: its latest deploy (with --env if it has several).",
    ),
    app_name: str | None = typer.Option(None, "--app", help="Roll back this app's latest deploy (as APP)."),
    environment: str | None = typer.Option(None, "--env", help="The app's environment (needed if it has several)."),
    to: str | None = typer.Option(
        None, "--to", help="The release to restore: a deployment id or a version (default: the one before)."
    ),
    restore_database: bool = typer.Option(
        False, "--restore-database", help="First restore the database from the deploy's pre-deploy backup."
    ),
    wait: bool = typer.Option(True, "--wait/--no-wait", help=WAIT_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print the rollback and its pipeline as JSON."),
    started_file: str | None = typer.Option(None, "--started-file", hidden=True),
) -> None:
    """Put an earlier release back: a warm traffic switch when it still runs (exit 1 if it fails).

    Example: uno-deploy rollback hello --env dev (or: rollback dep-01jz8x3v5q6w7e8r9t0y1u2i3o --to 1.0.0)
    """
    if deployment_id is not None and not deployment_id.startswith("dep-"):
        if app_name is not None and app_name != deployment_id:
            message = f"give the application once: {deployment_id!r} or --app {app_name!r}"
            running.fail(ErrorDetails.validation("APP", message))
        deployment_id, app_name = None, deployment_id

    async def start(backend: Backend) -> Result[Deployment]:
        target = await _rollback_target(backend, deployment_id, app_name, environment)
        if isinstance(target, Failure):
            return target
        restored = await _release(backend, target.value, to)
        if isinstance(restored, Failure):
            return restored
        if not wait and backend.runs_here:
            arguments = ["rollback", target.value.id, *(["--to", restored.value] if restored.value else [])]
            return await _detached(backend, arguments + (["--restore-database"] if restore_database else []))
        return await backend.rollback(target.value.id, restored.value, restore_database)

    _run(start, wait, json_output, started_file, None)


def _run(
    start: Callable[[Backend], Awaitable[Result[Deployment]]],
    wait: bool,
    json_output: bool,
    started_file: str | None,
    config_file: files.ConfigFile | None,
) -> None:
    async def work(backend: Backend) -> tuple[Result[Deployment], Pipeline | None, bool]:
        if not wait:
            return await start(backend), None, False
        with following.interrupts() as interrupted:
            return await started_and_followed(backend, interrupted)

    async def started_and_followed(
        backend: Backend, interrupted: asyncio.Event
    ) -> tuple[Result[Deployment], Pipeline | None, bool]:
        started = await start(backend)
        if isinstance(started, Failure):
            return started, None, False
        if started_file:
            _announce(Path(started_file), started.value.id)
        if not json_output:
            _warn_not_honoured(started.value)
        view = following.view_for(json_output, showing.deployment_summary(started.value))
        ended = await following.follow(
            backend, started.value, view, runs_dir(backend), owns=True, interrupted=interrupted
        )
        pipeline = await ended_pipeline(backend, ended)
        return ended, pipeline, True

    ended, pipeline, followed = with_backend(work)
    if isinstance(ended, Failure):
        failed(ended.error, config_file)
    if not followed:
        _report_started(ended.value, json_output)
        return
    report_end(ended.value, json_output, pipeline)


def _warn_not_honoured(deployment: Deployment) -> None:
    lines = showing.not_honoured_lines(deployment.details.get("not_honoured"), deployment.platform)
    if lines:
        typer.echo(f"warning: {lines[0].strip().removesuffix(':')}, deployed without them:", err=True)
        for line in lines[1:]:
            typer.echo(line, err=True)
    deprecated = deployment.details.get("deprecated")
    for item in deprecated if isinstance(deprecated, list) else []:
        typer.echo(f"warning: {item.get('field')}: {item.get('message')}", err=True)


def failed(error: ErrorDetails, config_file: files.ConfigFile | None) -> NoReturn:
    if error.context.get("interrupted"):
        typer.echo(error.message, err=True)
        raise typer.Exit(running.INTERRUPTED)
    configs.fail_config(config_file, error)


def _report_started(deployment: Deployment, json_output: bool) -> None:
    if json_output:
        running.emit_json(deployment.to_document())
        return
    typer.echo(f"started {showing.deployment_summary(deployment)}")
    _warn_not_honoured(deployment)
    typer.echo(f"follow it: uno-deploy status {deployment.id} --wait")


def report_end(deployment: Deployment, json_output: bool, pipeline: Pipeline | None) -> None:
    """The last word on a followed deployment, and the exit code: 1 unless it succeeded.

    A deploy that failed because its replicas kept exiting also shows the last lines one
    of them wrote, and the command that shows more.
    """
    if json_output:
        document = pipeline.to_document() if pipeline is not None else None
        running.emit_json({"deployment": deployment.to_document(), "pipeline": document})
    else:
        typer.echo(showing.outcome_line(deployment))
        if not deployment.success and pipeline is not None:
            for line in showing.replica_log_lines(pipeline, deployment.id):
                typer.echo(line)
    if not deployment.success:
        raise typer.Exit(running.FAILED)


async def ended_pipeline(backend: Backend, ended: Result[Deployment]) -> Pipeline | None:
    if isinstance(ended, Failure) or ended.value.pipeline_id is None:
        return None
    found = await backend.pipeline(ended.value.pipeline_id)
    return found.value if isinstance(found, Success) else None


def runs_dir(backend: Backend) -> Path | None:
    return runs.directory(running.cli_settings()) if backend.runs_here else None


def _announce(path: Path, deployment_id: str) -> None:
    """Tell the process that detached this one which deployment it runs (written whole, then renamed)."""
    partial = path.with_suffix(".partial")
    partial.write_text(deployment_id)
    partial.replace(path)


async def _detached(backend: Backend, arguments: list[str]) -> Result[Deployment]:
    """Start a detached ``uno-deploy`` process that runs the deployment to its end; return it once started."""
    runs_dir = runs.directory(running.cli_settings())
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}"
    announced, log_path = runs_dir / f"{stamp}.started", runs_dir / f"{stamp}.log"
    command = [sys.executable, "-m", "uno.deployment.entrypoints.cli"]
    command += ["--debug"] if running.options().debug else []
    command += [*arguments, "--wait", "--json", "--started-file", str(announced)]
    child = await asyncio.to_thread(_spawn, command, log_path)
    deadline = time.monotonic() + DETACH_DEADLINE
    while not announced.exists():
        if child.poll() is not None:
            lines = log_path.read_text(errors="replace").strip().splitlines()
            reason = lines[-1].removeprefix("error: ") if lines else f"it exited with code {child.returncode}"
            code = ErrorCode.VALIDATION_ERROR if child.returncode == running.USAGE_ERROR else ErrorCode.UNAVAILABLE
            return Failure(ErrorDetails(code, reason, {"log": str(log_path)}))
        if time.monotonic() > deadline:
            return Failure(ErrorDetails(ErrorCode.UNAVAILABLE, f"the deploy did not start in time (log: {log_path})"))
        await asyncio.sleep(0.05)
    deployment_id = announced.read_text().strip()
    announced.unlink(missing_ok=True)
    typer.echo(f"running in the background (pid {child.pid}; log: {log_path})", err=True)
    return await backend.deployment(deployment_id)


def _spawn(command: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """A process of its own session (Ctrl-C here does not reach it), outliving this one."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True
        )


async def _rollback_target(
    backend: Backend, deployment_id: str | None, app_name: str | None, environment: str | None
) -> Result[Deployment]:
    if deployment_id is not None:
        return await backend.deployment(deployment_id)
    if app_name is None:
        message = "give the deployment to roll back (dep-...), or the application (and --env) for its latest deploy"
        return Failure(ErrorDetails.validation("DEPLOYMENT_ID", message))
    found = await backend.deployments(app_name, environment, 100)
    if isinstance(found, Failure):
        return found
    deploys = [item for item in found.value if item.kind == "deploy" and item.reached_platform]
    where = f"{app_name} in {environment}" if environment else app_name
    if not deploys:
        return Failure(ErrorDetails.not_found("deployment of", where))
    environments = sorted({item.environment for item in deploys})
    if len(environments) > 1:
        message = f"{app_name} is deployed in {', '.join(environments)}: say which with --env"
        return Failure(ErrorDetails.validation("--env", message))
    return Success(deploys[0])


async def _release(backend: Backend, target: Deployment, to: str | None) -> Result[str | None]:
    """``--to``: a deployment id as is, or a version: the latest deploy of it that served."""
    if to is None or to.startswith("dep-"):
        return Success(to)
    found = await backend.deployments(target.app_name, target.environment, 1000)
    if isinstance(found, Failure):
        return found
    for item in found.value:
        served = item.status.value in ("succeeded", "rolled-back") and item.reached_platform
        if item.kind == "deploy" and item.app_version == to and served and item.created_at < target.created_at:
            return Success(item.id)
    message = f"no earlier deploy of {target.app_name} {to} in {target.environment} served"
    return Failure(ErrorDetails.validation("--to", message))
