"""Prometheus metrics: deployments by app, status, environment and platform; their durations; task durations.

A deployment is exported only when its configuration has ``monitoring.enable_metrics``
on (the dev profile leaves it off, the others turn it on): with it off, the app's
deployment series are absent, never zero. Task durations are counted per action for
every deployment (they carry no app).

Counted by this process from the changes it records (an ``Observer``), so with several
API servers each one reports what it ran: sum them in Prometheus, as with any counter.
The API serves them at ``/metrics``; a queue worker, which runs the deployments API
servers only queue, at ``uno-deploy worker --metrics-port`` (``serve_worker_metrics``).
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import DeploymentStatus, TaskStatus
from uno.deployment.domain.pipelines import Pipeline, PipelineEvent, Stage, Task

_DEPLOYMENT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
_TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600)
_ENDED_TASK = {status.value for status in TaskStatus if status.is_complete}


class DeploymentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("app", "status", "environment", "platform")
        self.deployments = Counter(
            "uno_deployments",
            "Deployments and rollbacks that reached a status, by app, status, environment and platform.",
            (*labels, "kind"),
            registry=registry,
        )
        self.active = Gauge(
            "uno_deployments_active",
            "Deployments running or rolling back now, started by this process.",
            ("app", "environment", "platform"),
            registry=registry,
        )
        self.durations = Histogram(
            "uno_deployment_duration_seconds",
            "From start to end of a deployment, by how it ended.",
            labels,
            buckets=_DEPLOYMENT_BUCKETS,
            registry=registry,
        )
        self.tasks = Histogram(
            "uno_task_duration_seconds",
            "From start to end of a pipeline task, by action and how it ended.",
            ("action", "status"),
            buckets=_TASK_BUCKETS,
            registry=registry,
        )

    def deployment_moved(self, record: DeploymentResult, old: DeploymentStatus) -> None:
        if not record.config.monitoring.enable_metrics:
            return  # monitoring.enable_metrics off: the app's deployments are not exported
        where = {"app": record.app_name, "environment": record.environment.value, "platform": record.platform.value}
        self.deployments.labels(status=record.status.value, kind=record.kind.value, **where).inc()
        if record.status is DeploymentStatus.RUNNING and old is not DeploymentStatus.RUNNING:
            self.active.labels(**where).inc()
        elif old is DeploymentStatus.RUNNING and record.status.is_complete:
            self.active.labels(**where).dec()
            if record.started_at is not None and record.finished_at is not None:
                seconds = (record.finished_at - record.started_at).total_seconds()
                self.durations.labels(status=record.status.value, **where).observe(max(seconds, 0.0))

    def pipeline_moved(self, event: PipelineEvent, subject: Pipeline | Stage | Task) -> None:
        if event.subject != "task" or event.new not in _ENDED_TASK or not isinstance(subject, Task):
            return
        if subject.started_at is not None and subject.finished_at is not None:
            seconds = (subject.finished_at - subject.started_at).total_seconds()
            self.tasks.labels(action=subject.action, status=event.new).observe(max(seconds, 0.0))


class MetricsServer:
    """``/metrics`` for a worker: prometheus_client's own HTTP server, in a thread of its own."""

    def __init__(self, host: str, port: int) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # as the API: *_created series only double the scrape
        self.registry = CollectorRegistry()
        self.observer = DeploymentMetrics(self.registry)
        self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)  # OSError: port busy
        self.port = int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
