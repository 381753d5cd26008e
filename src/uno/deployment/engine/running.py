"""Running a pipeline: stages in order, ready tasks concurrently, every change recorded.

Rules (each is tested):
- a stage starts every task whose dependencies succeeded, at most ``max_parallel`` at once;
- a task whose dependency failed, was skipped or canceled is skipped, with the reason;
- a task failure fails its stage unless the task has ``skip_on_failure``; with
  ``fail_fast`` the stage then cancels its running tasks and starts no more;
- a failed or canceled stage skips the stages after it and decides the pipeline's status;
- every task has a timeout that cancels it (a command's process group is killed), and
  retries with exponential backoff on the engine's clock;
- every transition is saved, with its event appended to the journal, before the next.
"""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.enums import PipelineStatus, StageStatus, TaskStatus
from uno.deployment.domain.ids import PipelineId
from uno.deployment.domain.pipelines import Pipeline, PipelineEvent, Stage, Task
from uno.deployment.engine.actions import ActionContext, ActionOutcome, ActionRegistry
from uno.deployment.ports.clock import Clock
from uno.deployment.ports.commands import CommandRunner
from uno.deployment.ports.repositories import PipelineRepository

RETRY_BACKOFF = 1.0
RETRY_BACKOFF_MAX = 60.0


class _LostPipeline(Exception):
    """The stored pipeline changed under a running pipeline: stop writing at once."""

    def __init__(self, error: ErrorDetails) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class _Run:
    pipeline: Pipeline
    config: DeploymentConfig | None
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    canceled_by: str | None = None
    writing: asyncio.Lock = field(default_factory=asyncio.Lock)


class PipelineRunner:
    def __init__(
        self,
        pipelines: PipelineRepository,
        actions: ActionRegistry,
        clock: Clock,
        commands: CommandRunner,
        environ: Mapping[str, str],
        *,
        max_parallel: int = 8,
    ) -> None:
        self._pipelines = pipelines
        self._actions = actions
        self._clock = clock
        self._commands = commands
        self._environ = environ
        self._max_parallel = max(1, max_parallel)
        self._runs: dict[PipelineId, _Run] = {}

    def is_running(self, pipeline_id: PipelineId) -> bool:
        return pipeline_id in self._runs

    def request_cancel(self, pipeline_id: PipelineId, by: str) -> bool:
        """Ask a pipeline running in this process to stop; False if none is running here."""
        run = self._runs.get(pipeline_id)
        if run is None:
            return False
        run.canceled_by = run.canceled_by or by
        run.cancel_requested.set()
        return True

    async def wait(self, pipeline_id: PipelineId) -> None:
        """Return when the pipeline running here (if any) has finished."""
        run = self._runs.get(pipeline_id)
        if run is not None:
            await run.finished.wait()

    async def run(self, pipeline: Pipeline, config: DeploymentConfig | None) -> Result[Pipeline]:
        """Run a pending pipeline to its end; ``Failure`` only if its record was lost."""
        if pipeline.id in self._runs:
            return Failure(ErrorDetails.invalid_state(f"pipeline {pipeline.id.value} is already running"))
        run = _Run(pipeline, config)
        self._runs[pipeline.id] = run
        try:
            await self._record(run, pipeline.move(PipelineStatus.RUNNING, self._clock.now()))
            for stage in pipeline.stages:
                if _halted(pipeline) or run.cancel_requested.is_set():
                    await self._skip_stage(run, stage)
                else:
                    await self._run_stage(run, stage)
            await self._finish(run)
            return Success(pipeline)
        except _LostPipeline as lost:
            return Failure(lost.error)
        finally:
            del self._runs[pipeline.id]
            run.finished.set()

    async def _record(self, run: _Run, *events: PipelineEvent) -> None:
        async with run.writing:
            saved = await self._pipelines.save(run.pipeline)
            if isinstance(saved, Failure):
                raise _LostPipeline(saved.error)
            await self._pipelines.append_events(events)

    async def _finish(self, run: _Run) -> None:
        pipeline, now = run.pipeline, self._clock.now()
        failed = [stage for stage in pipeline.stages if stage.status is StageStatus.FAILED]
        if run.cancel_requested.is_set():
            pipeline.canceled_by = run.canceled_by
            event = pipeline.move(PipelineStatus.CANCELED, now, f"canceled by {run.canceled_by}")
        elif failed:
            event = pipeline.move(PipelineStatus.FAILED, now, f"stage {failed[0].name!r} failed: {failed[0].message}")
        else:
            event = pipeline.move(PipelineStatus.SUCCEEDED, now, "all stages succeeded")
        await self._record(run, event)

    async def _skip_stage(self, run: _Run, stage: Stage) -> None:
        now = self._clock.now()
        if run.cancel_requested.is_set():
            status, reason = StageStatus.CANCELED, f"canceled by {run.canceled_by}"
        else:
            status, reason = StageStatus.SKIPPED, "an earlier stage failed"
        events = [stage.move(run.pipeline.id, status, now, reason)]
        task_status = TaskStatus.CANCELED if status is StageStatus.CANCELED else TaskStatus.SKIPPED
        events += [task.move(run.pipeline.id, task_status, now, reason) for task in stage.tasks]
        await self._record(run, *events)

    async def _run_stage(self, run: _Run, stage: Stage) -> None:
        await self._record(run, stage.move(run.pipeline.id, StageStatus.RUNNING, self._clock.now()))
        waiting = list(stage.tasks)
        active: dict[asyncio.Task[ActionOutcome], Task] = {}
        halt: str | None = None
        canceled = asyncio.ensure_future(run.cancel_requested.wait())
        try:
            while True:
                if run.cancel_requested.is_set():
                    halt = halt or f"canceled by {run.canceled_by}"
                waiting = await self._start_ready(run, stage, waiting, active, halt)
                if not active:
                    break
                done, _ = await asyncio.wait([*active, canceled], return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    if future is not canceled:
                        finished = typing.cast("asyncio.Task[ActionOutcome]", future)
                        failure = await self._settle(run, active.pop(finished), finished.result())
                        if failure and stage.fail_fast and halt is None:
                            halt = f"task {failure!r} failed and the stage is fail-fast"
                if halt:
                    await self._cancel_active(run, active, halt)
        finally:
            canceled.cancel()
            await self._cancel_active(run, active, "the pipeline runner stopped")
        await self._close_stage(run, stage, waiting, halt)

    async def _start_ready(
        self,
        run: _Run,
        stage: Stage,
        waiting: list[Task],
        active: dict[asyncio.Task[ActionOutcome], Task],
        halt: str | None,
    ) -> list[Task]:
        still_waiting = []
        for task in waiting:
            blocker = _blocker(run.pipeline, task)
            if blocker is not None:
                reason = f"dependency {blocker.name!r} {blocker.status.value}"
                await self._record(run, task.move(run.pipeline.id, TaskStatus.SKIPPED, self._clock.now(), reason))
            elif halt is None and len(active) < self._max_parallel and _ready(run.pipeline, task):
                await self._record(run, task.move(run.pipeline.id, TaskStatus.RUNNING, self._clock.now()))
                active[asyncio.create_task(self._attempts(run, stage, task))] = task
            else:
                still_waiting.append(task)
        return still_waiting

    async def _attempts(self, run: _Run, stage: Stage, task: Task) -> ActionOutcome:
        action = self._actions.get(task.action)
        if action is None:
            return ActionOutcome.failed(f"action {task.action!r} is not registered in this process")
        context = ActionContext(run.pipeline, stage, task, run.config, self._clock, self._commands, self._environ)
        outcome = ActionOutcome.failed("never attempted")
        for attempt in range(1, task.retries + 2):
            if attempt > 1:
                await self._clock.sleep(min(RETRY_BACKOFF * 2 ** (attempt - 2), RETRY_BACKOFF_MAX))
                message = f"attempt {attempt} of {task.retries + 1} after: {outcome.message}"
                await self._record(run, task.retry(run.pipeline.id, self._clock.now(), message))
            outcome = await _attempt(action.run(context), task.timeout)
            if outcome.succeeded:
                break
        return outcome

    async def _settle(self, run: _Run, task: Task, outcome: ActionOutcome) -> str | None:
        """Record a finished task; return its name if its failure counts against the stage."""
        task.outputs = {**task.outputs, **outcome.outputs}
        status = TaskStatus.SUCCEEDED if outcome.succeeded else TaskStatus.FAILED
        await self._record(run, task.move(run.pipeline.id, status, self._clock.now(), outcome.message))
        return None if outcome.succeeded or task.skip_on_failure else task.name

    async def _cancel_active(self, run: _Run, active: dict[asyncio.Task[ActionOutcome], Task], reason: str) -> None:
        for future in active:
            future.cancel()
        for future, task in list(active.items()):
            try:
                outcome = await future
            except asyncio.CancelledError:
                await self._record(run, task.move(run.pipeline.id, TaskStatus.CANCELED, self._clock.now(), reason))
            else:
                await self._settle(run, task, outcome)
        active.clear()

    async def _close_stage(self, run: _Run, stage: Stage, waiting: list[Task], halt: str | None) -> None:
        now = self._clock.now()
        canceled = run.cancel_requested.is_set()
        leftover = TaskStatus.CANCELED if canceled else TaskStatus.SKIPPED
        events = [task.move(run.pipeline.id, leftover, now, halt or "not started") for task in waiting]
        failed = [task for task in stage.tasks if task.status is TaskStatus.FAILED and not task.skip_on_failure]
        if canceled:
            events.append(stage.move(run.pipeline.id, StageStatus.CANCELED, now, halt or "canceled"))
        elif failed:
            message = f"task {failed[0].name!r} failed: {failed[0].message}"
            events.append(stage.move(run.pipeline.id, StageStatus.FAILED, now, message))
        else:
            events.append(stage.move(run.pipeline.id, StageStatus.SUCCEEDED, now))
        await self._record(run, *events)


async def _attempt(coroutine: Coroutine[Any, Any, ActionOutcome], timeout: float) -> ActionOutcome:
    try:
        async with asyncio.timeout(timeout):
            return await coroutine
    except TimeoutError:
        return ActionOutcome.failed(f"timed out after {timeout:g}s", timed_out=True)
    except Exception as error:  # an action's bug fails its task, not the engine
        return ActionOutcome.failed(f"action raised {type(error).__name__}: {error}", error=repr(error))


def _halted(pipeline: Pipeline) -> bool:
    return any(stage.status in (StageStatus.FAILED, StageStatus.CANCELED) for stage in pipeline.stages)


def _blocker(pipeline: Pipeline, task: Task) -> Task | None:
    for dependency_id in task.dependencies:
        dependency = pipeline.task(dependency_id)
        if dependency is not None and dependency.status.is_complete and dependency.status is not TaskStatus.SUCCEEDED:
            return dependency
    return None


def _ready(pipeline: Pipeline, task: Task) -> bool:
    return all(
        (dependency := pipeline.task(dependency_id)) is not None and dependency.status is TaskStatus.SUCCEEDED
        for dependency_id in task.dependencies
    )
