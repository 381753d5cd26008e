"""Structured logs of pipeline runs: one line per transition, carrying every id.

Each run gets its own logger, filtered at the configuration's
``monitoring.log_level`` (never below the process-wide floor in ``Settings``), bound to
the deployment, pipeline, stage and task ids, so a line can always be traced back.
Messages are the transitions' own; task outputs (which may quote a program's output)
are never logged.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.pipelines import Pipeline, PipelineEvent, Stage

_EVENT_LEVELS = {"failed": logging.WARNING, "canceled": logging.WARNING}


def run_logger(pipeline: Pipeline, config: DeploymentConfig | None, floor: int) -> Any:
    """A logger for one run of ``pipeline``, at the configuration's level (or ``floor``, if higher)."""
    if config is not None and not config.monitoring.enable_logging:
        return _Silent()
    level = logging.getLevelName(config.monitoring.log_level) if config else logging.INFO
    wrapper = structlog.make_filtering_bound_logger(max(level, floor))
    return structlog.wrap_logger(None, wrapper_class=wrapper).bind(
        pipeline_id=pipeline.id.value,
        deployment_id=pipeline.deployment_id.value,
        app=config.app_name if config else None,
        environment=config.environment.value if config else None,
    )


def log_transition(log: Any, event: PipelineEvent, subject: Any, stage: Stage | None) -> None:
    """One line for one transition; ``stage`` is the task's stage (None for other subjects)."""
    retrying = event.old == event.new
    level = logging.WARNING if retrying else _EVENT_LEVELS.get(event.new, logging.INFO)
    if not log.is_enabled_for(level):
        return
    fields: dict[str, Any] = {"old": event.old, "new": event.new}
    if event.message:
        fields["reason"] = event.message
    if event.subject == "task":
        fields.update(task=subject.name, task_id=event.subject_id, attempt=subject.attempts)
        if stage is not None:
            fields.update(stage=stage.name, stage_id=stage.id.value)
        if subject.duration is not None:
            fields["duration"] = round(subject.duration, 3)
    elif event.subject == "stage":
        fields.update(stage=subject.name, stage_id=event.subject_id)
    log.log(level, f"{event.subject}.{'retrying' if retrying else event.new}", **fields)


def log_progress(log: Any, event: PipelineEvent, task: Any, stage: Stage | None) -> None:
    """One line for a running task's progress note (``task.progress``): what it waits for now."""
    if not log.is_enabled_for(logging.INFO):
        return
    fields: dict[str, Any] = {"reason": event.message, "task": task.name, "task_id": event.subject_id}
    if stage is not None:
        fields.update(stage=stage.name, stage_id=stage.id.value)
    log.log(logging.INFO, "task.progress", **fields)


class _Silent:
    """The logger of an application whose configuration turned logging off."""

    def is_enabled_for(self, level: int) -> bool:
        return False

    def log(self, level: int, event: str, **fields: Any) -> None:
        return None
