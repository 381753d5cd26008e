"""Quickstart: configure the bundled ``hello`` app, check it, deploy it locally, upgrade it
with blue-green, roll it back, and stop everything.

Run it with ``bash scripts/main`` (or ``.venv/bin/python examples/quickstart.py``). It uses
the embedded defaults: the SQLite store and the local platform's agent in your data
directory (``UNO_DEPLOY_DATABASE_URL`` and ``UNO_DEPLOY_LOCAL_DIR`` move them).

Everything is real: the checks are processes, the app runs as two replicas behind the
local router on a free port of 127.0.0.1, the upgrade switches traffic only once the new
replicas pass their health checks, and the rollback switches back to the still-warm v1.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import urllib.request
from pathlib import Path
from typing import Any

import inject

import uno.deployment
from uno.deployment import DeploymentConfigService, DeploymentService, PipelineService, bootstrap

HELLO = Path(__file__).resolve().parent / "hello"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def deployment_file(port: int) -> dict[str, Any]:
    """``hello/deployment.json``, with this interpreter, absolute paths and a free port."""
    values: dict[str, Any] = json.loads((HELLO / "deployment.json").read_text())
    root = HELLO.parent.parent

    def localize(argv: list[str]) -> list[str]:
        python = [sys.executable] if argv[0] == "python" else [argv[0]]
        return python + [str(root / arg) if arg.startswith("examples/") else arg for arg in argv[1:]]

    values["testing_config"]["unit_test_command"] = localize(values["testing_config"]["unit_test_command"])
    values["build_command"] = localize(values["build_command"])
    values["custom_settings"] = {
        **values["custom_settings"],
        "command": localize(values["custom_settings"]["command"]),
        "port": port,
    }
    return values


def ask(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        return str(json.load(response)["version"])


async def main() -> int:
    settings = uno.deployment.Settings(log_level="WARNING")  # the runs' own log lines: warnings and up
    container = uno.deployment.configure(settings)
    try:
        return await run()
    finally:
        await bootstrap.stop_local_platform(settings)  # the agent, its replicas and routers
        await container.aclose()


async def run() -> int:
    configs = inject.instance(DeploymentConfigService)
    pipelines = inject.instance(PipelineService)
    deployments = inject.instance(DeploymentService)
    port = free_port()

    created = await configs.create_config(**deployment_file(port))
    if created.is_failure() and created.error.code is uno.deployment.ErrorCode.CONFLICT:
        # hello has its dev configuration from an earlier run: this run's file replaces it (a new version)
        created = await configs.replace_config(created.error.context["existing_id"], deployment_file(port))
    if created.is_failure():
        print(f"error: {created.error.message}")
        return 2
    config = created.value
    print(
        f"config {config.id.value}: {config.app_name} {config.app_version} in {config.environment.value}, "
        f"strategy {config.strategy.value}, {config.resources.replicas_min} replicas"
    )
    derived = await configs.derive_config(config.id, "production")
    if derived.is_failure() and derived.error.code is uno.deployment.ErrorCode.CONFLICT:  # from an earlier run
        await configs.delete_config(derived.error.context["existing_id"])
        derived = await configs.derive_config(config.id, "production")
    production = derived.value
    print(
        f"derived {production.id.value} for production: strategy {production.strategy.value}, "
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

    first = (await deployments.deploy(config.id, description="first release")).value
    print(f"\ndeploy 1.0.0: {first.status.value}: {first.message}")
    if not first.success:
        return 1
    print(f"  http://127.0.0.1:{port}/ answers version {ask(port)}")

    await configs.update_config(config.id, app_version="2.0.0")
    second = (await deployments.deploy(config.id, description="upgrade")).value
    print(f"deploy 2.0.0: {second.status.value}: {second.message}")
    print(f"  http://127.0.0.1:{port}/ answers version {ask(port)}")

    rollback = (await deployments.rollback(second.id)).value
    print(f"rollback: {rollback.status.value}: {rollback.message}")
    answer = ask(port)
    print(f"  http://127.0.0.1:{port}/ answers version {answer}")
    return 0 if executed.status.value == "succeeded" and second.success and answer == "1.0.0" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
