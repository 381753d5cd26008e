"""``uno-deploy cancel|promote|abort|approve|reject``: people's decisions on running deployments.

``promote``/``abort`` steer a canary (its pause, or the step it is analysing);
``approve``/``reject`` decide an approval gate of a pipeline. Decisions are stored, so
they reach the deployment in whichever process runs it.
"""

from __future__ import annotations

import typer

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.enums import TaskStatus
from uno.deployment.domain.pipelines import Pipeline, Task
from uno.deployment.entrypoints.cli import running, showing
from uno.deployment.entrypoints.cli.backends import Backend, Deployment
from uno.deployment.entrypoints.cli.opening import with_backend
from uno.deployment.ports.approvals import Decision

ID_HELP = "The deployment's id (dep-...)."


def _done(deployment: Deployment, what: str) -> None:
    typer.echo(f"{deployment.id}: {what}; now {showing.outcome_line(deployment)}")


def cancel(
    deployment_id: str = typer.Argument(..., metavar="DEPLOYMENT_ID", help=ID_HELP),
    reason: str = typer.Option("", "--reason", help="Why (kept in the record)."),
) -> None:
    """Stop a running deployment: its pipeline stops promptly and the record says who stopped it.

    Example: uno-deploy cancel dep-01jz8x3v5q6w7e8r9t0y1u2i3o --reason "wrong version"
    """
    canceled = running.unwrap(with_backend(lambda backend: backend.cancel(deployment_id, reason)))
    _done(canceled, "cancel requested")


def promote(
    deployment_id: str = typer.Argument(..., metavar="DEPLOYMENT_ID", help=ID_HELP),
    full: bool = typer.Option(False, "--full", help="Skip the remaining steps: 100% once healthy at full size."),
) -> None:
    """Let a running canary go on from the step it is at (paused there, or being analysed).

    Example: uno-deploy promote dep-01jz8x3v5q6w7e8r9t0y1u2i3o --full
    """
    promoted = running.unwrap(with_backend(lambda backend: backend.promote(deployment_id, full)))
    _done(promoted, "promoted" + (" to 100%" if full else " to its next step"))


def abort(
    deployment_id: str = typer.Argument(..., metavar="DEPLOYMENT_ID", help=ID_HELP),
    reason: str = typer.Option("", "--reason", help="Why (kept in the deployment's message)."),
) -> None:
    """Stop a running canary: all traffic back to the stable version, the canary removed, the deploy failed.

    Example: uno-deploy abort dep-01jz8x3v5q6w7e8r9t0y1u2i3o --reason "p99 too high"
    """
    aborted = running.unwrap(with_backend(lambda backend: backend.abort(deployment_id, reason)))
    _done(aborted, "abort requested")


def _decide(target: str, task: str | None, approved: bool, comment: str) -> Decision:
    async def work(backend: Backend) -> Result[Decision]:
        pipeline = await _pipeline_of(backend, target)
        if isinstance(pipeline, Failure):
            return pipeline
        gate = _gate(pipeline.value, task)
        if isinstance(gate, Failure):
            return gate
        return await backend.decide(pipeline.value.id.value, gate.value.id.value, approved, comment)

    return running.unwrap(with_backend(work))


async def _pipeline_of(backend: Backend, target: str) -> Result[Pipeline]:
    if not target.startswith("dep-"):
        return await backend.pipeline(target)
    found = await backend.deployment(target)
    if isinstance(found, Failure):
        return found
    if found.value.pipeline_id is None:
        return Failure(ErrorDetails.invalid_state(f"deployment {target} has no pipeline"))
    return await backend.pipeline(found.value.pipeline_id)


def _gate(pipeline: Pipeline, wanted: str | None) -> Result[Task]:
    gates = [task for _, task in pipeline.tasks() if task.action == "approval"]
    if wanted is not None:
        named = [gate for gate in gates if wanted in (gate.name, gate.id.value)]
        if not named:
            return Failure(ErrorDetails.not_found("approval gate", wanted))
        return Success(named[0])
    waiting = [gate for gate in gates if gate.status is TaskStatus.RUNNING]
    if len(waiting) == 1:
        return Success(waiting[0])
    if not waiting:
        return Failure(ErrorDetails.invalid_state(f"no approval gate of {pipeline.id.value} is waiting for a decision"))
    names = ", ".join(gate.name for gate in waiting)
    return Failure(ErrorDetails.validation("--task", f"several gates are waiting ({names}): name one with --task"))


TARGET_HELP = "The deployment (dep-...) or pipeline (pipe-...) whose approval gate to decide."
TASK_HELP = "The gate's task name or id (default: the one gate waiting now)."


def approve(
    target: str = typer.Argument(..., metavar="DEPLOYMENT_OR_PIPELINE", help=TARGET_HELP),
    task: str | None = typer.Option(None, "--task", help=TASK_HELP),
    comment: str = typer.Option("", "--comment", help="Why (kept with the decision)."),
) -> None:
    """Let an approval gate pass (the first decision on a gate wins).

    Example: uno-deploy approve pipe-01jz8x3v5q6w7e8r9t0y1u2i3o --comment "checked the dashboards"
    """
    decision = _decide(target, task, True, comment)
    typer.echo(f"approved gate {decision.task_id.value} of {decision.pipeline_id.value} as {decision.by}")


def reject(
    target: str = typer.Argument(..., metavar="DEPLOYMENT_OR_PIPELINE", help=TARGET_HELP),
    task: str | None = typer.Option(None, "--task", help=TASK_HELP),
    comment: str = typer.Option("", "--comment", help="Why (the gate's task fails with it)."),
) -> None:
    """Stop at an approval gate: its task fails with the rejection as its message.

    Example: uno-deploy reject dep-01jz8x3v5q6w7e8r9t0y1u2i3o --comment "not during the sale"
    """
    decision = _decide(target, task, False, comment)
    typer.echo(f"rejected gate {decision.task_id.value} of {decision.pipeline_id.value} as {decision.by}")
