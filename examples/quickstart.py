"""Quickstart: configure an application, run a real pipeline for it, then try to deploy it.

Run it with ``bash scripts/main`` (or ``.venv/bin/python examples/quickstart.py``). It uses
the embedded defaults: the SQLite store in your data directory, created on first use
(``UNO_DEPLOY_DATABASE_URL=memory://`` keeps nothing; any other URL picks another store).

What happens, for real:
1. a dev configuration for the bundled ``hello`` app is created (profile defaults fill
   the rest) and a production configuration is derived from it;
2. a pipeline runs the app's configured checks: validate the configuration, run its unit
   tests (``python -m unittest``), build it (``python -m compileall``), each a real process;
3. ``deploy`` runs the default pipeline. This build has no platform driver yet, so it
   stops at the deploy step and says so; nothing pretends to be deployed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import inject

import uno.deployment
from uno.deployment import DeploymentConfigService, DeploymentService, PipelineService

HELLO = Path(__file__).resolve().parent / "hello"


async def main() -> int:
    container = uno.deployment.configure(uno.deployment.Settings(log_level="WARNING"))  # the run's lines: warnings up
    try:
        return await run()
    finally:
        await container.aclose()  # the store's connections


async def run() -> int:
    configs = inject.instance(DeploymentConfigService)
    pipelines = inject.instance(PipelineService)
    deployments = inject.instance(DeploymentService)

    created = await configs.create_config(
        app_name="hello",
        app_version="1.0.0",
        environment="dev",
        testing_config={"unit_test_command": [sys.executable, "-m", "unittest", "discover", "-s", str(HELLO)]},
        build_command=[sys.executable, "-m", "compileall", "-q", str(HELLO)],
        network_config={"port": 8080, "health_check_path": "/health"},
    )
    if created.is_failure():
        print(f"error: {created.error.message}")
        return 2
    config = created.value
    print(
        f"config {config.id.value}: {config.app_name} {config.app_version} in {config.environment.value}, "
        f"strategy {config.strategy.value}, {config.resources.replicas_min} replica(s)"
    )
    production = (await configs.derive_config(config.id, "production")).value
    print(
        f"derived {production.id.value} for production: strategy {production.strategy.value}, "
        f"{production.resources.replicas_min}-{production.resources.replicas_max} replicas, "
        f"tests: {', '.join(production.testing.enabled_suites())}"
    )

    pipeline = (await pipelines.create_pipeline("hello-checks", deployment_id=config.id)).value
    for stage_name, task_name in (
        ("preparation", "validate-config"),
        ("testing", "run-unit-tests"),
        ("build", "build"),
    ):
        stage = (await pipelines.add_stage(pipeline.id, stage_name)).value
        await pipelines.add_task(pipeline.id, stage.id, task_name, timeout=120)
    executed = (await pipelines.execute_pipeline(pipeline.id)).value
    print(f"\npipeline {executed.name}: {executed.status.value}")
    for stage, task in executed.tasks():
        print(f"  {stage.name:<12} {task.name:<16} {task.status.value:<10} {task.message}")

    deployed = await deployments.deploy(config.id, description="quickstart")
    record = deployed.value
    print(f"\ndeployment {record.id.value}: {record.status.value}")
    print(f"  {record.message}")
    return 0 if executed.status.value == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
