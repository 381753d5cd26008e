"""Deployments whose runner died (kill -9): ended or carried on by the next call, never running forever.

A crash is simulated as the existing resume test does: the stores are copied while the
deploy step runs, the run is stopped, and the copy is put back, so the record and its
pipeline say ``running`` with nobody running them. Whether the dead runner's lease has
expired, or is still unexpired but names a process that is gone, is chosen per test.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from typing import Any

import pytest

from tests.support import PlatformStep, eventually
from uno.core.errors import ErrorCode
from uno.deployment import DeploymentStatus, bootstrap
from uno.deployment.domain.enums import DeploymentKind, PipelineStatus, TaskStatus
from uno.deployment.engine.actions import ActionContext, ActionOutcome, ActionRegistry
from uno.deployment.engine.builtin_actions import builtin_actions
from uno.deployment.ports.repositories import DeploymentQuery
from uno.deployment.services.deployment_service import DeploymentService


class _GatedDeploy:
    """The ``deploy`` step: records the release it deploys; waits for the versions that have a gate."""

    kind = "deploy"
    idempotent = True

    def __init__(self, calls: list[tuple[str, str]]) -> None:
        self.calls = calls
        self.gates: dict[str, asyncio.Event] = {}
        self.running: set[str] = set()

    def check(self, params: dict[str, Any]) -> str | None:
        return None

    async def run(self, context: ActionContext) -> ActionOutcome:
        version = context.config.app_version if context.config else "?"
        self.calls.append(("deploy", version))
        self.running.add(version)
        try:
            if version in self.gates:
                await self.gates[version].wait()
        finally:
            self.running.discard(version)
        return ActionOutcome.ok(f"deploy {version}")


@pytest.fixture
def calls() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def gated(calls) -> _GatedDeploy:
    return _GatedDeploy(calls)


@pytest.fixture
def built(environ, calls, gated, memory_settings) -> bootstrap.Container:
    registry = ActionRegistry(builtin_actions())
    registry.register(gated)
    for kind in ("verify", "health_check", "rollback"):
        registry.register(PlatformStep(kind, calls, set()))
    return bootstrap.build(memory_settings, environ=environ, actions=registry)


async def _config(container: bootstrap.Container, version: str, **options: Any):
    configs = container.config_service
    found = (await configs.list_configs("shop", "dev")).value
    if found:
        return (await configs.update_config(found[0].id, app_version=version, **options)).value
    created = await configs.create_config(app_name="shop", app_version=version, environment="dev", **options)
    return created.value


async def _deploy(container: bootstrap.Container, version: str, **options: Any):
    config = await _config(container, version, **options)
    record = (await container.deployment_service.deploy(config.id)).value
    assert record.status is DeploymentStatus.SUCCEEDED, record.message
    return record


async def _crash_mid_deploy(
    container: bootstrap.Container, gated: _GatedDeploy, version: str, *, lease: str = "expired", **options: Any
):
    """Deploy ``version`` and leave it as a kill -9 of its runner during the deploy step would."""
    config = await _config(container, version, **options)
    gated.gates[version] = asyncio.Event()
    running = asyncio.create_task(container.deployment_service.deploy(config.id))
    await eventually(lambda: version in gated.running)
    stores = (container.pipelines, container.deployments)
    crashed = copy.deepcopy([{k: v for k, v in store.__dict__.items() if k != "_holds"} for store in stores])
    held = dict(container.leases._leases)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    for store, state in zip(stores, crashed, strict=True):
        store.__dict__.update(state)
    gated.gates.pop(version).set()
    if lease == "expired":
        container.leases._leases.clear()
    else:  # still unexpired: the dead runner held it a moment ago
        container.leases._leases.update(held)
    [orphan] = [r for r in await container.deployments.find(DeploymentQuery()) if r.app_version == version]
    assert orphan.status is DeploymentStatus.RUNNING
    return orphan


def _pretend_runner_died(container: bootstrap.Container, orphan) -> None:
    """The orphan's runner names a process that no longer exists (its pid now started at another time)."""
    document = container.deployments._store._documents[orphan.id.value]
    document["details"]["runner"]["started"] = -1


async def test_a_status_check_ends_an_orphan_whose_lease_expired_and_rolls_it_back(built, gated, calls):
    await _deploy(built, "1.0.0", auto_rollback=True)
    orphan = await _crash_mid_deploy(built, gated, "2.0.0")

    status = (await built.deployment_service.get_status(orphan.id)).value

    assert status.status is DeploymentStatus.ROLLED_BACK
    record = (await built.deployment_service.get_deployment(orphan.id)).value
    assert record.message.startswith("its runner (pid ")
    assert "stopped before it finished; ended by a status check; rolled back automatically to 1.0.0" in record.message
    assert record.details["orphaned"]["reason"].startswith("its runner")
    assert calls[-3:] == [("rollback", "1.0.0"), ("health_check", "1.0.0"), ("verify", "1.0.0")]
    pipeline = (await built.pipeline_service.get_pipeline(orphan.pipeline_id)).value
    assert pipeline.status is PipelineStatus.FAILED
    assert pipeline.task_named("deploy").status is TaskStatus.FAILED
    assert not [r for r in (await built.deployment_service.list_deployments()).value if r.status.is_active]


async def test_without_auto_rollback_the_orphan_is_ended_and_nothing_is_redeployed(built, gated, calls):
    await _deploy(built, "1.0.0", auto_rollback=False)
    orphan = await _crash_mid_deploy(built, gated, "2.0.0")
    before = list(calls)

    status = (await built.deployment_service.get_status(orphan.id)).value

    assert status.status is DeploymentStatus.FAILED
    assert "rolled back" not in status.message
    assert calls == before


async def test_an_unexpired_lease_of_a_dead_runner_does_not_make_anyone_wait(built, gated):
    await _deploy(built, "1.0.0", auto_rollback=False)
    orphan = await _crash_mid_deploy(built, gated, "2.0.0", lease="held")
    _pretend_runner_died(built, orphan)

    status = (await built.deployment_service.get_status(orphan.id)).value

    assert status.status is DeploymentStatus.FAILED


async def test_a_new_deploy_supersedes_the_orphan_at_once_and_serves_its_release(built, gated, calls):
    await _deploy(built, "1.0.0", auto_rollback=True)
    orphan = await _crash_mid_deploy(built, gated, "2.0.0", lease="held")
    _pretend_runner_died(built, orphan)

    third = await _deploy(built, "3.0.0")

    ended = (await built.deployment_service.get_deployment(orphan.id)).value
    assert ended.status is DeploymentStatus.CANCELED
    assert ended.message == f"superseded by {third.id.value} (deploy of 3.0.0); its runner had stopped"
    assert calls[-3:] == [("deploy", "3.0.0"), ("health_check", "3.0.0"), ("verify", "3.0.0")]
    assert ("rollback", "1.0.0") not in calls  # superseded, not rolled back: the new release is what serves
    pipeline = (await built.pipeline_service.get_pipeline(orphan.pipeline_id)).value
    assert pipeline.status is PipelineStatus.CANCELED


async def test_a_live_runner_s_deployment_is_not_taken_from_it(built, gated):
    await _deploy(built, "1.0.0")
    orphan = await _crash_mid_deploy(built, gated, "2.0.0", lease="held")

    refused = await built.deployment_service.deploy((await _config(built, "3.0.0")).id)

    assert refused.error.code is ErrorCode.CONFLICT
    assert (await built.deployment_service.get_status(orphan.id)).value.status is DeploymentStatus.RUNNING
    assert (await built.deployment_service.cancel(orphan.id)).error.code is ErrorCode.INVALID_STATE
    assert (await built.deployment_service.get_deployment(orphan.id)).value.status is DeploymentStatus.RUNNING


async def test_cancel_ends_an_orphan_and_undoes_its_rollout_as_a_live_cancel_would(built, gated, calls):
    await _deploy(built, "1.0.0", auto_rollback=False)
    orphan = await _crash_mid_deploy(built, gated, "2.0.0")

    canceled = (await built.deployment_service.cancel(orphan.id, canceled_by="carol")).value

    assert canceled.status is DeploymentStatus.ROLLED_BACK
    assert canceled.message.startswith("canceled by carol; its runner had stopped; rolled back automatically to 1.0.0")
    assert calls[-3:] == [("rollback", "1.0.0"), ("health_check", "1.0.0"), ("verify", "1.0.0")]
    pipeline = (await built.pipeline_service.get_pipeline(orphan.pipeline_id)).value
    assert pipeline.status is PipelineStatus.CANCELED


async def test_cancel_ends_a_first_deploy_s_orphan_and_removes_what_it_started(built, gated):
    orphan = await _crash_mid_deploy(built, gated, "2.0.0")

    canceled = (await built.deployment_service.cancel(orphan.id, canceled_by="carol")).value

    assert canceled.status is DeploymentStatus.CANCELED
    assert canceled.message == (
        "canceled by carol; its runner had stopped; nothing served before it: removed nothing (none was running)"
    )


async def test_rolling_back_an_orphan_ends_it_then_restores_the_release_before(built, gated, calls):
    await _deploy(built, "1.0.0")
    orphan = await _crash_mid_deploy(built, gated, "2.0.0")

    rollback = (await built.deployment_service.rollback(orphan.id)).value

    assert rollback.success is True, rollback.message
    assert (await built.deployment_service.get_deployment(orphan.id)).value.status is DeploymentStatus.ROLLED_BACK
    assert calls.count(("rollback", "1.0.0")) == 1


async def test_resume_refuses_a_deployment_a_newer_one_superseded_and_never_redeploys_it(built, gated, calls):
    await _deploy(built, "1.0.0")
    orphan = await _crash_mid_deploy(built, gated, "2.0.0")
    # 3.0.0 deployed by a process that did not end the orphan (a worker of queue execution)
    worker = _worker_service(built)
    third = (await worker.deploy((await _config(built, "3.0.0")).id)).value
    assert third.success is True
    assert (await built.deployments.get(orphan.id)).status is DeploymentStatus.RUNNING
    deploys_before = calls.count(("deploy", "2.0.0"))

    resumed = await built.deployment_service.resume(orphan.id)

    assert resumed.error.code is ErrorCode.CONFLICT
    assert resumed.error.context["superseded_by"] == third.id.value
    assert calls.count(("deploy", "2.0.0")) == deploys_before  # 2.0.0 never went back live
    ended = (await built.deployment_service.get_deployment(orphan.id)).value
    assert ended.status is DeploymentStatus.CANCELED
    assert ended.message.startswith(f"superseded by {third.id.value}")


async def test_a_worker_never_carries_on_a_superseded_deployment(built, gated, calls):
    await _deploy(built, "1.0.0")
    orphan = await _crash_mid_deploy(built, gated, "2.0.0")
    worker = _worker_service(built)
    await worker.deploy((await _config(built, "3.0.0")).id)

    carried = (await worker.execute(orphan.id)).value

    assert carried.status is DeploymentStatus.CANCELED
    assert calls.count(("deploy", "2.0.0")) == 1
    history = (await built.deployment_service.list_deployments()).value
    assert (history[0].app_version, history[0].kind, history[0].status) == (
        "3.0.0",
        DeploymentKind.DEPLOY,
        DeploymentStatus.SUCCEEDED,
    )


def _worker_service(container: bootstrap.Container) -> DeploymentService:
    """A DeploymentService over the same stores in queue execution (it never ends orphans itself)."""
    from uno.deployment.services.leasing import LeaseKeeper

    return DeploymentService(
        container.configs,
        container.deployments,
        container.pipelines,
        container.runner,
        LeaseKeeper(container.leases, container.clock),
        container.clock,
        queue=_UnusedQueue(),
        worker_name="w1",
    )


class _UnusedQueue:
    async def enqueue(self, deployment_id: str, lock: str):
        raise AssertionError("nothing is queued in these tests")

    async def withdraw(self, job_id: str) -> bool:
        raise AssertionError("nothing is queued in these tests")


async def test_library_callers_get_the_same_text_checks_as_http(built):
    service = built.deployment_service

    refused_filter = await service.list_deployments(app_name="shop\x00")
    refused_by = await service.cancel("dep-01m98sh8asx18v0wmvzthgz9gn", canceled_by="carol\ud800")

    assert refused_filter.error.code is ErrorCode.VALIDATION_ERROR
    assert refused_filter.error.context["field"] == "app_name"
    assert refused_by.error.code is ErrorCode.VALIDATION_ERROR
    assert refused_by.error.context["field"] == "canceled_by"
