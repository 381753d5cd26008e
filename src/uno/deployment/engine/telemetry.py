"""Telemetry: who wants to know when a pipeline or a deployment moves (metrics, for one).

The runner and the deployment service tell an ``Observers`` hub about every change they
record; entry points add observers (the HTTP API's Prometheus metrics). An observer is
called inline, so it must be quick and must not fail: a failing observer is dropped
from that call with a log line, never failing the deployment it watches.
"""

from __future__ import annotations

from typing import Protocol

from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import DeploymentStatus
from uno.deployment.domain.pipelines import Pipeline, PipelineEvent, Stage, Task
from uno.deployment.engine import logs

_log = logs.get_logger("uno.deployment.telemetry")  # structlog loads with the first line


class Observer(Protocol):
    def pipeline_moved(self, event: PipelineEvent, subject: Pipeline | Stage | Task) -> None: ...

    def deployment_moved(self, record: DeploymentResult, old: DeploymentStatus) -> None: ...


class Observers:
    """Every observer, told in turn."""

    def __init__(self) -> None:
        self._observers: list[Observer] = []

    def add(self, observer: Observer) -> None:
        self._observers.append(observer)

    def remove(self, observer: Observer) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    def pipeline_moved(self, event: PipelineEvent, subject: Pipeline | Stage | Task) -> None:
        for observer in self._observers:
            try:
                observer.pipeline_moved(event, subject)
            except Exception:
                _log.exception("an observer failed", observer=type(observer).__name__)

    def deployment_moved(self, record: DeploymentResult, old: DeploymentStatus) -> None:
        for observer in self._observers:
            try:
                observer.deployment_moved(record, old)
            except Exception:
                _log.exception("an observer failed", observer=type(observer).__name__)
