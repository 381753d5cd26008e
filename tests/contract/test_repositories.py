"""The repository contract: every storage backend must pass these tests unchanged.

Backends are listed in ``BACKENDS``; each builds fresh, empty repositories: memory, SQLite
(a file of the test's own) and PostgreSQL (the session's database, emptied for the test).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from uno.core.errors import ErrorCode
from uno.deployment.adapters.clocks import SystemClock
from uno.deployment.adapters.repositories import memory
from uno.deployment.adapters.repositories.sql import stores
from uno.deployment.domain import configuring
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import DeploymentKind, DeploymentStatus, PipelineStatus, StageStatus, TaskStatus
from uno.deployment.domain.ids import DeploymentId, PipelineId, StageId, TaskId, new_config_id, new_deployment_id
from uno.deployment.domain.pipelines import Pipeline, PipelineEvent, Stage, Task, Transition
from uno.deployment.ports.repositories import ConfigQuery, DeploymentQuery, PipelineQuery

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def _nothing() -> None:
    return None


@dataclass
class Repositories:
    configs: Any
    pipelines: Any
    deployments: Any
    decisions: Any
    close: Callable[[], Awaitable[None]] = field(default=_nothing)


def _sql(url_fixture: str) -> Callable[[pytest.FixtureRequest], Repositories]:
    def build(request: pytest.FixtureRequest) -> Repositories:
        store = stores.open_store(request.getfixturevalue(url_fixture), SystemClock())
        return Repositories(store.configs, store.pipelines, store.deployments, store.decisions, store.aclose)

    return build


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Repositories]] = {
    "memory": lambda _: Repositories(
        memory.MemoryConfigRepository(),
        memory.MemoryPipelineRepository(),
        memory.MemoryDeploymentResultRepository(),
        memory.MemoryDecisionRepository(),
    ),
    "sqlite": _sql("sqlite_url"),
    "postgresql": _sql("postgres_url"),
}


@pytest.fixture(params=sorted(BACKENDS))
async def repos(request: pytest.FixtureRequest) -> AsyncIterator[Repositories]:
    made = BACKENDS[request.param](request)
    yield made
    await made.close()


def a_config(app: str = "shop", environment: str = "dev", minutes: int = 0) -> DeploymentConfig:
    given = {"app_name": app, "app_version": "1.0.0", "environment": environment}
    return configuring.build(new_config_id(), given, T0 + timedelta(minutes=minutes)).value


def a_pipeline(owner: DeploymentId, minutes: int = 0) -> Pipeline:
    task = Task(TaskId.new(), "t", "wait", params={"seconds": 0})
    stage = Stage(StageId.new(), "s", tasks=[task])
    return Pipeline(PipelineId.new(), "p", owner, T0 + timedelta(minutes=minutes), stages=[stage])


def a_record(config: DeploymentConfig, minutes: int = 0, **fields: Any) -> DeploymentResult:
    return DeploymentResult(new_deployment_id(), config.id, config, T0 + timedelta(minutes=minutes), **fields)


async def test_config_add_get_and_duplicate(repos: Repositories):
    config = a_config()

    assert (await repos.configs.add(config)).value == config
    assert await repos.configs.get(config.id) == config
    assert (await repos.configs.add(config)).error.code is ErrorCode.CONFLICT
    assert await repos.configs.get(DeploymentId("cfg-missing")) is None


async def test_a_second_config_of_an_app_and_environment_is_a_conflict_naming_the_first(repos: Repositories):
    first = a_config()
    assert (await repos.configs.add(first)).is_success()

    second = await repos.configs.add(a_config(minutes=1))
    other_environment = await repos.configs.add(a_config(environment="test", minutes=3))

    assert second.error.code is ErrorCode.CONFLICT
    assert second.error.context["existing_id"] == first.id.value
    assert other_environment.is_success()
    assert [config.id for config in await repos.configs.find(ConfigQuery(app_name="shop"))] == [
        other_environment.value.id,
        first.id,
    ]
    assert (await repos.configs.delete(first.id)) is True
    assert (await repos.configs.add(a_config(minutes=2))).is_success()  # the pair is free again


async def test_config_save_is_optimistic(repos: Repositories):
    config = a_config()
    await repos.configs.add(config)
    changed = configuring.update(config, {"app_version": "2.0.0"}, T0).value

    saved = (await repos.configs.save(changed)).value
    stale = await repos.configs.save(configuring.update(config, {"app_version": "3.0.0"}, T0).value)

    assert saved.version == config.version + 1
    assert stale.error.code is ErrorCode.CONFLICT
    assert (await repos.configs.get(config.id)).app_version == "2.0.0"


async def test_config_save_of_an_unknown_id_is_not_found(repos: Repositories):
    assert (await repos.configs.save(a_config())).error.code is ErrorCode.NOT_FOUND


async def test_config_delete(repos: Repositories):
    config = a_config()
    await repos.configs.add(config)

    assert await repos.configs.delete(config.id) is True
    assert await repos.configs.delete(config.id) is False
    assert await repos.configs.get(config.id) is None


async def test_config_find_filters_newest_first_and_pages(repos: Repositories):
    old = a_config("shop", "dev", minutes=1)
    new = a_config("shop", "production", minutes=2)
    other = a_config("blog", "dev", minutes=3)
    for config in (old, new, other):
        await repos.configs.add(config)

    async def ids(**query: Any) -> list[DeploymentId]:
        return [config.id for config in await repos.configs.find(ConfigQuery(**query))]

    assert await ids() == [other.id, new.id, old.id]
    assert await ids(app_name="shop") == [new.id, old.id]
    assert await ids(environment=old.environment) == [other.id, old.id]
    assert await ids(app_name="shop", environment=old.environment) == [old.id]
    assert await ids(limit=2) == [other.id, new.id]
    assert await ids(limit=2, offset=2) == [old.id]


async def test_pipeline_get_returns_a_copy(repos: Repositories):
    pipeline = a_pipeline(DeploymentId("cfg-x"))
    await repos.pipelines.add(pipeline)

    loaded = await repos.pipelines.get(pipeline.id)
    loaded.stages[0].tasks[0].status = TaskStatus.RUNNING

    assert (await repos.pipelines.get(pipeline.id)).stages[0].tasks[0].status is TaskStatus.PENDING
    assert (await repos.pipelines.add(pipeline)).error.code is ErrorCode.CONFLICT


async def test_pipeline_save_round_trips_and_is_optimistic(repos: Repositories):
    pipeline = a_pipeline(DeploymentId("cfg-x"))
    await repos.pipelines.add(pipeline)
    first, second = await repos.pipelines.get(pipeline.id), await repos.pipelines.get(pipeline.id)

    first.move(PipelineStatus.RUNNING, T0)
    first.stages[0].tasks[0].outputs = {"stdout_tail": "héllo\n", "returncode": 0}
    assert (await repos.pipelines.save(first)).is_success()
    second.move(PipelineStatus.CANCELED, T0)
    conflict = await repos.pipelines.save(second)

    stored = await repos.pipelines.get(pipeline.id)
    assert conflict.error.code is ErrorCode.CONFLICT
    assert stored.status is PipelineStatus.RUNNING
    assert stored.stages[0].tasks[0].outputs == {"stdout_tail": "héllo\n", "returncode": 0}
    assert stored.to_document() == first.to_document()


async def test_pipeline_find_by_owner(repos: Repositories):
    owner = DeploymentId("cfg-a")
    mine = [a_pipeline(owner, minutes=1), a_pipeline(owner, minutes=2)]
    for pipeline in [*mine, a_pipeline(DeploymentId("cfg-b"))]:
        await repos.pipelines.add(pipeline)

    found = await repos.pipelines.find(PipelineQuery(deployment_id=owner))

    assert [pipeline.id for pipeline in found] == [mine[1].id, mine[0].id]


async def test_pipeline_find_by_status(repos: Repositories):
    waiting, started = a_pipeline(DeploymentId("cfg-a")), a_pipeline(DeploymentId("cfg-a"))
    for pipeline in (waiting, started):
        await repos.pipelines.add(pipeline)
    await run_first_task(repos, started)

    running = await repos.pipelines.find(PipelineQuery(status=PipelineStatus.RUNNING))

    assert [pipeline.id for pipeline in running] == [started.id]


async def run_first_task(repos: Repositories, pipeline: Pipeline) -> list[Transition]:
    """Record a pipeline starting and its only task succeeding, in two calls."""
    stage, task = pipeline.stages[0], pipeline.stages[0].tasks[0]
    started = [
        Transition.of(pipeline.move(PipelineStatus.RUNNING, T0), pipeline),
        Transition.of(stage.move(pipeline.id, StageStatus.RUNNING, T0), stage),
        Transition.of(task.move(pipeline.id, TaskStatus.RUNNING, T0), task),
    ]
    task.outputs = {"stdout_tail": "done\n"}
    finished = [Transition.of(task.move(pipeline.id, TaskStatus.SUCCEEDED, T0 + timedelta(seconds=2), "ok"), task)]
    assert (await repos.pipelines.record(pipeline.id, started)).is_success()
    assert (await repos.pipelines.record(pipeline.id, finished)).is_success()
    return started + finished


async def test_recorded_transitions_update_state_and_the_journal_in_order(repos: Repositories):
    pipeline = a_pipeline(DeploymentId("cfg-x"))
    await repos.pipelines.add(pipeline)

    transitions = await run_first_task(repos, pipeline)

    stored = await repos.pipelines.get(pipeline.id)
    assert stored.to_document() == pipeline.to_document() | {"version": stored.version}
    assert stored.stages[0].tasks[0].outputs == {"stdout_tail": "done\n"}
    assert stored.stages[0].tasks[0].duration == 2.0
    events = [transition.event for transition in transitions]
    assert await repos.pipelines.events(pipeline.id) == events
    assert await repos.pipelines.events(pipeline.id, after=3) == events[3:]
    assert await repos.pipelines.events(PipelineId.new()) == []


async def test_a_recorded_pipeline_transition_makes_an_older_copy_stale(repos: Repositories):
    pipeline = a_pipeline(DeploymentId("cfg-x"))
    await repos.pipelines.add(pipeline)
    older = await repos.pipelines.get(pipeline.id)

    await run_first_task(repos, pipeline)

    assert (await repos.pipelines.save(older)).error.code is ErrorCode.CONFLICT
    assert (await repos.pipelines.get(pipeline.id)).status is PipelineStatus.RUNNING


async def test_nothing_is_recorded_for_an_ended_or_unknown_pipeline(repos: Repositories):
    pipeline = a_pipeline(DeploymentId("cfg-x"))
    await repos.pipelines.add(pipeline)
    await run_first_task(repos, pipeline)
    stage = pipeline.stages[0]
    ended = [
        Transition.of(stage.move(pipeline.id, StageStatus.SUCCEEDED, T0), stage),
        Transition.of(pipeline.move(PipelineStatus.SUCCEEDED, T0), pipeline),
    ]
    assert (await repos.pipelines.record(pipeline.id, ended)).is_success()
    late = PipelineEvent(T0, pipeline.id, "pipeline", pipeline.id.value, "succeeded", "failed")

    refused = await repos.pipelines.record(pipeline.id, [Transition(late, {"status": "failed"})])
    unknown = await repos.pipelines.record(PipelineId.new(), [Transition(late, {"status": "failed"})])

    assert refused.error.code is ErrorCode.INVALID_STATE
    assert unknown.error.code is ErrorCode.NOT_FOUND
    assert (await repos.pipelines.get(pipeline.id)).status is PipelineStatus.SUCCEEDED
    assert len(await repos.pipelines.events(pipeline.id)) == 6


async def test_deployment_save_is_optimistic_and_keeps_the_snapshot(repos: Repositories):
    record = a_record(a_config())
    await repos.deployments.add(record)
    first, second = await repos.deployments.get(record.id), await repos.deployments.get(record.id)

    first.move(DeploymentStatus.RUNNING, T0)
    assert (await repos.deployments.save(first)).value.version == 2
    second.move(DeploymentStatus.CANCELED, T0)

    assert (await repos.deployments.save(second)).error.code is ErrorCode.CONFLICT
    stored = await repos.deployments.get(record.id)
    assert stored.status is DeploymentStatus.RUNNING
    assert stored.config == record.config


async def test_deployment_find_filters_and_orders(repos: Repositories):
    dev, production = a_config("shop", "dev"), a_config("shop", "production")
    ok = a_record(dev, minutes=1, status=DeploymentStatus.SUCCEEDED)
    bad = a_record(dev, minutes=2, status=DeploymentStatus.FAILED)
    back = a_record(dev, minutes=3, kind=DeploymentKind.ROLLBACK, status=DeploymentStatus.SUCCEEDED)
    prod = a_record(production, minutes=4, status=DeploymentStatus.SUCCEEDED)
    for record in (ok, bad, back, prod):
        await repos.deployments.add(record)

    async def ids(**query: Any) -> list[DeploymentId]:
        return [record.id for record in await repos.deployments.find(DeploymentQuery(**query))]

    assert await ids() == [prod.id, back.id, bad.id, ok.id]
    assert await ids(environment=dev.environment) == [back.id, bad.id, ok.id]
    assert await ids(status=DeploymentStatus.SUCCEEDED, kind=DeploymentKind.DEPLOY) == [prod.id, ok.id]
    assert await ids(config_id=production.id) == [prod.id]
    assert await ids(created_before=T0 + timedelta(minutes=2)) == [ok.id]
    assert await ids(created_after=T0 + timedelta(minutes=3)) == [prod.id, back.id]
    assert await ids(app_name="blog") == []
    assert await ids(limit=1, offset=1) == [back.id]


async def test_a_fetched_config_is_a_copy(repos: Repositories):
    config = configuring.build(
        new_config_id(), {"app_name": "shop", "app_version": "1.0.0", "environment": "dev", "custom_settings": {}}, T0
    ).value
    await repos.configs.add(config)

    fetched = await repos.configs.get(config.id)
    fetched.custom_settings["sneaky"] = True
    fetched.secrets.append("SNEAKY")

    stored = await repos.configs.get(config.id)
    assert stored.custom_settings == {}
    assert stored.secrets == []


async def test_a_gate_is_decided_once(repos: Repositories):
    from uno.deployment.ports.approvals import Decision

    pipeline_id, task_id = PipelineId.new(), TaskId.new()
    approve = Decision(pipeline_id, task_id, approved=True, by="alice", at=T0, comment="ship it")
    reject = Decision(pipeline_id, task_id, approved=False, by="bob", at=T0)

    assert await repos.decisions.get(pipeline_id, task_id) is None
    assert (await repos.decisions.decide(approve)).value == approve
    assert (await repos.decisions.decide(reject)).error.code is ErrorCode.CONFLICT
    assert await repos.decisions.get(pipeline_id, task_id) == approve
    assert await repos.decisions.get(pipeline_id, TaskId.new()) is None


async def test_a_canary_step_is_decided_once_and_reads_back_as_decided(repos: Repositories):
    from uno.deployment.strategies.canary_control import CanaryControl, CanaryDecision, Move

    pipeline_id, task_id = PipelineId.new(), TaskId.new()
    control = CanaryControl(repos.decisions, pipeline_id, task_id, attempt=1)
    full = CanaryDecision(Move.PROMOTE_FULL, "alice", T0)
    abort = CanaryDecision(Move.ABORT, "bob", T0, reason="errors: on the dashboard")
    automatic = CanaryDecision(Move.PROMOTE, "uno-deploy", T0, "analysis passed", automatic=True)

    assert (await control.decide(25, full)).value == full
    late = await control.decide(25, abort)
    assert (await control.decide(50, abort)).value == abort
    assert await control.settle(10, automatic) == automatic
    assert await control.settle(50, automatic) == abort  # a person decided first: theirs stands

    assert late.error.code is ErrorCode.CONFLICT
    assert late.error.message == "the canary's step at 25% was already promoted to 100% by alice"
    assert [await control.decision(step) for step in (10, 25, 50, 100)] == [automatic, full, abort, None]
    retried = CanaryControl(repos.decisions, pipeline_id, task_id, attempt=2)
    assert await retried.decision(25) is None  # a retried deploy starts a canary of its own
