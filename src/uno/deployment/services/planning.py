"""What a deploy of a configuration would do, worked out without doing any of it.

A plan puts together what the other parts would decide: the default pipeline's stages
and tasks (``templates.default_pipeline``), the strategy's schedule from its settings
(``tuning``), the platform objects the driver would create (its ``render``), the lease
the deploy takes, and the release a rollback would then restore (the one serving now).

Nothing here changes anything: no record is stored, no lease is taken, no process
starts. A setting the deploy would refuse is reported in ``problems`` (with its field
path) instead of failing the plan, so one plan shows everything that is wrong; settings
the platform would not honour are listed in ``not_honoured`` (``honouring``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from uno.core.result import Failure, Result
from uno.deployment.domain import configuring
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import DeploymentStrategy
from uno.deployment.domain.ids import DeploymentId, new_config_id
from uno.deployment.domain.pipelines import Pipeline
from uno.deployment.engine.templates import DefaultPipeline
from uno.deployment.ports.platforms import PlatformDrivers, Release
from uno.deployment.services import diffing, honouring
from uno.deployment.services.config_service import to_model_names
from uno.deployment.strategies.tuning import Tuning, tuning_for

PLANNED_RELEASE = "(planned)"
"""The deployment id a rendered release carries: the deploy's own id is made when it starts."""


@dataclass(frozen=True, slots=True)
class PlannedTask:
    name: str
    action: str
    description: str
    depends_on: tuple[str, ...]
    timeout: float

    def to_document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "action": self.action,
            "description": self.description,
            "depends_on": list(self.depends_on),
            "timeout": self.timeout,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> PlannedTask:
        return cls(
            str(document["name"]),
            str(document["action"]),
            str(document.get("description", "")),
            tuple(document.get("depends_on", ())),
            float(document.get("timeout", 0)),
        )


@dataclass(frozen=True, slots=True)
class PlannedStage:
    name: str
    description: str
    tasks: tuple[PlannedTask, ...]

    def to_document(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "tasks": [task.to_document() for task in self.tasks],
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> PlannedStage:
        tasks = tuple(PlannedTask.from_document(task) for task in document.get("tasks", ()))
        return cls(str(document["name"]), str(document.get("description", "")), tasks)


@dataclass(frozen=True, slots=True)
class Schedule:
    """How the strategy rolls the release out: steps in words, and the settings they come from."""

    strategy: str
    steps: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_document(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "steps": list(self.steps), "settings": self.settings}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Schedule:
        return cls(str(document["strategy"]), tuple(document.get("steps", ())), dict(document.get("settings", {})))


@dataclass(frozen=True, slots=True)
class RestorableRelease:
    """A release a rollback would put back: the one serving before the deploy."""

    deployment_id: str
    app_version: str
    finished_at: datetime | None

    def to_document(self) -> dict[str, Any]:
        finished = self.finished_at.isoformat() if self.finished_at else None
        return {"deployment_id": self.deployment_id, "app_version": self.app_version, "finished_at": finished}

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> RestorableRelease:
        finished = document.get("finished_at")
        return cls(
            str(document["deployment_id"]),
            str(document["app_version"]),
            datetime.fromisoformat(finished) if finished else None,
        )


@dataclass(frozen=True, slots=True)
class DeploymentPlan:
    """What deploying a configuration would do (``DeploymentService.plan``)."""

    config_id: str | None  # None for a configuration planned from values, not stored
    app_name: str
    app_version: str
    environment: str
    platform: str
    strategy: str
    replicas: int
    stages: tuple[PlannedStage, ...]
    left_out: tuple[str, ...]
    schedule: Schedule
    platform_objects: dict[str, Any] | None
    lease: str
    lease_holder: str | None
    rollback_to: RestorableRelease | None
    problems: tuple[dict[str, str], ...] = ()
    not_honoured: tuple[dict[str, str], ...] = ()  # settings nothing would act on (refused under strict)
    strict: bool = False  # a deploy of it is strict by default (its environment is one of the strict ones)
    deprecated: tuple[dict[str, str], ...] = ()  # deprecated keys used, with what replaces them (never refused)
    diff: dict[str, Any] | None = None  # what a deploy would change against what is live (``diffing``)
    diff_note: str = ""  # why there is no diff (the platform cannot be reached, or cannot say)

    def to_document(self) -> dict[str, Any]:
        return {
            "config_id": self.config_id,
            "app_name": self.app_name,
            "app_version": self.app_version,
            "environment": self.environment,
            "platform": self.platform,
            "strategy": self.strategy,
            "replicas": self.replicas,
            "stages": [stage.to_document() for stage in self.stages],
            "left_out": list(self.left_out),
            "schedule": self.schedule.to_document(),
            "platform_objects": self.platform_objects,
            "lease": self.lease,
            "lease_holder": self.lease_holder,
            "rollback_to": self.rollback_to.to_document() if self.rollback_to else None,
            "problems": [dict(problem) for problem in self.problems],
            "not_honoured": [dict(item) for item in self.not_honoured],
            "strict": self.strict,
            "deprecated": [dict(item) for item in self.deprecated],
            "diff": self.diff,
            "diff_note": self.diff_note,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> DeploymentPlan:
        restorable = document.get("rollback_to")
        return cls(
            config_id=document.get("config_id"),
            app_name=str(document["app_name"]),
            app_version=str(document["app_version"]),
            environment=str(document["environment"]),
            platform=str(document["platform"]),
            strategy=str(document["strategy"]),
            replicas=int(document["replicas"]),
            stages=tuple(PlannedStage.from_document(stage) for stage in document.get("stages", ())),
            left_out=tuple(document.get("left_out", ())),
            schedule=Schedule.from_document(document["schedule"]),
            platform_objects=document.get("platform_objects"),
            lease=str(document["lease"]),
            lease_holder=document.get("lease_holder"),
            rollback_to=RestorableRelease.from_document(restorable) if restorable else None,
            problems=tuple(dict(problem) for problem in document.get("problems", ())),
            not_honoured=tuple(dict(item) for item in document.get("not_honoured", ())),
            strict=bool(document.get("strict", False)),
            deprecated=tuple(dict(item) for item in document.get("deprecated", ())),
            diff=document.get("diff"),
            diff_note=str(document.get("diff_note", "")),
        )


def stages_of(pipeline: Pipeline) -> tuple[PlannedStage, ...]:
    names = {task.id: task.name for _, task in pipeline.tasks()}
    return tuple(
        PlannedStage(
            stage.name,
            stage.description,
            tuple(
                PlannedTask(
                    task.name,
                    task.action,
                    task.description,
                    tuple(names[dependency] for dependency in task.dependencies),
                    task.timeout,
                )
                for task in stage.tasks
            ),
        )
        for stage in pipeline.stages
    )


def restorable(serving: DeploymentResult | None) -> RestorableRelease | None:
    if serving is None:
        return None
    return RestorableRelease(serving.id.value, serving.app_version, serving.finished_at)


async def platform_objects(
    config: DeploymentConfig, drivers: PlatformDrivers
) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """What the driver would create or change (``render``), or the problems that stop it."""
    found = drivers.driver_for(config)
    if isinstance(found, Failure):
        return None, [_problem("platform", found.error.message)]
    checked = found.value.check(config)
    if isinstance(checked, Failure):
        return None, [_problem(str(checked.error.context.get("field", "platform")), checked.error.message)]
    rendered = await found.value.render(Release(PLANNED_RELEASE, config))
    if isinstance(rendered, Failure):
        return None, [_problem(str(rendered.error.context.get("field", "platform")), rendered.error.message)]
    return rendered.value, []


def schedule_for(config: DeploymentConfig) -> tuple[Schedule, list[dict[str, str]]]:
    """The strategy's schedule from its settings, or the problem with those settings."""
    tuned = tuning_for(config)
    if isinstance(tuned, Failure):
        field_path = str(tuned.error.context.get("field", "custom_settings"))
        return Schedule(config.strategy.value, ()), [_problem(field_path, tuned.error.message)]
    tuning, replicas, version = tuned.value, config.resources.replicas_min, config.app_version
    build = {
        DeploymentStrategy.RECREATE: _recreate,
        DeploymentStrategy.BLUE_GREEN: _blue_green,
        DeploymentStrategy.ROLLING: _rolling,
        DeploymentStrategy.CANARY: _canary,
    }[config.strategy]
    steps, settings = build(tuning, replicas, version)
    settings = {
        "replicas": replicas,
        "health_deadline_seconds": tuning.health_deadline_seconds,
        "drain_seconds": tuning.drain_seconds,
        **settings,
    }
    return Schedule(config.strategy.value, tuple(steps), settings), []


def _problem(field_path: str, message: str) -> dict[str, str]:
    prefix = f"{field_path}: "
    return {"field": field_path, "message": message.removeprefix(prefix)}


def _healthy(tuning: Tuning, what: str) -> str:
    return f"wait until {what} is healthy (up to {tuning.health_deadline_seconds:g}s)"


def _recreate(tuning: Tuning, replicas: int, version: str) -> tuple[list[str], dict[str, Any]]:
    steps = [
        f"stop every running version (draining up to {tuning.drain_seconds:g}s): downtime starts",
        f"start {replicas} replica(s) of {version}",
        _healthy(tuning, version),
        f"route 100% of traffic to {version}: downtime ends",
    ]
    return steps, {}


def _blue_green(tuning: Tuning, replicas: int, version: str) -> tuple[list[str], dict[str, Any]]:
    steps = [
        f"start {replicas} replica(s) of {version} (green) beside the serving release (blue)",
        _healthy(tuning, "green") + "; if it never is, green is removed and blue keeps serving",
        "switch 100% of traffic to green at once",
        _after_switch(tuning, "blue"),
    ]
    return steps, _keeping(tuning)


def _rolling(tuning: Tuning, replicas: int, version: str) -> tuple[list[str], dict[str, Any]]:
    surge = max(1, tuning.max_surge)
    batches = [min(replicas, size) for size in range(surge, replicas + surge, surge)]
    steps = [
        f"add {version} in batches of up to {surge} replica(s): " + " -> ".join(f"{n}/{replicas}" for n in batches),
        "each batch: " + _healthy(tuning, "the batch") + ", then traffic in proportion to healthy replicas",
        f"after each batch, remove up to {surge + tuning.max_unavailable} old replica(s)",
        f"route 100% of traffic to {version} and remove what is left of the old release",
    ]
    settings = {"max_surge": surge, "max_unavailable": tuning.max_unavailable, "batches": batches}
    return steps, settings


def _canary(tuning: Tuning, replicas: int, version: str) -> tuple[list[str], dict[str, Any]]:
    canary = tuning.canary
    schedule = []
    steps = ["when nothing serves yet, the first release goes live at once (as blue-green)"]
    judged = (
        f"error rate <= {canary.max_error_rate:g} and <= stable + {canary.max_error_rate_increase:g}, "
        f"p99 <= {canary.max_p99_ratio:g} x stable + {canary.p99_slack_ms:g} ms, "
        f"at least {canary.min_requests} request(s)"
    )
    for weight in canary.steps:
        count = max(1, min(replicas, math.ceil(replicas * weight / 100)))
        paused = weight in canary.pause_after
        schedule.append(
            {"weight": weight, "replicas": count, "analysis_seconds": canary.analysis_seconds, "pause": paused}
        )
        line = f"{weight}% of traffic to {version} ({count} replica(s)), analysed for {canary.analysis_seconds:g}s"
        if paused:
            line += (
                f", then paused until promoted or aborted (up to {canary.pause_timeout_seconds:g}s, "
                f"then {canary.on_pause_timeout})"
            )
        steps.append(line)
    steps.append(f"each analysis passes when {judged}; a failed one sends all traffic back to stable")
    steps.append(_after_switch(tuning, "the previous release"))
    settings = {
        "steps": schedule,
        "max_error_rate": canary.max_error_rate,
        "max_error_rate_increase": canary.max_error_rate_increase,
        "max_p99_ratio": canary.max_p99_ratio,
        "p99_slack_ms": canary.p99_slack_ms,
        "min_requests": canary.min_requests,
        "pause_timeout_seconds": canary.pause_timeout_seconds,
        "on_pause_timeout": canary.on_pause_timeout,
        **_keeping(tuning),
    }
    return steps, settings


def _after_switch(tuning: Tuning, previous: str) -> str:
    if tuning.keep_previous:
        return (
            f"keep {previous} warm for {tuning.rollback_window_seconds:g}s "
            "(the rollback window: a rollback then is a traffic switch)"
        )
    return f"remove {previous} (draining up to {tuning.drain_seconds:g}s)"


def _keeping(tuning: Tuning) -> dict[str, Any]:
    return {"keep_previous": tuning.keep_previous, "rollback_window_seconds": tuning.rollback_window_seconds}


def unsaved_config(values: dict[str, Any], now: datetime) -> Result[DeploymentConfig]:
    """A configuration from ``create_config_from``'s values, checked as creating it would, never stored."""
    named = to_model_names(values)
    if isinstance(named, Failure):
        return named
    given, rename = named.value
    return configuring.build(new_config_id(), given, now, rename=rename)


async def plan(
    config: DeploymentConfig,
    built: DefaultPipeline,
    drivers: PlatformDrivers,
    lease: tuple[str, str | None],
    serving: DeploymentResult | None,
    *,
    stored: bool = True,
    strict: bool = False,
    live: bool = True,
) -> DeploymentPlan:
    """Put the parts of a plan together (``DeploymentService.plan`` gathers them).

    ``stored``: the configuration is in the store (else its id is none of the store's, and left out);
    ``live``: compare with what is live (``diffing.for_plan``), else the plan touches no platform.
    """
    schedule, schedule_problems = schedule_for(config)
    objects, platform_problems = await platform_objects(config, drivers)
    found, diff_note = (None, "not compared with what is live (asked not to)")
    if objects is None:
        found, diff_note = None, ""
    elif live:
        found, diff_note = await diffing.for_plan(config, drivers)
    unknown = honouring.unknown_custom_settings(config, drivers)
    return DeploymentPlan(
        config_id=config.id.value if stored else None,
        app_name=config.app_name,
        app_version=config.app_version,
        environment=config.environment.value,
        platform=config.platform.value,
        strategy=config.strategy.value,
        replicas=config.resources.replicas_min,
        stages=stages_of(built.pipeline),
        left_out=tuple(built.left_out),
        schedule=schedule,
        platform_objects=objects,
        lease=lease[0],
        lease_holder=lease[1],
        rollback_to=restorable(serving),
        problems=tuple(schedule_problems + platform_problems + unknown),
        not_honoured=tuple(honouring.not_honoured(config, drivers)),
        strict=strict,
        deprecated=tuple(honouring.deprecated(config, drivers)),
        diff=found.to_document() if found is not None else None,
        diff_note=diff_note,
    )


PLANNED_DEPLOYMENT = DeploymentId("dep-planned")
"""The deployment id the planned pipeline is built for (never stored)."""
