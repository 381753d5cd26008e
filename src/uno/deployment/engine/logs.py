"""Structured logs of pipeline runs: one line per transition, carrying every id.

Each run gets its own logger, filtered at the configuration's
``monitoring.log_level`` (never below the process-wide floor in ``Settings``), bound to
the deployment, pipeline, stage and task ids, so a line can always be traced back.
Messages are the transitions' own; task outputs (which may quote a program's output)
are never logged.

A library does not choose where its logs go: every line goes to the standard library's
``logging`` (loggers under ``uno.deployment``), which prints nothing but warnings until
the application configures it. ``through_logging`` routes structlog there, unless the
application configured structlog itself; no handler is installed. Each record carries
the structured fields in ``record.structured`` (and ``key=value`` in its message), which
the CLI's and the server's handlers render (``bootstrap.configure_logging``).

structlog itself (with rich and pygments, which it loads for tracebacks) is imported
when the first line is about to be written, not before: ``get_logger`` and
``run_logger`` hand out loggers that load it then, and ``through_logging`` runs at that
moment too. A ``uno-deploy deploy`` whose runs log nothing at its level (the CLI shows
the tasks itself) never imports it; what an application sees is unchanged, since
nothing was written before.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.pipelines import Pipeline, PipelineEvent, Stage
from uno.deployment.engine import output

_EVENT_LEVELS = {"failed": logging.WARNING, "canceled": logging.WARNING}
RUNS_LOGGER = "uno.deployment.runs"
STRUCTURED = output.STRUCTURED
"""The ``LogRecord`` attribute that holds a line's structured fields (event, level, timestamp, ids)."""


def through_logging() -> None:
    """Send structlog's lines to ``logging``, unless the application configured structlog itself."""
    import structlog  # noqa: PLC0415 (see the module's docstring)

    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            to_record,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )


def to_record(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """The arguments of a ``logging`` call: ``event key=value ...`` as the message, the fields kept whole."""
    exc_info = event_dict.pop("exc_info", None)
    fields = " ".join(
        f"{key}={value!r}" for key, value in event_dict.items() if key not in ("event", "level", "timestamp")
    )
    message = f"{event_dict.get('event')} {fields}".rstrip()
    return {"msg": message, "extra": {STRUCTURED: event_dict}, "exc_info": exc_info}


def through_logging_if_loaded() -> None:
    """``through_logging`` now if structlog is loaded already (an adapter logs through it directly)."""
    if "structlog" in sys.modules:
        through_logging()


def get_logger(name: str) -> Any:
    """structlog's ``get_logger(name)``, imported when the first line is written."""

    def make() -> Any:
        import structlog  # noqa: PLC0415

        return structlog.get_logger(name)

    return _Deferred(make)


def run_logger(pipeline: Pipeline, config: DeploymentConfig | None, floor: int) -> Any:
    """A logger for one run of ``pipeline``, at the configuration's level (or ``floor``, if higher)."""
    if config is not None and not config.monitoring.enable_logging:
        return _Silent()
    level = max(logging.getLevelName(config.monitoring.log_level) if config else logging.INFO, floor)
    bound = {
        "pipeline_id": pipeline.id.value,
        "deployment_id": pipeline.deployment_id.value,
        "app": config.app_name if config else None,
        "environment": config.environment.value if config else None,
    }

    def make() -> Any:
        import structlog  # noqa: PLC0415

        wrapper = structlog.make_filtering_bound_logger(level)
        return structlog.wrap_logger(logging.getLogger(RUNS_LOGGER), wrapper_class=wrapper).bind(**bound)

    return _Leveled(level, make)


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


class _Deferred:
    """A structlog logger made (and structlog imported, and ``through_logging`` run) at its first use."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._logger: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._logger is None:
            through_logging()
            self._logger = self._make()
        return getattr(self._logger, name)


class _Leveled(_Deferred):
    """A run's logger: it answers ``is_enabled_for`` by its level alone, so a run whose lines
    are all below it never makes the structlog logger."""

    def __init__(self, level: int, make: Callable[[], Any]) -> None:
        super().__init__(make)
        self._level = level

    def is_enabled_for(self, level: int) -> bool:
        return level >= self._level

    def log(self, level: int, event: str, **fields: Any) -> None:
        if level >= self._level:
            self.__getattr__("log")(level, event, **fields)


class _Silent:
    """The logger of an application whose configuration turned logging off."""

    def is_enabled_for(self, level: int) -> bool:
        return False

    def log(self, level: int, event: str, **fields: Any) -> None:
        return None
