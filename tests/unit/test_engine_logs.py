"""Structured logs: one line per transition, with the ids, at the configuration's level."""

from __future__ import annotations

import pytest
import structlog.testing

from uno.deployment import bootstrap
from uno.deployment.settings import Settings


async def run_pipeline(container: bootstrap.Container, log_level: str, outcome: str = "ok") -> object:
    config = await container.config_service.create_config(
        app_name="shop",
        app_version="1.0.0",
        environment="dev",
        monitoring_config={"log_level": log_level},
        environment_variables={"GREETING": "hello"},
    )
    service = container.pipeline_service
    pipeline = (await service.create_pipeline("p", deployment_id=config.value.id)).value
    stage = (await service.add_stage(pipeline.id, "build")).value
    await service.add_task(pipeline.id, stage.id, "compile", action="scripted", params={"outcome": outcome})
    return (await service.execute_pipeline(pipeline.id)).value


async def test_every_transition_is_logged_with_its_ids(container: bootstrap.Container):
    with structlog.testing.capture_logs() as logs:
        pipeline = await run_pipeline(container, "DEBUG")

    assert [entry["event"] for entry in logs] == [
        "pipeline.running",
        "stage.running",
        "task.running",
        "task.succeeded",
        "stage.succeeded",
        "pipeline.succeeded",
    ]
    task_done = logs[3]
    assert task_done["pipeline_id"] == pipeline.id.value
    assert (task_done["stage"], task_done["task"], task_done["app"], task_done["environment"]) == (
        "build",
        "compile",
        "shop",
        "dev",
    )
    assert task_done["task_id"] == pipeline.task_named("compile").id.value
    assert task_done["stage_id"] == pipeline.stages[0].id.value
    assert "duration" in task_done


@pytest.mark.parametrize(
    ("level", "expected"), [("WARNING", ["task.failed", "stage.failed", "pipeline.failed"]), ("ERROR", [])]
)
async def test_the_configuration_log_level_filters(container: bootstrap.Container, level, expected):
    with structlog.testing.capture_logs() as logs:
        await run_pipeline(container, level, outcome="fail")

    assert [entry["event"] for entry in logs] == expected


async def test_the_settings_floor_wins_over_a_chattier_configuration(environ, actions):
    container = bootstrap.build(Settings(database_url="memory://", log_level="ERROR"), environ=environ, actions=actions)

    with structlog.testing.capture_logs() as logs:
        await run_pipeline(container, "DEBUG", outcome="fail")

    assert logs == []


async def test_an_application_with_logging_off_logs_nothing(container: bootstrap.Container):
    config = await container.config_service.create_config(
        app_name="quiet", app_version="1.0.0", environment="dev", monitoring_config={"enable_logging": False}
    )
    service = container.pipeline_service
    pipeline = (await service.create_pipeline("p", deployment_id=config.value.id)).value
    stage = (await service.add_stage(pipeline.id, "only")).value
    await service.add_task(pipeline.id, stage.id, "t", action="scripted", params={"outcome": "fail"})

    with structlog.testing.capture_logs() as logs:
        await service.execute_pipeline(pipeline.id)

    assert logs == []
