"""DeploymentService: records, leases, the default pipeline, outcomes and rollbacks."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import PlatformStep, ScriptedAction, eventually
from uno.core.errors import ErrorCode
from uno.deployment import DeploymentStatus, bootstrap
from uno.deployment.domain.enums import DeploymentKind
from uno.deployment.engine.actions import ActionRegistry
from uno.deployment.engine.builtin_actions import builtin_actions
from uno.deployment.ports.repositories import DeploymentQuery


@pytest.fixture
def calls() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def failing() -> set[str]:
    return set()


@pytest.fixture
def platform_container(environ, calls, failing, memory_settings) -> bootstrap.Container:
    """A container whose platform steps are test doubles (no driver exists in this build)."""
    registry = ActionRegistry(builtin_actions())
    for kind in ("deploy", "verify", "health_check", "rollback"):
        registry.register(PlatformStep(kind, calls, failing))
    return bootstrap.build(memory_settings, environ=environ, actions=registry)


@pytest.fixture
def blocking_container(
    environ, actions, scripted: ScriptedAction, calls, failing, memory_settings
) -> bootstrap.Container:
    """Platform steps are doubles; ``deploy`` blocks until the test releases it."""
    actions.register(_Blocking(scripted))
    for kind in ("verify", "health_check"):
        actions.register(PlatformStep(kind, calls, failing))
    return bootstrap.build(memory_settings, environ=environ, actions=actions)


async def create(container: bootstrap.Container, version: str = "1.0.0", **options):
    options.setdefault("environment", "dev")
    return (await container.config_service.create_config(app_name="shop", app_version=version, **options)).value


async def test_deploy_without_a_platform_driver_fails_at_the_deploy_step_and_says_so(container: bootstrap.Container):
    config = await create(container, platform="custom")

    record = (await container.deployment_service.deploy(config.id, description="first")).value

    assert record.success is False
    assert record.status is DeploymentStatus.FAILED
    assert record.id != config.id
    assert record.id.value.startswith("dep-")
    assert "no platform driver is installed for 'custom'" in record.message
    pipeline = (await container.pipeline_service.get_pipeline(record.pipeline_id)).value
    tasks = {task.name: task.status.value for _, task in pipeline.tasks()}
    assert tasks == {
        "validate-config": "succeeded",
        "check-dependencies": "succeeded",
        "deploy": "failed",
        "health-check": "skipped",
        "verify-deployment": "skipped",
    }
    assert record.details["left_out"] == ["unit tests are enabled but testing.unit_test_command is not set"]
    assert record.reached_platform is False


async def test_the_default_pipeline_follows_the_config(platform_container: bootstrap.Container, calls):
    config = await create(
        platform_container,
        testing_config={"unit_test_command": ["python", "-c", "pass"]},
        build_command=["python", "-c", "pass"],
        database_config={
            "engine": "sqlite",
            "name": "app.db",
            "apply_migrations": True,
            "migration_command": ["python", "-c", "import os; assert os.environ['DATABASE_URL']"],
        },
    )

    record = (await platform_container.deployment_service.deploy(config.id)).value

    pipeline = (await platform_container.pipeline_service.get_pipeline(record.pipeline_id)).value
    layout = [(stage.name, [task.name for task in stage.tasks]) for stage in pipeline.stages]
    assert layout == [
        ("preparation", ["validate-config", "check-dependencies"]),
        ("testing", ["run-unit-tests"]),
        ("build", ["build"]),
        ("deployment", ["apply-migrations", "deploy"]),
        ("verification", ["health-check", "verify-deployment"]),
    ]
    assert record.success is True, record.message
    assert record.message == "deployed shop 1.0.0 in dev"
    assert calls == [("deploy", "1.0.0"), ("health_check", "1.0.0"), ("verify", "1.0.0")]


async def test_deploy_unknown_config_is_not_found(container: bootstrap.Container):
    result = await container.deployment_service.deploy("config-123")

    assert result.error.code is ErrorCode.NOT_FOUND
    assert (await container.deployment_service.list_deployments()).value == []


async def test_one_deployment_per_app_and_environment_at_a_time(blocking_container, scripted: ScriptedAction):
    container = blocking_container
    config = await create(container)
    other_env = await create(container, environment="test", security_config={"scan_images": False})

    first = asyncio.create_task(container.deployment_service.deploy(config.id))
    await eventually(lambda: "deploy" in scripted.running)
    second = await container.deployment_service.deploy(config.id)
    elsewhere = asyncio.create_task(container.deployment_service.deploy(other_env.id))

    assert second.error.code is ErrorCode.CONFLICT
    assert "another deployment of shop to dev is running" in second.error.message
    await eventually(lambda: scripted.started.count("deploy") == 2)
    scripted.release("deploy")
    assert (await first).value.success is True
    assert (await elsewhere).value.success is True
    third = asyncio.create_task(container.deployment_service.deploy(config.id))
    assert (await third).value.success is True  # the lease was released


async def test_status_reports_progress_and_the_current_step(blocking_container, scripted: ScriptedAction):
    container = blocking_container
    config = await create(container)
    running = asyncio.create_task(container.deployment_service.deploy(config.id))
    await eventually(lambda: "deploy" in scripted.running)
    [record] = (await container.deployment_service.list_deployments(app_name="shop")).value

    status = (await container.deployment_service.get_status(record.id)).value

    assert status.status is DeploymentStatus.RUNNING
    assert (status.current_stage, status.current_task) == ("deployment", "deploy")
    assert status.progress == 0.4  # 2 of 5 tasks done
    scripted.release("deploy")
    await running
    done = (await container.deployment_service.get_status(record.id)).value
    assert (done.status, done.progress, done.current_stage) == (DeploymentStatus.SUCCEEDED, 1.0, None)


async def test_rollback_restores_the_previous_release(platform_container: bootstrap.Container, calls):
    service = platform_container.deployment_service
    config = await create(platform_container)
    first = (await service.deploy(config.id)).value
    await platform_container.config_service.update_config(config.id, app_version="2.0.0")
    second = (await service.deploy(config.id)).value
    calls.clear()

    rollback = (await service.rollback(second.id)).value

    assert rollback.success is True
    assert rollback.kind is DeploymentKind.ROLLBACK
    assert rollback.rollback_of == second.id
    assert rollback.app_version == "1.0.0"
    assert rollback.details["restores"] == first.id.value
    assert calls[0] == ("rollback", "1.0.0")
    assert (await service.get_deployment(second.id)).value.status is DeploymentStatus.ROLLED_BACK
    again = await service.rollback(second.id)
    assert again.error.code is ErrorCode.INVALID_STATE


async def test_a_failed_rollback_leaves_the_deployment_as_it_was(platform_container, failing):
    service = platform_container.deployment_service
    config = await create(platform_container)
    await service.deploy(config.id)
    await platform_container.config_service.update_config(config.id, app_version="2.0.0")
    second = (await service.deploy(config.id)).value
    failing.add("rollback")

    rollback = (await service.rollback(second.id)).value

    assert (rollback.success, rollback.status) == (False, DeploymentStatus.FAILED)
    restored = (await service.get_deployment(second.id)).value
    assert restored.status is DeploymentStatus.SUCCEEDED
    assert restored.message == f"{rollback.message} ({rollback.id.value})"
    assert restored.message.startswith("rollback to shop 1.0.0 in dev failed")


async def test_rollback_needs_an_earlier_successful_release(platform_container: bootstrap.Container):
    config = await create(platform_container)
    only = (await platform_container.deployment_service.deploy(config.id)).value

    result = await platform_container.deployment_service.rollback(only.id)

    assert result.error.code is ErrorCode.INVALID_STATE
    assert "no earlier successful release of shop in dev" in result.error.message


async def test_rollback_of_a_deployment_that_never_reached_the_platform_is_refused(container):
    config = await create(container, platform="kubernetes")
    record = (await container.deployment_service.deploy(config.id)).value

    result = await container.deployment_service.rollback(record.id)

    assert result.error.code is ErrorCode.INVALID_STATE
    assert "nothing to roll back" in result.error.message


async def test_rollback_unknown_is_not_found(container: bootstrap.Container):
    result = await container.deployment_service.rollback("deployment-123")

    assert result.error.code is ErrorCode.NOT_FOUND


async def test_history_is_filtered_and_newest_first(platform_container: bootstrap.Container, failing):
    service = platform_container.deployment_service
    dev, production = await create(platform_container), await create(platform_container, environment="production")
    first = (await service.deploy(dev.id)).value
    failing.add("deploy")
    second = (await service.deploy(dev.id)).value
    third = (await service.deploy(production.id, strict=False)).value

    assert [r.id for r in (await service.list_deployments()).value] == [third.id, second.id, first.id]
    assert [r.id for r in (await service.list_deployments(environment="dev")).value] == [second.id, first.id]
    assert [r.id for r in (await service.list_deployments(status="succeeded")).value] == [first.id]
    assert [r.id for r in (await service.list_deployments(config_id=production.id)).value] == [third.id]
    assert (await service.list_deployments(status="exploded")).error.context["field"] == "status"


async def test_a_config_in_use_by_a_running_deployment_cannot_be_deleted(blocking_container, scripted):
    container = blocking_container
    config = await create(container)
    running = asyncio.create_task(container.deployment_service.deploy(config.id))
    await eventually(lambda: "deploy" in scripted.running)

    refused = await container.config_service.delete_config(config.id)

    assert refused.error.code is ErrorCode.INVALID_STATE
    scripted.release("deploy")
    await running
    assert (await container.config_service.delete_config(config.id)).is_success()


async def test_the_record_keeps_the_config_it_deployed(platform_container: bootstrap.Container):
    config = await create(platform_container)
    record = (await platform_container.deployment_service.deploy(config.id)).value
    await platform_container.config_service.update_config(config.id, app_version="9.9.9")

    stored = (await platform_container.deployment_service.get_deployment(record.id)).value

    assert stored.app_version == "1.0.0"


class _Blocking(ScriptedAction):
    """A ``deploy`` step that waits until the test releases it."""

    kind = "deploy"
    idempotent = True  # applying the same release again is safe, as platform drivers promise

    def __init__(self, shared: ScriptedAction) -> None:
        self._shared = shared

    def check(self, params):
        return None

    async def run(self, context):
        context.task.params.setdefault("outcome", "block")
        return await self._shared.run(context)


async def test_cancel_stops_a_running_deployment_and_it_cannot_be_rolled_back(blocking_container, scripted):
    service = blocking_container.deployment_service
    config = await create(blocking_container)
    running = asyncio.create_task(service.deploy(config.id))
    await eventually(lambda: "deploy" in scripted.running)
    [record] = (await service.list_deployments()).value

    canceled = (await service.cancel(record.id, canceled_by="carol")).value

    assert canceled.status is DeploymentStatus.CANCELED
    assert "canceled by carol" in canceled.message
    assert (await running).value.status is DeploymentStatus.CANCELED
    assert (await service.cancel(record.id)).error.code is ErrorCode.INVALID_STATE
    assert (await service.rollback(record.id)).error.code is ErrorCode.INVALID_STATE


async def test_a_hand_built_pipeline_waits_its_turn_behind_a_deploy(blocking_container, scripted):
    config = await create(blocking_container)
    deploying = asyncio.create_task(blocking_container.deployment_service.deploy(config.id))
    await eventually(lambda: "deploy" in scripted.running)
    pipelines = blocking_container.pipeline_service
    pipeline = (await pipelines.create_pipeline("migrate", deployment_id=config.id)).value
    stage = (await pipelines.add_stage(pipeline.id, "only")).value
    await pipelines.add_task(pipeline.id, stage.id, "pause", action="wait", params={"seconds": 0})

    refused = await pipelines.execute_pipeline(pipeline.id)

    assert refused.error.code is ErrorCode.CONFLICT
    scripted.release("deploy")
    await deploying
    assert (await pipelines.execute_pipeline(pipeline.id)).value.status.value == "succeeded"


async def test_a_failed_verification_rolls_back_automatically(platform_container, calls, failing):
    service = platform_container.deployment_service
    config = await create(platform_container)
    first = (await service.deploy(config.id)).value
    await platform_container.config_service.update_config(config.id, app_version="2.0.0")
    failing.add("verify@2.0.0")
    calls.clear()

    second = (await service.deploy(config.id)).value

    assert second.status is DeploymentStatus.ROLLED_BACK
    assert second.success is False
    rollback = (await service.get_deployment(second.details["automatic_rollback"])).value
    assert second.message == (
        "shop 2.0.0 in dev not deployed: stage 'verification' failed: task 'verify-deployment' failed: "
        f"verify failed for 2.0.0; rolled back automatically to 1.0.0 ({rollback.id.value})"
    )
    assert (rollback.kind, rollback.rollback_of, rollback.details["restores"]) == (
        DeploymentKind.ROLLBACK,
        second.id,
        first.id.value,
    )
    assert ("rollback", "1.0.0") in calls


async def test_no_automatic_rollback_when_the_config_says_so_or_nothing_came_before(platform_container, failing):
    service = platform_container.deployment_service
    config = await create(platform_container, auto_rollback=False)
    failing.add("verify")
    first = (await service.deploy(config.id)).value
    await platform_container.config_service.update_config(config.id, auto_rollback=True)
    second = (await service.deploy(config.id)).value

    assert first.status is DeploymentStatus.FAILED
    assert "rolled back" not in first.message
    assert second.status is DeploymentStatus.FAILED
    assert second.message.endswith(
        "; not rolled back automatically: no earlier successful release of shop in dev "
        f"to roll back to from {second.id.value}"
    )


async def test_a_rollback_can_restore_the_pre_deploy_backup(platform_container, calls, tmp_path):
    import sqlite3

    live = tmp_path / "app.db"
    sqlite3.connect(live).close()
    database = {"engine": "sqlite", "name": str(live), "backup_before_deploy": True}
    service = platform_container.deployment_service
    config = await create(platform_container, database_config=database)
    await service.deploy(config.id)
    await platform_container.config_service.update_config(config.id, app_version="2.0.0")
    second = (await service.deploy(config.id)).value

    rollback = (await service.rollback(second.id, restore_database=True)).value

    assert rollback.success is True, rollback.message
    pipeline = (await platform_container.pipeline_service.get_pipeline(rollback.pipeline_id)).value
    assert [task.name for task in pipeline.stages[0].tasks] == ["restore-database", "rollback"]
    restored = pipeline.task_named("restore-database")
    second_pipeline = (await platform_container.pipeline_service.get_pipeline(second.pipeline_id)).value
    assert restored.params["backup_path"] == second_pipeline.task_named("backup-database").outputs["backup_path"]


async def test_restoring_needs_a_backup_the_deployment_took(platform_container):
    service = platform_container.deployment_service
    config = await create(platform_container)
    await service.deploy(config.id)
    await platform_container.config_service.update_config(config.id, app_version="2.0.0")
    second = (await service.deploy(config.id)).value

    result = await service.rollback(second.id, restore_database=True)

    assert result.error.code is ErrorCode.INVALID_STATE
    assert result.error.message == f"deployment {second.id.value} took no database backup to restore"


async def test_a_deployment_whose_runner_crashed_is_resumed_to_its_end(blocking_container, scripted):
    import contextlib
    import copy

    service = blocking_container.deployment_service
    config = await create(blocking_container)
    running = asyncio.create_task(service.deploy(config.id))
    await eventually(lambda: "deploy" in scripted.running)
    stores = (blocking_container.pipelines, blocking_container.deployments)
    # the store as a crash leaves it (its link to the lease table is not state: keep it)
    crashed = copy.deepcopy([{k: v for k, v in store.__dict__.items() if k != "_holds"} for store in stores])
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    for store, state in zip(stores, crashed, strict=True):
        store.__dict__.update(state)
    blocking_container.leases._leases.clear()  # the dead runner's lease expired
    [record] = await blocking_container.deployments.find(DeploymentQuery())  # as stored: a look would end it
    assert record.status is DeploymentStatus.RUNNING
    scripted.release("deploy")

    resumed = (await service.resume(record.id)).value

    assert resumed.status is DeploymentStatus.SUCCEEDED, resumed.message
    assert (await service.resume(record.id)).error.code is ErrorCode.INVALID_STATE


async def test_a_stopped_deploy_is_recorded_as_canceled(blocking_container, scripted):
    import contextlib

    service = blocking_container.deployment_service
    config = await create(blocking_container)
    running = asyncio.create_task(service.deploy(config.id))
    await eventually(lambda: "deploy" in scripted.running)

    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running

    [record] = (await service.list_deployments()).value
    assert (record.status, record.message) == (DeploymentStatus.CANCELED, "stopped before it finished")
    scripted.release("deploy")
    assert (await service.deploy(config.id)).is_success()  # the lease did not stay behind


async def test_a_local_deploy_without_its_settings_fails_before_touching_anything(container, tmp_path):
    config = await create(container)  # platform local, no command nor port

    record = (await container.deployment_service.deploy(config.id)).value

    assert record.status is DeploymentStatus.FAILED
    assert "custom_settings.command: the local platform needs 'command'" in record.message
    assert record.reached_platform is False
    assert not (tmp_path / "local" / "agent.sock").exists()  # no agent was started for nothing


async def test_deploying_a_configuration_version_that_changed_since_is_a_conflict_that_changes_nothing(
    platform_container: bootstrap.Container,
):
    config = await create(platform_container)
    changed = (await platform_container.config_service.update_config(config.id, app_version="2.0.0")).value
    service = platform_container.deployment_service

    refused = await service.deploy(config.id, config_version=config.version)
    started = await service.start_deploy(config.id, config_version=config.version)
    deployed = (await service.deploy(config.id, config_version=changed.version)).value

    for failure in (refused, started):
        assert failure.error.code is ErrorCode.CONFLICT
        assert failure.error.message == (
            f"configuration {config.id.value} is at version {changed.version}, not {config.version}:"
            " it changed since; deploy again to deploy what it holds now"
        )
        assert failure.error.context["version"] == changed.version
    assert deployed.config.app_version == "2.0.0"
    assert [record.id for record in (await service.list_deployments()).value] == [deployed.id]
