"""Who may define and run free-form tasks, through the service (the HTTP API passes its caller)."""

from __future__ import annotations

from typing import Any

import pytest

from uno.core.errors import ErrorCode
from uno.deployment import bootstrap
from uno.deployment.domain.enums import PipelineStatus
from uno.deployment.domain.ids import PipelineId, StageId, TaskId
from uno.deployment.domain.pipelines import Task
from uno.deployment.engine.actions import ActionContext, ActionOutcome, is_free_form
from uno.deployment.engine.builtin_actions import builtin_actions
from uno.deployment.services.authority import Caller

DEPLOYER = Caller("ci (tok-ci)", admin=False)
ADMIN = Caller("ops (tok-ops)", admin=True)


@pytest.fixture
async def ids(container: bootstrap.Container) -> tuple[PipelineId, StageId]:
    config = await container.config_service.create_config(app_name="shop", app_version="1.0.0", environment="dev")
    pipeline = (await container.pipeline_service.create_pipeline("p", deployment_id=config.value.id)).value
    stage = (await container.pipeline_service.add_stage(pipeline.id, "s")).value
    return pipeline.id, stage.id


def test_exactly_the_actions_whose_params_choose_what_runs_are_free_form():
    free = sorted(action.kind for action in builtin_actions() if is_free_form(action))

    assert free == ["command", "db_restore", "http_check"]


async def test_a_deploy_caller_cannot_define_a_command_and_the_library_can(container: bootstrap.Container, ids):
    service = container.pipeline_service
    argv = {"argv": ["true"]}

    refused = await service.add_task(*ids, "c", action="command", params=argv, caller=DEPLOYER)
    trusted = await service.add_task(*ids, "c", action="command", params=argv)

    assert refused.error.code is ErrorCode.FORBIDDEN
    assert refused.error.context == {"needed": "admin", "action": "command"}
    assert trusted.value.authorized_by == "library"


async def test_a_deploy_caller_defines_and_runs_what_is_not_free_form(container: bootstrap.Container, ids):
    service = container.pipeline_service

    added = await service.add_task(*ids, "w", action="wait", params={"seconds": 0}, caller=DEPLOYER)
    ran = await service.execute_pipeline(ids[0], caller=DEPLOYER)

    assert added.value.authorized_by == ""
    assert ran.value.status is PipelineStatus.SUCCEEDED


async def plant(container: bootstrap.Container, ids: tuple[PipelineId, StageId], action: str, **params: Any) -> None:
    """A task written to the store directly: no admin defined it."""
    pipeline = (await container.pipeline_service.get_pipeline(ids[0])).value
    pipeline.stages[0].tasks.append(Task(TaskId.new(), "planted", action, params=params))
    assert (await container.pipelines.save(pipeline)).is_success()


@pytest.mark.parametrize("method", ["execute_pipeline", "start_pipeline"])
async def test_a_deploy_caller_cannot_run_a_free_form_task_no_admin_defined(
    container: bootstrap.Container, ids, method: str
):
    await plant(container, ids, "command", argv=["true"])

    refused = await getattr(container.pipeline_service, method)(ids[0], caller=DEPLOYER)

    assert refused.error.code is ErrorCode.FORBIDDEN
    assert refused.error.context["task"] == "planted"
    assert (await container.pipeline_service.get_pipeline(ids[0])).value.status is PipelineStatus.PENDING


async def test_resuming_a_pipeline_holding_a_task_no_admin_defined_needs_an_admin(container: bootstrap.Container, ids):
    await plant(container, ids, "command", argv=["true"])
    pipeline = (await container.pipeline_service.get_pipeline(ids[0])).value
    pipeline.status = PipelineStatus.RUNNING  # its runner died
    await container.pipelines.save(pipeline)

    refused = await container.pipeline_service.resume_pipeline(ids[0], caller=DEPLOYER)
    resumed = await container.pipeline_service.resume_pipeline(ids[0], caller=ADMIN)

    assert refused.error.code is ErrorCode.FORBIDDEN
    assert resumed.value.status is PipelineStatus.SUCCEEDED


class Plugin:
    kind = "plugin"

    def check(self, params: dict[str, Any]) -> str | None:
        return None

    async def run(self, context: ActionContext) -> ActionOutcome:
        return ActionOutcome.ok("ran")


class DeclaredPlugin(Plugin):
    kind = "declared"
    free_form = False


async def test_a_plugin_is_free_form_unless_it_declares_otherwise(container: bootstrap.Container, ids):
    container.actions.register(Plugin())
    container.actions.register(DeclaredPlugin())

    undeclared = await container.pipeline_service.add_task(*ids, "a", action="plugin", caller=DEPLOYER)
    declared = await container.pipeline_service.add_task(*ids, "b", action="declared", caller=DEPLOYER)

    assert undeclared.error.code is ErrorCode.FORBIDDEN
    assert declared.is_success()
