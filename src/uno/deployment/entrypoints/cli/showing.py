"""How the CLI shows things: configurations, deployments, pipelines and plans, as plain text.

Plain lines, aligned in columns, the same on a terminal and in a pipe (the live view of
a running deploy is ``following``'s). Every function returns lines; the commands print.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from uno.deployment.domain import differences
from uno.deployment.domain.enums import TaskStatus
from uno.deployment.entrypoints import views

if TYPE_CHECKING:
    from uno.deployment.domain.configs import DeploymentConfig
    from uno.deployment.domain.pipelines import Pipeline, Stage, Task
    from uno.deployment.entrypoints.cli.backends import Deployment
    from uno.deployment.services.planning import DeploymentPlan

# What a listing needs loads with this module; YAML, the configuration model and the
# planner only where a configuration or a plan is shown (``status`` and ``history`` read
# the store without them: ``looking``).

_STATUS_WIDTH = 9


def when(moment: datetime | None, otherwise: str = "-") -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else otherwise


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f}s" if value < 60 else f"{int(value // 60)}m{int(value % 60):02d}s"


def table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]


def as_yaml(document: Any) -> str:
    """YAML without anchors and aliases: repeated objects are written out each time, as a person reads them."""
    import yaml  # noqa: PLC0415

    class PlainDumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    dumped = yaml.dump(document, Dumper=PlainDumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return dumped.rstrip("\n")


def config_summary(config: DeploymentConfig) -> str:
    return (
        f"{config.app_name} {config.app_version} in {config.environment.value} "
        f"({config.platform.value}, {config.strategy.value}, {config.resources.replicas_min} replica(s))"
    )


def configs_table(configs: list[views.ConfigRow]) -> list[str]:
    header = ("ID", "APP", "VERSION", "ENVIRONMENT", "PLATFORM", "STRATEGY", "UPDATED")
    rows = [
        (
            config.id,
            config.app_name,
            config.app_version,
            config.environment,
            config.platform,
            config.strategy,
            when(config.updated_at),
        )
        for config in configs
    ]
    return table([header, *rows])


def config_document(config: DeploymentConfig) -> dict[str, Any]:
    """The configuration as the HTTP API shows it (the same document either way)."""
    return config.to_document()


def deployment_summary(deployment: Deployment) -> str:
    what = "rollback" if deployment.kind == "rollback" else "deploy"
    return (
        f"{deployment.id}: {what} of {deployment.app_name} {deployment.app_version} to {deployment.environment} "
        f"({deployment.platform}, {deployment.strategy})"
    )


def outcome_line(deployment: Deployment) -> str:
    took = f" in {seconds(deployment.duration)}" if deployment.duration is not None else ""
    return f"{deployment.status.value}{took}: {deployment.message}" if deployment.message else deployment.status.value


def not_honoured_lines(items: Any, platform: str) -> list[str]:
    """The settings a deploy asked for that its platform does not honour (``details["not_honoured"]``)."""
    if not isinstance(items, list) or not items:
        return []
    lines = [f"  not honoured on {platform} ({len(items)}):"]
    for item in items:
        message = str(item.get("message", "")).removeprefix(f"not honoured on {platform}: ")
        lines.append(f"    {item.get('field')}: {message}")
    return lines


def deployments_table(deployments: list[Deployment]) -> list[str]:
    header = ("ID", "KIND", "VERSION", "STATUS", "CREATED", "TOOK", "MESSAGE")
    rows = [
        (
            deployment.id,
            deployment.kind,
            deployment.app_version,
            deployment.status.value,
            when(deployment.created_at),
            seconds(deployment.duration) or "-",
            deployment.message,
        )
        for deployment in deployments
    ]
    return table([header, *rows])


def task_duration(task: Task, now: datetime | None = None) -> float | None:
    if task.started_at is None:
        return None
    end = task.finished_at or now
    return (end - task.started_at).total_seconds() if end else None


def task_line(stage: Stage, task: Task, now: datetime | None = None) -> str:
    took = seconds(task_duration(task, now))
    line = f"  {stage.name:<13} {task.name:<20} {task.status.value:<{_STATUS_WIDTH}} {took:>6}"
    return f"{line}  {task.message}".rstrip() if task.message else line.rstrip()


def step_lines(task: Task) -> list[str]:
    """What a platform step did, step by step (``created ...``, ``weights ...``), from its outputs."""
    steps = task.outputs.get("steps")
    if not isinstance(steps, list):
        return []
    return [f"{'':<36}- {step}" for step in steps if isinstance(step, str)]


def replica_log_lines(pipeline: Pipeline, deployment_id: str) -> list[str]:
    """The last lines a failing version set's replica wrote (``replica_log``, secrets masked), and where more is."""
    for _, task in pipeline.tasks():
        tail = task.outputs.get("replica_log")
        if task.status is TaskStatus.FAILED and isinstance(tail, list) and tail:
            shown = [f"  | {line}" for line in tail if isinstance(line, str)]
            where = task.outputs.get("version_set", "the version set")
            return [f"last lines of a replica's log ({where}):", *shown, f"see more: uno-deploy logs {deployment_id}"]
    return []


def pipeline_lines(pipeline: Pipeline, now: datetime | None = None) -> list[str]:
    lines = []
    for stage, task in pipeline.tasks():
        lines.append(task_line(stage, task, now))
        lines.extend(step_lines(task))
    return lines


def deployment_lines(deployment: Deployment, pipeline: Pipeline | None) -> list[str]:
    lines = [
        deployment_summary(deployment),
        f"  status    {outcome_line(deployment)}",
        f"  times     created {when(deployment.created_at)}, started {when(deployment.started_at)}, "
        f"finished {when(deployment.finished_at)} (UTC)",
    ]
    if deployment.description:
        lines.append(f"  about     {deployment.description}")
    if deployment.rollback_of:
        lines.append(f"  rolls back {deployment.rollback_of}")
    for note in ("automatic_rollback", "restores"):
        if note in deployment.details:
            lines.append(f"  {note.replace('_', ' '):<9} {deployment.details[note]}")
    lines.extend(not_honoured_lines(deployment.details.get("not_honoured"), deployment.platform))
    if pipeline is not None:
        lines.append(f"  pipeline  {pipeline.id.value} ({pipeline.status.value})")
        lines.extend(pipeline_lines(pipeline, datetime.now(UTC)))
        lines.extend(replica_log_lines(pipeline, deployment.id))
    return lines


def plan_lines(plan: DeploymentPlan) -> list[str]:
    lines = [
        f"plan: deploy {plan.app_name} {plan.app_version} to {plan.environment} ({plan.config_id or 'not stored'})",
        f"  platform {plan.platform}, strategy {plan.strategy}, {plan.replicas} replica(s); nothing was changed",
        "",
        f"pipeline: {len(plan.stages)} stages, {sum(len(stage.tasks) for stage in plan.stages)} tasks",
    ]
    for stage in plan.stages:
        for index, task in enumerate(stage.tasks):
            after = f" (after {', '.join(task.depends_on)})" if task.depends_on else ""
            name = stage.name if index == 0 else ""
            lines.append(f"  {name:<13} {task.name:<20} {task.description}{after}, timeout {seconds(task.timeout)}")
    lines.extend(f"  left out: {reason}" for reason in plan.left_out)
    lines += ["", f"strategy: {plan.schedule.strategy}"]
    lines.extend(f"  {number}. {step}" for number, step in enumerate(plan.schedule.steps, start=1))
    lines += ["", f"platform objects ({plan.platform}):"]
    if plan.platform_objects is None:
        lines.append("  none: the platform's settings have problems (below)")
    else:
        lines.extend(f"  {line}" for line in as_yaml(plan.platform_objects).splitlines())
    lines += ["", f"against what is live on {plan.platform}:"]
    if plan.diff is None:
        lines.append(f"  {plan.diff_note or 'not compared: the platform settings have problems (below)'}")
    else:
        lines.extend(f"  {line}" if line else "" for line in diff_lines(differences.Diff.from_document(plan.diff)))
    holder = f"held now by {plan.lease_holder}: a deploy would wait for it" if plan.lease_holder else "free now"
    lines += ["", f"lease: {plan.lease} ({holder})"]
    if plan.rollback_to is None:
        lines.append(
            f"rollback: nothing to restore yet (no successful deploy of {plan.app_name} in {plan.environment})"
        )
    else:
        restorable = plan.rollback_to
        lines.append(
            f"rollback: would restore {plan.app_name} {restorable.app_version} "
            f"({restorable.deployment_id}, deployed {when(restorable.finished_at)} UTC)"
        )
    if plan.not_honoured:
        what = (
            f"a deploy in {plan.environment} is refused for them unless --no-strict"
            if plan.strict
            else "reported; a strict deploy refuses them"
        )
        lines += ["", f"not honoured on {plan.platform} ({what}):"]
        lines.extend(line[2:] for line in not_honoured_lines(list(plan.not_honoured), plan.platform)[1:])
    if plan.deprecated:
        lines += ["", "deprecated (still used; never refused):"]
        lines.extend(f"  {item['field']}: {item['message']}" for item in plan.deprecated)
    if plan.problems:
        lines += ["", "problems (a deploy would fail):"]
        lines.extend(f"  {problem['field']}: {problem['message']}" for problem in plan.problems)
    return lines


def diff_lines(found: differences.Diff) -> list[str]:
    """The human view: one unified diff per object that would change, then a summary line."""
    shown: list[str] = []
    for item in found.objects:
        if item.change == differences.UNCHANGED:
            continue
        note = f" ({item.note})" if item.note else ""
        shown.append(f"{item.kind}/{item.name}: {item.change}{note}")
        shown.extend(item.unified())
        shown.append("")
    counts = {
        change: sum(item.change == change for item in found.objects)
        for change in (differences.ADDED, differences.CHANGED, differences.REMOVED, differences.UNCHANGED)
    }
    summary = ", ".join(f"{count} {change}" for change, count in counts.items() if count)
    where = f"{found.app_name} in {found.environment} on {found.platform}"
    if not found.changed:
        shown.append(f"no changes: {where} is live as configured ({summary or 'no objects'})")
    else:
        shown.append(f"a deploy would change {where}: {summary}")
    return shown
