"""What a rollback is: which deployments may be rolled back, to what, and by which steps.

A rollback restores the release of the latest successful deployment before the target
(any earlier one can be targeted by rolling back again). It is a deployment record of
its own (``kind=rollback``), so history shows who rolled back what and when. When asked,
it first restores the database from the backup the target took before it changed
anything; then the platform restores the previous release, which is then verified.
"""

from __future__ import annotations

from datetime import datetime

from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import DeploymentKind, DeploymentStatus, PipelineStatus, TaskStatus
from uno.deployment.domain.ids import DeploymentId, PipelineId, StageId, TaskId, new_deployment_id
from uno.deployment.domain.pipelines import Pipeline, Stage, Task
from uno.deployment.engine import templates
from uno.deployment.strategies.steps import DISTURBED

PLATFORM_STEPS = ("deploy", "rollback")


def refusal(target: DeploymentResult) -> str | None:
    """Why ``target`` cannot be rolled back (None when it can)."""
    if target.kind is DeploymentKind.ROLLBACK:
        return f"{target.id.value} is itself a rollback; deploy the release you want instead"
    if target.status.is_active or target.status is DeploymentStatus.PENDING:
        return f"deployment {target.id.value} is {target.status.value}; wait for it to end or cancel it first"
    if target.status is DeploymentStatus.ROLLED_BACK:
        return f"deployment {target.id.value} is already rolled back"
    if target.status not in (DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED, DeploymentStatus.CANCELED):
        return (
            f"deployment {target.id.value} was {target.status.value}; "
            "only a succeeded, failed or canceled one can be rolled back"
        )
    if not target.reached_platform:
        return f"deployment {target.id.value} never changed the platform: there is nothing to roll back"
    return None


def backup_taken(pipeline: Pipeline | None) -> str | None:
    """The backup file the deployment's pipeline wrote before changing anything, if any."""
    task = pipeline.task_named("backup-database") if pipeline else None
    if task is None or task.status is not TaskStatus.SUCCEEDED:
        return None
    path = task.outputs.get("backup_path")
    return path if isinstance(path, str) else None


def record_for(
    target: DeploymentResult, previous: DeploymentResult, now: datetime, identifier: DeploymentId | None = None
) -> DeploymentResult:
    return DeploymentResult(
        id=identifier or new_deployment_id(),
        config_id=previous.config_id,
        config=previous.config,
        created_at=now,
        kind=DeploymentKind.ROLLBACK,
        rollback_of=target.id,
        description=f"Roll back {target.id.value} ({target.app_version}) to {previous.app_version}",
        details={"restores": previous.id.value, "from_version": target.app_version, "to_version": previous.app_version},
    )


def pipeline_for(record: DeploymentResult, previous: DeploymentResult, backup: str | None, now: datetime) -> Pipeline:
    steps: list[Task] = []
    if backup is not None:
        steps.append(
            Task(
                TaskId.new(),
                "restore-database",
                "db_restore",
                "Restore the database from the pre-deploy backup",
                {"backup_path": backup},
                timeout=templates.STEP_TIMEOUTS["backup-database"],
            )
        )
    steps.append(
        Task(
            TaskId.new(),
            "rollback",
            "rollback",
            f"Restore release {previous.app_version} ({previous.id.value})",
            {"to_deployment": previous.id.value},
            [step.id for step in steps],
            timeout=templates.STEP_TIMEOUTS["deploy"],
        )
    )
    health = Task(
        TaskId.new(),
        "health-check",
        "health_check",
        "Check the restored release's health",
        timeout=templates.DEFAULT_STEP_TIMEOUT,
    )
    verify = Task(
        TaskId.new(),
        "verify-deployment",
        "verify",
        "Verify the restored release",
        dependencies=[health.id],
        timeout=templates.DEFAULT_STEP_TIMEOUT,
    )
    return Pipeline(
        id=PipelineId.new(),
        name=f"{record.app_name}-{record.environment.value}-rollback",
        description=record.description,
        deployment_id=record.id,
        config_id=previous.config_id,
        stages=[
            Stage(StageId.new(), "rollback", "Restore the previous release", tasks=steps),
            Stage(StageId.new(), "verification", "Verify the restored release", tasks=[health, verify]),
        ],
        created_at=now,
    )


def reached_platform(pipeline: Pipeline) -> bool:
    """Whether a platform step ran for real (an unavailable driver changes nothing)."""
    return any(
        task.action in PLATFORM_STEPS
        and task.status in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELED)
        and task.attempts > 0
        and not task.outputs.get("unavailable")
        for _, task in pipeline.tasks()
    )


def wants_automatic_rollback(record: DeploymentResult, pipeline: Pipeline) -> bool:
    """A failed deploy that left the platform changed, with ``auto_rollback`` on (see ``left_changed``)."""
    return record.kind is DeploymentKind.DEPLOY and record.config.auto_rollback and left_changed(pipeline)


def canceled_on_platform(record: DeploymentResult, pipeline: Pipeline) -> bool:
    """A canceled deploy whose platform step had started: its rollout must be undone (``Executor.undo``)."""
    return (
        record.kind is DeploymentKind.DEPLOY
        and pipeline.status is PipelineStatus.CANCELED
        and reached_platform(pipeline)
    )


def left_changed(pipeline: Pipeline) -> bool:
    """A failed pipeline whose deploy step put its release on the platform, or failed after
    it stopped or shrank the release before (``left_disturbed``): either way the release
    that served before does not serve as it did, and only a rollback restores it."""
    deployed = pipeline.task_named("deploy")
    if pipeline.status is not PipelineStatus.FAILED or deployed is None:
        return False
    return deployed.status is TaskStatus.SUCCEEDED or left_disturbed(pipeline)


def left_disturbed(pipeline: Pipeline) -> bool:
    """Whether the deploy step failed after it stopped or shrank the release before (recreate, rolling)."""
    deployed = pipeline.task_named("deploy")
    return deployed is not None and deployed.status is TaskStatus.FAILED and deployed.outputs.get(DISTURBED) is True


def summary(record: DeploymentResult, pipeline: Pipeline) -> str:
    release = f"{record.app_name} {record.app_version} in {record.environment.value}"
    rollback = record.kind is DeploymentKind.ROLLBACK
    if pipeline.status is PipelineStatus.SUCCEEDED:
        return f"rolled back to {release}" if rollback else f"deployed {release}"
    if pipeline.status is PipelineStatus.CANCELED:
        return f"{release}: {pipeline.message}"
    return (
        f"rollback to {release} failed: {pipeline.message}"
        if rollback
        else f"{release} not deployed: {pipeline.message}"
    )
