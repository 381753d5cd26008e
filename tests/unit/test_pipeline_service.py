"""Building pipelines: every mistake is refused when it is made, with a precise error."""

from __future__ import annotations

import pytest

from uno.core.errors import ErrorCode
from uno.deployment import bootstrap
from uno.deployment.domain.enums import PipelineStatus
from uno.deployment.domain.ids import DeploymentId, PipelineId, StageId, TaskId


@pytest.fixture
async def config_id(container: bootstrap.Container) -> DeploymentId:
    created = await container.config_service.create_config(app_name="shop", app_version="1.0.0", environment="dev")
    return created.value.id


@pytest.fixture
async def pipeline_and_stage(container: bootstrap.Container, config_id: DeploymentId) -> tuple[PipelineId, StageId]:
    service = container.pipeline_service
    pipeline = (await service.create_pipeline("p", deployment_id=config_id)).value
    stage = (await service.add_stage(pipeline.id, "build")).value
    return pipeline.id, stage.id


async def test_create_pipeline_for_an_unknown_config_or_deployment_is_not_found(container: bootstrap.Container):
    result = await container.pipeline_service.create_pipeline("p", deployment_id=DeploymentId("config-404"))

    assert result.error.code is ErrorCode.NOT_FOUND
    assert "config-404" in result.error.message


async def test_create_pipeline_needs_a_name(container: bootstrap.Container, config_id: DeploymentId):
    result = await container.pipeline_service.create_pipeline("  ", deployment_id=config_id)

    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.context["field"] == "name"


async def test_stage_names_are_unique(container: bootstrap.Container, pipeline_and_stage):
    pipeline_id, _ = pipeline_and_stage

    result = await container.pipeline_service.add_stage(pipeline_id, "build")

    assert result.error.code is ErrorCode.VALIDATION_ERROR


async def test_add_stage_to_an_unknown_pipeline_is_not_found(container: bootstrap.Container):
    result = await container.pipeline_service.add_stage(PipelineId("pipe-404"), "x")

    assert result.error.code is ErrorCode.NOT_FOUND


async def test_tasks_added_by_a_builtin_name_resolve_to_its_action(container: bootstrap.Container, pipeline_and_stage):
    pipeline_id, stage_id = pipeline_and_stage

    task = (await container.pipeline_service.add_task(pipeline_id, stage_id, "run-unit-tests")).value

    assert (task.action, task.params) == ("run_tests", {"suite": "unit"})


@pytest.mark.parametrize(
    ("options", "field", "fragment"),
    [
        ({}, "action", "names no built-in action"),
        ({"action": "teleport"}, "action", "unknown action 'teleport'"),
        ({"action": "command"}, "params", "argv"),
        ({"action": "command", "params": {"argv": "rm -rf /"}}, "params", "list of strings"),
        ({"action": "command", "params": {"argv": ["true"], "shell": True}}, "params", "unknown parameter"),
        ({"action": "wait", "params": {"seconds": -1}}, "params", "seconds"),
        ({"action": "command", "params": ["true"]}, "params", "mapping"),
        ({"action": "command", "params": {"argv": ["true"]}, "timeout": 0}, "timeout", "above 0"),
        ({"action": "command", "params": {"argv": ["true"]}, "timeout": float("nan")}, "timeout", "above 0"),
        ({"action": "command", "params": {"argv": ["true"]}, "retries": -1}, "retries", "0 to 20"),
        (
            {"action": "command", "params": {"argv": ["true"]}, "dependencies": [TaskId("task-404")]},
            "dependencies",
            "not a task of this pipeline",
        ),
    ],
)
async def test_bad_tasks_are_refused_when_added(
    container: bootstrap.Container, pipeline_and_stage, options, field, fragment
):
    pipeline_id, stage_id = pipeline_and_stage

    result = await container.pipeline_service.add_task(pipeline_id, stage_id, "my-task", **options)

    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.context["field"] == field
    assert fragment in result.error.message
    stored = (await container.pipeline_service.get_pipeline(pipeline_id)).value
    assert stored.task_named("my-task") is None  # nothing half-written


async def test_a_task_cannot_depend_on_a_later_stage(container: bootstrap.Container, pipeline_and_stage):
    pipeline_id, first = pipeline_and_stage
    service = container.pipeline_service
    later = (await service.add_stage(pipeline_id, "later")).value
    late_task = (await service.add_task(pipeline_id, later.id, "late", action="wait", params={"seconds": 0})).value

    result = await service.add_task(
        pipeline_id, first, "early", action="wait", params={"seconds": 0}, dependencies=[late_task.id]
    )

    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert "later stage" in result.error.message


async def test_task_names_are_unique_in_a_pipeline(container: bootstrap.Container, pipeline_and_stage):
    pipeline_id, stage_id = pipeline_and_stage
    service = container.pipeline_service
    await service.add_task(pipeline_id, stage_id, "build")

    result = await service.add_task(pipeline_id, stage_id, "build")

    assert result.error.code is ErrorCode.VALIDATION_ERROR


async def test_add_task_to_an_unknown_stage_is_not_found(container: bootstrap.Container, pipeline_and_stage):
    pipeline_id, _ = pipeline_and_stage

    result = await container.pipeline_service.add_task(pipeline_id, StageId("stg-404"), "build")

    assert result.error.code is ErrorCode.NOT_FOUND


async def test_a_pipeline_without_tasks_cannot_execute(container: bootstrap.Container, pipeline_and_stage):
    pipeline_id, _ = pipeline_and_stage

    result = await container.pipeline_service.execute_pipeline(pipeline_id)

    assert result.error.code is ErrorCode.VALIDATION_ERROR


async def test_a_finished_pipeline_cannot_be_changed_run_again_or_canceled(container, pipeline_and_stage):
    pipeline_id, stage_id = pipeline_and_stage
    service = container.pipeline_service
    await service.add_task(pipeline_id, stage_id, "pause", action="wait", params={"seconds": 0})
    assert (await service.execute_pipeline(pipeline_id)).value.status is PipelineStatus.SUCCEEDED

    for result in (
        await service.execute_pipeline(pipeline_id),
        await service.add_stage(pipeline_id, "more"),
        await service.add_task(pipeline_id, stage_id, "more", action="wait", params={"seconds": 0}),
        await service.cancel_pipeline(pipeline_id),
    ):
        assert result.error.code is ErrorCode.INVALID_STATE


async def test_ids_may_be_given_as_strings(container: bootstrap.Container, pipeline_and_stage):
    pipeline_id, stage_id = pipeline_and_stage

    task = await container.pipeline_service.add_task(
        pipeline_id.value, stage_id.value, "pause", action="wait", params={"seconds": 0}
    )

    assert task.is_success()


async def test_malformed_ids_are_validation_errors(container: bootstrap.Container):
    result = await container.pipeline_service.get_pipeline("not an id")

    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.context["field"] == "pipeline_id"


async def test_pipelines_are_listed_per_owner(container: bootstrap.Container, config_id: DeploymentId):
    service = container.pipeline_service
    first = (await service.create_pipeline("one", deployment_id=config_id)).value
    second = (await service.create_pipeline("two", deployment_id=config_id)).value

    listed = (await service.list_pipelines(deployment_id=config_id)).value

    assert [pipeline.id for pipeline in listed] == [second.id, first.id]


async def test_task_params_a_library_caller_gives_are_checked_like_a_request_body(container, pipeline_and_stage):
    pipelines = container.pipeline_service
    pipeline_id, stage_id = pipeline_and_stage
    deep: dict = {}
    level = deep
    for _ in range(40):
        level["x"] = {}
        level = level["x"]

    too_deep = await pipelines.add_task(pipeline_id, stage_id, "t", action="wait", params={"seconds": 0, "n": deep})
    with_nul = await pipelines.add_task(pipeline_id, stage_id, "u", action="wait", params={"seconds": 0, "n": "a\x00"})

    assert too_deep.error.code is ErrorCode.VALIDATION_ERROR
    assert too_deep.error.context["field"].startswith("params.n")
    assert with_nul.error.code is ErrorCode.VALIDATION_ERROR
    assert with_nul.error.context["field"] == "params.n"
