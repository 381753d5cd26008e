"""``uno-deploy status|history|logs``: where deployments are, what they did, what they printed."""

from __future__ import annotations

import json
import os
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.entrypoints.cli import looking, running, showing
from uno.deployment.entrypoints.cli.opening import with_backend

if TYPE_CHECKING:
    from uno.deployment.domain.configs import DeploymentConfig
    from uno.deployment.domain.pipelines import Pipeline, Stage, Task
    from uno.deployment.engine import secrecy
    from uno.deployment.entrypoints.cli.backends import Backend, Deployment

# ``status`` and ``history`` read the embedded store without the services when they can
# (``looking``); following a deployment (``--wait``) loads the live view and the services.

ID_HELP = "The deployment's id (dep-...), as deploy, status or history print it."
_SHOWN_OUTPUTS = frozenset(
    {"argv", "returncode", "stdout_tail", "stderr_tail", "duration", "steps", "version_set", "replica_log"}
)  # replica_log: the replica logs themselves follow the tasks


async def _with_pipeline(backend: Backend, deployment_id: str) -> Result[tuple[Deployment, Pipeline | None]]:
    found = await backend.deployment(deployment_id)
    if isinstance(found, Failure):
        return found
    if found.value.pipeline_id is None:
        return Success((found.value, None))
    pipeline = await backend.pipeline(found.value.pipeline_id)
    return Success((found.value, pipeline.value if isinstance(pipeline, Success) else None))


def status(
    deployment_id: str = typer.Argument(..., metavar="DEPLOYMENT_ID", help=ID_HELP),
    wait: bool = typer.Option(False, "--wait", help="Follow it to its end (exit 1 if it does not succeed)."),
    json_output: bool = typer.Option(False, "--json", help="Print the deployment and its pipeline as JSON."),
) -> None:
    """Show where a deployment is: its status, every task with its duration and message.

    Example: uno-deploy status dep-01jz8x3v5q6w7e8r9t0y1u2i3o --wait
    """
    if wait:
        _follow(deployment_id, json_output)
        return
    found = looking.deployment(deployment_id)
    if found is None:
        found = running.unwrap(with_backend(lambda backend: _with_pipeline(backend, deployment_id)))
    deployment, pipeline = found
    if json_output:
        running.emit_json(
            {"deployment": deployment.to_document(), "pipeline": pipeline.to_document() if pipeline else None}
        )
        return
    for line in showing.deployment_lines(deployment, pipeline):
        typer.echo(line)


def _follow(deployment_id: str, json_output: bool) -> None:
    from uno.deployment.entrypoints.cli import deploying, following  # noqa: PLC0415

    async def work(backend: Backend) -> tuple[Result[Deployment], Pipeline | None]:
        found = await backend.deployment(deployment_id)
        if isinstance(found, Failure):
            return found, None
        view = following.view_for(json_output, showing.deployment_summary(found.value))
        ended = await following.follow(backend, found.value, view, None, owns=False)
        return ended, await deploying.ended_pipeline(backend, ended)

    ended, pipeline = with_backend(work)
    if isinstance(ended, Failure):
        deploying.failed(ended.error, None)
    deploying.report_end(ended.value, json_output, pipeline)


def history(
    app_name: str | None = typer.Argument(None, metavar="APP", help="Only this application's (default: all)."),
    env_argument: str | None = typer.Argument(None, metavar="ENV", help="Only this environment's (as --env)."),
    environment: str | None = typer.Option(None, "--env", help="Only this environment's."),
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="At most this many, newest first."),
    json_output: bool = typer.Option(False, "--json", help="Print the deployments as JSON."),
) -> None:
    """List deployments and rollbacks, newest first: version, status, when, how long, outcome.

    Example: uno-deploy history hello dev
    """
    if env_argument is not None and environment is not None and env_argument != environment:
        running.fail(
            ErrorDetails.validation("ENV", f"two environments given: {env_argument!r} and --env {environment!r}")
        )
    environment = environment or env_argument
    found = looking.deployments(app_name, environment, limit)
    if found is None:
        found = running.unwrap(with_backend(lambda backend: backend.deployments(app_name, environment, limit)))
    if json_output:
        running.emit_json([deployment.to_document() for deployment in found])
    elif not found:
        typer.echo("no deployments yet (deploy one: uno-deploy deploy -f FILE)", err=True)
    else:
        for line in showing.deployments_table(found):
            typer.echo(line)


def logs(
    deployment_id: str = typer.Argument(..., metavar="DEPLOYMENT_ID", help=ID_HELP),
    tail: int = typer.Option(20, "--tail", min=0, max=10_000, help="Last lines of each replica's log (0: paths only)."),
    json_output: bool = typer.Option(False, "--json", help="Print the tasks' messages and outputs as JSON."),
) -> None:
    """Show what each task of a deployment did, and where the replicas log.

    Each task's message and outputs (a command's exit code and the tails of its output, a
    strategy's steps); for the local platform, each replica's log file and its last lines.

    Example: uno-deploy logs dep-01jz8x3v5q6w7e8r9t0y1u2i3o --tail 50
    """
    remote = running.options().server is not None
    deployment, pipeline = running.unwrap(with_backend(lambda backend: _with_pipeline(backend, deployment_id)))
    tasks = list(pipeline.tasks()) if pipeline else []
    version_sets = [str(task.outputs["version_set"]) for _, task in tasks if task.outputs.get("version_set")]
    replica_logs = [] if remote else _replica_logs(deployment, version_sets)
    if json_output:
        running.emit_json(
            {
                "deployment": deployment.to_document(),
                "tasks": [_task_document(stage, task) for stage, task in tasks],
                "replica_logs": [str(path) for path in replica_logs],
            }
        )
        return
    typer.echo(showing.deployment_summary(deployment))
    for stage, task in tasks:
        for line in _task_lines(stage, task):
            typer.echo(line)
    shown = replica_logs and tail
    hidden = _redactor(running.unwrap(with_backend(lambda backend: _config_of(backend, deployment)))) if shown else None
    for line in _replica_lines(deployment, version_sets, replica_logs, tail, remote):
        typer.echo(hidden.text(line) if hidden is not None else line)


async def _config_of(backend: Backend, deployment: Deployment) -> Result[DeploymentConfig | None]:
    """The configuration the deployment came from, if it is still stored (its secrets' names)."""
    found = await backend.get_config(deployment.config_id)
    return Success(found.value if isinstance(found, Success) else None)


def _redactor(config: DeploymentConfig | None) -> secrecy.Redactor:
    """What hides, in the replicas' own logs, the secret values this shell knows: those of the variables the
    configuration names as secrets, of variables whose names look secret, and the store URL's password.

    A replica writes its log itself (``local.rotating``), so nothing could hide a secret on the way in; it is
    hidden on the way out, as everything the engine stores is.
    """
    from uno.deployment.engine import secrecy  # noqa: PLC0415

    url = running.cli_settings().database_url or ""
    return secrecy.Redactor.for_run(config, os.environ, [url] if "@" in url else [])


def _task_document(stage: Stage, task: Task) -> dict[str, Any]:
    return {
        "stage": stage.name,
        "task": task.name,
        "status": task.status.value,
        "duration": task.duration,
        "message": task.message,
        "outputs": task.outputs,
    }


def _task_lines(stage: Stage, task: Task) -> list[str]:
    took = showing.seconds(task.duration)
    lines = [f"{stage.name}/{task.name}: {task.status.value}{f' in {took}' if took else ''}"]
    if task.message:
        lines.append(f"  {task.message}")
    outputs = task.outputs
    if isinstance(outputs.get("argv"), list):
        lines.append(f"  $ {' '.join(map(str, outputs['argv']))}  (exit {outputs.get('returncode')})")
    for stream in ("stdout_tail", "stderr_tail"):
        text = outputs.get(stream)
        if isinstance(text, str) and text.strip():
            lines.append(f"  {stream.removesuffix('_tail')}:")
            lines.extend(f"    | {line}" for line in text.rstrip().splitlines())
    lines.extend(f"  - {step}" for step in outputs.get("steps", []) if isinstance(step, str))
    if outputs.get("version_set"):
        lines.append(f"  version set: {outputs['version_set']}")
    for key, value in outputs.items():
        if key not in _SHOWN_OUTPUTS:
            lines.append(f"  {key}: {json.dumps(value, default=str)}")
    return lines


def _replica_logs(deployment: Deployment, version_sets: list[str]) -> list[Path]:
    if deployment.platform != "local":
        return []
    from uno.deployment import bootstrap  # noqa: PLC0415

    settings = running.cli_settings()
    return [path for version_set in version_sets for path in bootstrap.local_replica_logs(settings, version_set)]


def _replica_lines(
    deployment: Deployment, version_sets: list[str], found: list[Path], tail: int, remote: bool
) -> list[str]:
    if deployment.platform != "local" or not version_sets:
        return []
    if remote:
        return [
            "",
            f"replica logs: on the server's machine, in its local platform directory, "
            f"processes/logs/{version_sets[-1]}/replica-N.log",
        ]
    if not found:
        return ["", f"replica logs: none left on this machine for {', '.join(version_sets)}"]
    lines = ["", "replica logs (stdout and stderr of each replica):"]
    for path in found:
        lines.append(f"  {path}")
        if tail:
            lines.extend(f"    | {line}" for line in _last_lines(path, tail))
    return lines


def _last_lines(path: Path, count: int) -> list[str]:
    try:
        with path.open(errors="replace") as text:
            return [line.rstrip("\n") for line in deque(text, maxlen=count)]
    except OSError:
        return []
