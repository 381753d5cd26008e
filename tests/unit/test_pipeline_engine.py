"""The pipeline engine as a user drives it through PipelineService."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from typing import Any

import pytest
import structlog.testing

from tests.support import ScriptedAction, eventually
from uno.core.errors import ErrorCode
from uno.deployment import bootstrap
from uno.deployment.domain.enums import PipelineStatus, StageStatus, TaskStatus
from uno.deployment.domain.pipelines import Pipeline, Task
from uno.deployment.settings import Settings


class Builder:
    """Creates a config, a pipeline, stages and tasks; each step must succeed."""

    def __init__(self, container: bootstrap.Container) -> None:
        self.service = container.pipeline_service
        self.container = container
        self.pipeline: Pipeline | None = None
        self.stage_ids: dict[str, Any] = {}
        self.task_ids: dict[str, Any] = {}

    async def start(self) -> Builder:
        config = await self.container.config_service.create_config(
            app_name="shop", app_version="1.0.0", environment="dev"
        )
        self.pipeline = (await self.service.create_pipeline("p", deployment_id=config.value.id)).value
        return self

    async def stage(self, name: str, *, fail_fast: bool = True) -> None:
        assert self.pipeline is not None
        result = await self.service.add_stage(self.pipeline.id, name, fail_fast=fail_fast)
        self.stage_ids[name] = result.value.id

    async def task(self, stage: str, name: str, *after: str, **options: Any) -> Task:
        assert self.pipeline is not None
        options.setdefault("action", "scripted")
        result = await self.service.add_task(
            self.pipeline.id,
            self.stage_ids[stage],
            name,
            dependencies=[self.task_ids[dependency] for dependency in after],
            **options,
        )
        assert result.is_success(), result
        self.task_ids[name] = result.value.id
        return result.value

    async def run(self) -> Pipeline:
        assert self.pipeline is not None
        result = await self.service.execute_pipeline(self.pipeline.id)
        assert result.is_success(), result
        return result.value


def statuses(pipeline: Pipeline) -> dict[str, str]:
    return {task.name: task.status.value for _, task in pipeline.tasks()}


@pytest.fixture
async def builder(container: bootstrap.Container) -> Builder:
    return await Builder(container).start()


async def test_stages_run_in_order_and_tasks_after_their_dependencies(builder: Builder, scripted: ScriptedAction):
    await builder.stage("first")
    await builder.task("first", "a")
    await builder.task("first", "b", "a")
    await builder.stage("second")
    await builder.task("second", "c", "b")
    await builder.task("second", "d")

    pipeline = await builder.run()

    assert pipeline.status is PipelineStatus.SUCCEEDED
    assert scripted.started.index("a") < scripted.started.index("b") < scripted.started.index("c")
    assert scripted.started.index("b") < scripted.started.index("d")  # stage order
    assert all(stage.status is StageStatus.SUCCEEDED for stage in pipeline.stages)


async def test_independent_tasks_run_concurrently_within_the_limit(environ, actions, scripted: ScriptedAction):
    settings = Settings(database_url="memory://", max_parallel_tasks=3)
    container = bootstrap.build(settings, environ=environ, actions=actions)
    builder = await Builder(container).start()
    await builder.stage("wide")
    for index in range(6):
        await builder.task("wide", f"t{index}", params={"outcome": "block"})

    running = asyncio.create_task(builder.run())
    await eventually(lambda: len(scripted.running) == 3)
    for index in range(6):
        scripted.release(f"t{index}")
    pipeline = await running

    assert pipeline.status is PipelineStatus.SUCCEEDED
    assert scripted.peak == 3


async def test_a_failed_task_skips_its_dependents_transitively_with_the_reason(builder: Builder):
    await builder.stage("only", fail_fast=False)
    await builder.task("only", "broken", params={"outcome": "fail"})
    await builder.task("only", "child", "broken")
    await builder.task("only", "grandchild", "child")
    await builder.task("only", "independent")

    pipeline = await builder.run()

    assert statuses(pipeline) == {
        "broken": "failed",
        "child": "skipped",
        "grandchild": "skipped",
        "independent": "succeeded",
    }
    assert pipeline.task_named("child").message == "dependency 'broken' failed"
    assert pipeline.task_named("grandchild").message == "dependency 'child' skipped"
    assert pipeline.status is PipelineStatus.FAILED


async def test_fail_fast_cancels_running_siblings_and_starts_no_more(builder: Builder, scripted: ScriptedAction):
    await builder.stage("fast", fail_fast=True)
    await builder.task("fast", "slow", params={"outcome": "hang"})
    await builder.task("fast", "broken", params={"outcome": "fail"})
    await builder.task("fast", "after", "broken")

    pipeline = await builder.run()

    assert statuses(pipeline) == {"slow": "canceled", "broken": "failed", "after": "skipped"}
    assert "fail-fast" in pipeline.task_named("slow").message
    assert pipeline.stages[0].status is StageStatus.FAILED


async def test_without_fail_fast_independent_tasks_finish(builder: Builder):
    await builder.stage("patient", fail_fast=False)
    await builder.task("patient", "broken", params={"outcome": "fail"})
    await builder.task("patient", "other")

    pipeline = await builder.run()

    assert statuses(pipeline) == {"broken": "failed", "other": "succeeded"}
    assert pipeline.status is PipelineStatus.FAILED


async def test_a_failed_stage_skips_later_stages(builder: Builder):
    await builder.stage("first")
    await builder.task("first", "broken", params={"outcome": "fail"})
    await builder.stage("second")
    await builder.task("second", "never")

    pipeline = await builder.run()

    assert pipeline.stages[1].status is StageStatus.SKIPPED
    assert statuses(pipeline)["never"] == "skipped"
    assert pipeline.message == "stage 'first' failed: task 'broken' failed: broken failed on purpose"


async def test_skip_on_failure_continues_past_the_task_but_skips_its_dependents(builder: Builder):
    await builder.stage("lenient")
    await builder.task("lenient", "optional", params={"outcome": "fail"}, skip_on_failure=True)
    await builder.task("lenient", "needs-optional", "optional")
    await builder.task("lenient", "rest")

    pipeline = await builder.run()

    assert statuses(pipeline) == {"optional": "failed", "needs-optional": "skipped", "rest": "succeeded"}
    assert pipeline.status is PipelineStatus.SUCCEEDED


async def test_a_task_that_overruns_its_timeout_is_failed(builder: Builder):
    await builder.stage("only")
    await builder.task("only", "stuck", params={"outcome": "hang"}, timeout=0.05)

    pipeline = await builder.run()

    stuck = pipeline.task_named("stuck")
    assert stuck.status is TaskStatus.FAILED
    assert stuck.message == "timed out after 0.05s"


async def test_retries_run_again_until_success(builder: Builder, scripted: ScriptedAction, monkeypatch):
    from uno.deployment.engine import running

    monkeypatch.setattr(running, "RETRY_BACKOFF", 0.001)
    await builder.stage("only")
    await builder.task("only", "flaky", params={"fail_times": 2}, retries=2)

    pipeline = await builder.run()

    flaky = pipeline.task_named("flaky")
    assert flaky.status is TaskStatus.SUCCEEDED
    assert flaky.attempts == 3
    events = (await builder.service.get_events(pipeline.id)).value
    retries = [event.message for event in events if event.old == event.new == "running"]
    assert retries == [
        "attempt 2 of 3 after: flaky failed on purpose",
        "attempt 3 of 3 after: flaky failed on purpose",
    ]


async def test_retries_exhausted_fail_the_task(builder: Builder, scripted: ScriptedAction, monkeypatch):
    from uno.deployment.engine import running

    monkeypatch.setattr(running, "RETRY_BACKOFF", 0.001)
    await builder.stage("only")
    await builder.task("only", "hopeless", params={"outcome": "fail"}, retries=1)

    pipeline = await builder.run()

    assert pipeline.task_named("hopeless").attempts == 2
    assert pipeline.status is PipelineStatus.FAILED


async def test_an_action_that_raises_fails_its_task_not_the_engine(builder: Builder):
    await builder.stage("only")
    await builder.task("only", "buggy", params={"outcome": "raise"})

    pipeline = await builder.run()

    assert pipeline.task_named("buggy").message == "action raised RuntimeError: buggy has a bug"
    assert pipeline.status is PipelineStatus.FAILED


async def test_cancel_stops_a_running_pipeline_promptly_and_records_who(builder: Builder, scripted: ScriptedAction):
    await builder.stage("first")
    await builder.task("first", "forever", params={"outcome": "hang"}, timeout=3600)
    await builder.stage("second")
    await builder.task("second", "never")
    running = asyncio.create_task(builder.run())
    await eventually(lambda: "forever" in scripted.running)

    canceled = await builder.service.cancel_pipeline(builder.pipeline.id, canceled_by="alice")

    assert canceled.value.status is PipelineStatus.CANCELED
    assert canceled.value.canceled_by == "alice"
    assert statuses(canceled.value) == {"forever": "canceled", "never": "canceled"}
    assert (await running).status is PipelineStatus.CANCELED


async def test_cancel_a_pending_pipeline_means_it_never_runs(builder: Builder):
    await builder.stage("only")
    await builder.task("only", "a")

    canceled = await builder.service.cancel_pipeline(builder.pipeline.id, canceled_by="bob")
    again = await builder.service.execute_pipeline(builder.pipeline.id)

    assert canceled.value.status is PipelineStatus.CANCELED
    assert again.error.code is ErrorCode.INVALID_STATE


async def test_every_transition_is_saved_and_journaled_in_order(builder: Builder):
    await builder.stage("only")
    await builder.task("only", "a")

    pipeline = await builder.run()
    events = (await builder.service.get_events(pipeline.id)).value
    stored = (await builder.service.get_pipeline(pipeline.id)).value

    assert [(event.subject, event.old, event.new) for event in events] == [
        ("pipeline", "pending", "running"),
        ("stage", "pending", "running"),
        ("task", "pending", "running"),
        ("task", "running", "succeeded"),
        ("stage", "running", "succeeded"),
        ("pipeline", "running", "succeeded"),
    ]
    assert stored.status is PipelineStatus.SUCCEEDED
    assert stored.task_named("a").outputs == {"task": "a"}
    assert stored.version == pipeline.version


async def test_state_is_saved_before_the_next_transition(builder: Builder, scripted: ScriptedAction):
    await builder.stage("only")
    await builder.task("only", "held", params={"outcome": "block"})
    running = asyncio.create_task(builder.run())
    await eventually(lambda: "held" in scripted.running)

    stored = (await builder.service.get_pipeline(builder.pipeline.id)).value

    assert stored.status is PipelineStatus.RUNNING
    assert stored.task_named("held").status is TaskStatus.RUNNING
    scripted.release("held")
    await running


async def crash_mid_run(builder: Builder, scripted: ScriptedAction, *, idempotent: bool) -> None:
    """Run until 'held' is running, then lose the runner as a crash would (the store keeps its state)."""
    await builder.stage("first")
    await builder.task("first", "done-before")
    await builder.task("first", "held", "done-before", params={"outcome": "block"})
    await builder.task("first", "after", "held")
    await builder.stage("second")
    await builder.task("second", "later")
    scripted.idempotent = idempotent
    running = asyncio.create_task(builder.run())
    await eventually(lambda: "held" in scripted.running)
    store = builder.container.pipelines
    crashed = copy.deepcopy((store._documents, store._states, store._events))  # the store as the crash left it
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    store._documents, store._states, store._events = crashed
    builder.container.leases._leases.clear()  # the dead runner's lease has expired


async def test_resume_keeps_finished_work_and_reruns_an_idempotent_interrupted_task(builder, scripted):
    await crash_mid_run(builder, scripted, idempotent=True)
    stored = (await builder.service.get_pipeline(builder.pipeline.id)).value
    assert stored.status is PipelineStatus.RUNNING
    assert stored.task_named("held").status is TaskStatus.RUNNING
    scripted.release("held")
    scripted.started.clear()

    resumed = (await builder.service.resume_pipeline(builder.pipeline.id)).value

    assert resumed.status is PipelineStatus.SUCCEEDED
    assert scripted.started == ["held", "after", "later"]  # done-before was not run again
    assert resumed.task_named("held").attempts == 2
    events = (await builder.service.get_events(builder.pipeline.id)).value
    assert any(event.message == "interrupted; running it again" for event in events)


async def test_resume_fails_an_interrupted_task_that_is_not_idempotent(builder, scripted):
    await crash_mid_run(builder, scripted, idempotent=False)

    resumed = (await builder.service.resume_pipeline(builder.pipeline.id)).value

    assert statuses(resumed) == {"done-before": "succeeded", "held": "failed", "after": "skipped", "later": "skipped"}
    assert scripted.started.count("later") == 0  # the fail-fast stage started nothing after the resume
    assert "not idempotent" in resumed.task_named("held").message
    assert resumed.status is PipelineStatus.FAILED


async def test_a_pipeline_that_is_not_orphaned_cannot_be_resumed(builder: Builder):
    await builder.stage("only")
    await builder.task("only", "a")

    pending = await builder.service.resume_pipeline(builder.pipeline.id)
    await builder.run()
    finished = await builder.service.resume_pipeline(builder.pipeline.id)

    assert pending.error.code is ErrorCode.INVALID_STATE
    assert finished.error.code is ErrorCode.INVALID_STATE


async def test_a_stopped_runner_ends_the_pipeline_as_canceled_not_stuck(builder: Builder, scripted: ScriptedAction):
    await builder.stage("only")
    await builder.task("only", "held", params={"outcome": "block"})
    await builder.task("only", "next", "held")
    running = asyncio.create_task(builder.run())
    await eventually(lambda: "held" in scripted.running)

    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running

    stored = (await builder.service.get_pipeline(builder.pipeline.id)).value
    assert stored.status is PipelineStatus.CANCELED
    assert statuses(stored) == {"held": "canceled", "next": "skipped"}
    assert stored.message == "the runner was stopped before the pipeline finished"


async def test_a_running_task_reports_its_progress_to_readers_of_the_store(builder: Builder, scripted: ScriptedAction):
    await builder.stage("only")
    await builder.task("only", "held", params={"outcome": "block", "report": "waiting for a person"})
    with structlog.testing.capture_logs() as logs:
        running = asyncio.create_task(builder.run())
        await eventually(lambda: "held" in scripted.running)

        stored = (await builder.service.get_pipeline(builder.pipeline.id)).value
        events = (await builder.service.get_events(builder.pipeline.id)).value
        scripted.release("held")
        finished = await running

    task = stored.task_named("held")
    assert (task.status, task.message, task.outputs) == (
        TaskStatus.RUNNING,
        "waiting for a person",
        {"reported": "waiting for a person"},
    )
    assert (events[-1].old, events[-1].new, events[-1].message) == ("running", "running", "waiting for a person")
    assert finished.task_named("held").message == "held done"
    assert finished.task_named("held").attempts == 1  # a progress note is not a retry
    progress = [entry for entry in logs if entry["event"] == "task.progress"]
    assert [(entry["task"], entry["reason"]) for entry in progress] == [("held", "waiting for a person")]
