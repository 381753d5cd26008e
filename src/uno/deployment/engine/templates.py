"""The default deployment pipeline, built from a configuration.

The spec's five stages, each filled from what the configuration asks for: preparation
(validate-config, check-dependencies), testing (one task per enabled suite that has a
command), build (when a build command is set), deployment (backup, migrations, deploy)
and verification (health-check, verify-deployment); with ``security.scan_images``, a
security stage (scan-images) before the deployment, left out when no scanner can be
chosen (the platform has no default and ``security.scan_command`` is not set). A step the configuration does not
configure is left out and listed in ``left_out``, never faked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from uno.core.result import Failure
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.enums import DeploymentStrategy
from uno.deployment.domain.ids import DeploymentId, PipelineId, StageId, TaskId
from uno.deployment.domain.pipelines import Pipeline, Stage, Task
from uno.deployment.engine import scanning
from uno.deployment.engine.actions import NAMED_TASKS
from uno.deployment.ports.platforms import PlatformDrivers
from uno.deployment.strategies.tuning import tuning_for

# Timeouts (seconds) for the built-in steps; a configuration's test_timeout wins for tests.
STEP_TIMEOUTS = {
    "build": 1800.0,
    "scan-images": 1800.0,
    "backup-database": 3600.0,
    "apply-migrations": 3600.0,
    "deploy": 1800.0,
}
DEFAULT_STEP_TIMEOUT = 300.0


@dataclass
class DefaultPipeline:
    pipeline: Pipeline
    left_out: list[str] = field(default_factory=list)


class _Builder:
    def __init__(self) -> None:
        self.stages: list[Stage] = []

    def stage(self, name: str, description: str) -> Stage:
        stage = Stage(StageId.new(), name, description, fail_fast=True)
        self.stages.append(stage)
        return stage

    def task(self, stage: Stage, name: str, description: str, *after: Task, timeout: float | None = None) -> Task:
        kind, params = NAMED_TASKS[name]
        task = Task(
            TaskId.new(),
            name,
            kind,
            description,
            dict(params),
            [dependency.id for dependency in after],
            timeout=timeout or STEP_TIMEOUTS.get(name, DEFAULT_STEP_TIMEOUT),
        )
        stage.tasks.append(task)
        return task


def deploy_budget(config: DeploymentConfig) -> float:
    """Time for the deploy step: every health wait, canary analysis and pause a strategy may make, and then some.

    A pause that outlived its step would leave the canary half-way, cut off by the timeout
    instead of ended by its ``on_pause_timeout`` rule.
    """
    tuning = tuning_for(config)
    if isinstance(tuning, Failure):
        return STEP_TIMEOUTS["deploy"]  # the step fails at once, naming the bad setting
    canary = tuning.value.canary
    rounds = max(len(canary.steps), config.resources.replicas_min) + 2
    waits = tuning.value.health_deadline_seconds + canary.analysis_seconds + tuning.value.drain_seconds
    pausing = config.strategy is DeploymentStrategy.CANARY
    pauses = len(canary.pause_after) * canary.pause_timeout_seconds if pausing else 0.0
    return max(STEP_TIMEOUTS["deploy"], rounds * waits + pauses + 300)


def default_pipeline(
    config: DeploymentConfig, deployment_id: DeploymentId, now: datetime, drivers: PlatformDrivers | None = None
) -> DefaultPipeline:
    """The pipeline deploying ``config``; ``drivers`` name the scanner in the scan task's description."""
    build = _Builder()
    left_out: list[str] = []
    preparation = build.stage("preparation", "Validate configuration and check dependencies")
    validated = build.task(preparation, "validate-config", "Validate the deployment configuration")
    build.task(preparation, "check-dependencies", "Check secrets and programs this deploy needs", validated)

    testing = Stage(StageId.new(), "testing", "Run the enabled test suites")
    for suite in config.testing.enabled_suites():
        if config.testing.command_for(suite):
            build.task(testing, f"run-{suite}-tests", f"Run the {suite} tests", timeout=config.testing.test_timeout)
        else:
            left_out.append(f"{suite} tests are enabled but testing.{suite}_test_command is not set")
    if testing.tasks:
        build.stages.append(testing)

    if config.build_command:
        build.task(build.stage("build", "Build application artifacts"), "build", "Run the build command")

    if config.security.scan_images:
        scanner = scanning.scanner_for(config, drivers) if drivers is not None else None
        if isinstance(scanner, Failure):
            left_out.append(scanner.error.message)
        else:
            described = f": {' '.join(scanner.value.argv)}" if scanner is not None else ""
            security = build.stage("security", "Scan for known vulnerabilities before deploying")
            build.task(security, "scan-images", f"Scan for known vulnerabilities{described}")

    deployment = build.stage("deployment", f"Deploy with the {config.strategy.value} strategy")
    previous: list[Task] = []
    if config.database is not None and config.database.backup_before_deploy:
        previous = [build.task(deployment, "backup-database", "Back up the database before deploying")]
    if config.database is not None and config.database.apply_migrations:
        previous = [build.task(deployment, "apply-migrations", "Apply database migrations", *previous)]
    build.task(deployment, "deploy", f"Deploy to {config.platform.value}", *previous, timeout=deploy_budget(config))

    verification = build.stage("verification", "Verify the deployment and run health checks")
    healthy = build.task(verification, "health-check", "Check the application's health endpoint")
    build.task(verification, "verify-deployment", "Verify the deployed release", healthy)

    pipeline = Pipeline(
        id=PipelineId.new(),
        name=f"{config.app_name}-{config.environment.value}-deploy",
        description=f"Deploy {config.app_name} {config.app_version} to {config.environment.value}",
        deployment_id=deployment_id,
        config_id=config.id,
        stages=build.stages,
        created_at=now,
    )
    return DefaultPipeline(pipeline, left_out)
